//! Using a pool of workers: `map`, `apply_async`, a `get` with a timeout, `imap_unordered`.
//! `cargo run --example pool`

// The narration's language: Portuguese or English, as the environment asks (what the deck
// prints stays as the deck has it).
rust_i18n::i18n!("examples/locales", fallback = "en");
#[path = "common/say.rs"]
mod say;
use rust_i18n::t;

use std::time::Duration;

use multiproc::pool::{Pool, PoolError};

fn square(x: u64) -> u64 {
    x * x
}

fn slow_square(x: u64) -> u64 {
    std::thread::sleep(Duration::from_secs(10));
    x * x
}

/// The square, and which worker process computed it.
fn square_with_pid(x: u64) -> (u64, u32) {
    std::thread::sleep(Duration::from_millis(5));
    (x * x, std::process::id())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    say::choose_language();
    multiproc::init!(slow_square, square, square_with_pid);
    let pool = Pool::new(4)?;
    println!("{:?}", pool.map(square, 0..10u64)?);

    let r = pool.apply_async(square, 20);
    println!(
        "apply_async(square, 20) = {}",
        r.get(Some(Duration::from_secs(10)))?
    );

    let slow = pool.apply_async(slow_square, 3);
    match slow.get(Some(Duration::from_millis(500))) {
        Err(PoolError::Timeout) => {
            println!("{}", t!("slow_task"))
        }
        other => println!("{}", t!("unexpected", what = format!("{other:?}"))),
    }

    let mut pids: Vec<u32> = pool
        .imap_unordered(square_with_pid, 0..40u64, 1)?
        .filter_map(|(_, r)| r.ok().map(|(_, pid)| pid))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    println!(
        "{}",
        t!("imap", count = pids.len(), pids = format!("{pids:?}"))
    );
    pool.close();
    pool.join()?;
    Ok(())
}

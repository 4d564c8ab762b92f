//! Threads versus processes: shared memory versus message passing.
//!
//! A thread adds 1 to a counter and a child process adds 100 to it. The thread's change is seen
//! by the main program, since threads share their process's memory; the child's is not, since
//! it changed its own copy. Different amounts, so the output shows which change landed where.
//! To get a value back from a process, send it.
//! `cargo run --example threads_vs_processes`

// The narration's language: Portuguese or English, as the environment asks (what the deck
// prints stays as the deck has it).
rust_i18n::i18n!("examples/locales", fallback = "en");
#[path = "common/say.rs"]
mod say;
use rust_i18n::t;

use std::sync::atomic::{AtomicU64, Ordering};

use multiproc::{Connection, Process, pipe};

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn child(mut conn: Connection) -> Result<(), multiproc::Error> {
    let before = COUNTER.load(Ordering::SeqCst);
    COUNTER.fetch_add(100, Ordering::SeqCst);
    let mine = COUNTER.load(Ordering::SeqCst);
    println!(
        "{}",
        t!(
            "child_counter",
            pid = std::process::id(),
            before = before,
            after = mine
        )
    );
    println!("{}", t!("child_copy"));
    conn.send(&mine)
}

fn main() -> Result<(), multiproc::Error> {
    say::choose_language();
    multiproc::init!(child);
    println!("{}", t!("at_start", value = COUNTER.load(Ordering::SeqCst)));

    std::thread::spawn(|| COUNTER.fetch_add(1, Ordering::SeqCst))
        .join()
        .expect("thread");
    println!(
        "{}",
        t!("after_thread", value = COUNTER.load(Ordering::SeqCst))
    );
    println!("{}", t!("threads_share"));

    let (mut here, there) = pipe()?;
    let mut p = Process::new(child, there);
    p.start()?;
    let childs: u64 = here.recv()?;
    p.join()?;
    println!(
        "{}",
        t!("after_process", value = COUNTER.load(Ordering::SeqCst))
    );
    println!("{}", t!("processes_apart", childs = childs));
    println!("{}", t!("only_sent"));
    Ok(())
}

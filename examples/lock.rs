//! Synchronisation between processes: a `Lock` shared by processes.
//!
//! Four processes each add 1 to one shared counter 10 000 times. Reading the counter and
//! writing it back are two steps; without a lock, two processes read the same value, both
//! write value + 1, and one addition is lost. With the lock held around both steps, nothing
//! is lost: 40 000.
//! `cargo run --release --example lock [PROCS] [TIMES]`

// The narration's language: Portuguese or English, as the environment asks (what the deck
// prints stays as the deck has it).
rust_i18n::i18n!("examples/locales", fallback = "en");
#[path = "common/say.rs"]
mod say;
use rust_i18n::t;

use multiproc::sync::{Event, Lock};
use multiproc::{Process, Value};

/// Adds 1 to `counter` `times` times, holding `lock` around each read-and-write when given,
/// once `go` is set.
fn add(
    (counter, lock, times, go): (Value<u64>, Option<Lock>, u64, Event),
) -> multiproc::Result<()> {
    // All start together: a process started first would otherwise be done before the last
    // one starts, and no update could be lost for want of anyone to race with.
    go.wait()?;
    for _ in 0..times {
        let held = lock.as_ref().map(Lock::acquire).transpose()?;
        let value = counter.get()?; // read ...
        std::hint::spin_loop(); // (a moment in which another process may read the same)
        counter.set(value + 1)?; // ... then write: two steps, not one
        drop(held);
    }
    Ok(())
}

/// Runs `procs` processes adding `times` each to a fresh counter, with or without a lock.
fn count(procs: u64, times: u64, lock: Option<&Lock>) -> multiproc::Result<u64> {
    // A counter without a lock of its own: each get and set is safe, the pair is not.
    let counter = Value::new_raw(0u64)?;
    let go = Event::new()?;
    let mut workers = Vec::new();
    for _ in 0..procs {
        let lock = lock.map(Lock::try_clone).transpose()?;
        let mut p = Process::new(add, (counter.try_clone()?, lock, times, go.try_clone()?));
        p.start()?;
        workers.push(p);
    }
    go.set();
    for p in &mut workers {
        p.join()?;
    }
    counter.get()
}

fn main() -> multiproc::Result<()> {
    say::choose_language();
    multiproc::init!(add);
    let mut args = std::env::args().skip(1);
    let mut number = |default: u64| {
        args.next().map_or(default, |a| {
            multiproc_pi::input::parse_count(&a).unwrap_or_else(|e| {
                eprintln!("lock: {e}");
                std::process::exit(2)
            })
        })
    };
    let (procs, times) = (number(4), number(10_000));
    println!("{}", t!("lock_intro", procs = procs, times = times));
    // Updates get lost here; how many depends on the moment, so it is shown, not promised.
    let total = procs * times;
    let without = count(procs, times, None)?;
    println!("without lock: {without}");
    if without < total {
        println!("{}", t!("lost", lost = total - without));
    }
    let lock = Lock::new()?;
    println!("with lock: {}", count(procs, times, Some(&lock))?);
    Ok(())
}

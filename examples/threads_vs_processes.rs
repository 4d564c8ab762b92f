//! Threads versus processes: shared memory versus message passing.
//!
//! A thread adds 1 to a counter and a child process adds 100 to it. The thread's change is seen
//! by the main program, since threads share their process's memory; the child's is not, since
//! it changed its own copy. Different amounts, so the output shows which change landed where.
//! To get a value back from a process, send it.
//! `cargo run --example threads_vs_processes`

use std::sync::atomic::{AtomicU64, Ordering};

use multiproc::{Connection, Process, pipe};

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn child(mut conn: Connection) -> Result<(), multiproc::Error> {
    let before = COUNTER.load(Ordering::SeqCst);
    COUNTER.fetch_add(100, Ordering::SeqCst);
    let mine = COUNTER.load(Ordering::SeqCst);
    println!(
        "in the child process (pid {}): counter {before} -> {mine}",
        std::process::id()
    );
    println!("  (its own copy, fresh from the program: the parent's 1 is not here)");
    conn.send(&mine)
}

fn main() -> Result<(), multiproc::Error> {
    multiproc::init();
    println!("at the start: counter = {}", COUNTER.load(Ordering::SeqCst));

    std::thread::spawn(|| COUNTER.fetch_add(1, Ordering::SeqCst))
        .join()
        .expect("thread");
    println!(
        "after a thread added 1: counter = {}",
        COUNTER.load(Ordering::SeqCst)
    );
    println!("  (threads share memory: the main program sees the thread's change)");

    let (mut here, there) = pipe()?;
    let mut p = Process::new(child, there);
    p.start()?;
    let childs: u64 = here.recv()?;
    p.join()?;
    println!(
        "after a process added 100: counter = {}",
        COUNTER.load(Ordering::SeqCst)
    );
    println!("  (processes do not share memory: still 1 here; the child's {childs} came back");
    println!("   only because it was sent)");
    Ok(())
}

//! Threads versus processes: shared memory versus message passing.
//!
//! The same change, made once by a thread and once by a child process: the thread's is seen by
//! the main program, since threads share their process's memory; the child's is not, since it
//! changed its own copy. To get a value back from a process, send it.
//! `cargo run --example threads_vs_processes`

use std::sync::atomic::{AtomicU64, Ordering};

use multiproc::{Connection, Process, pipe};

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn add_42() {
    COUNTER.fetch_add(42, Ordering::SeqCst);
}

fn child(mut conn: Connection) -> Result<(), multiproc::Error> {
    let before = COUNTER.load(Ordering::SeqCst);
    add_42();
    let mine = COUNTER.load(Ordering::SeqCst);
    println!(
        "in the child process (pid {}): counter went from {before} to {mine} (its own copy, \
         fresh from the program: the parent's 42 is not here)",
        std::process::id()
    );
    conn.send(&mine)
}

fn main() -> Result<(), multiproc::Error> {
    multiproc::init();
    println!("at the start: counter = {}", COUNTER.load(Ordering::SeqCst));

    std::thread::spawn(add_42).join().expect("thread");
    println!(
        "after a thread added 42: counter = {} (threads share memory: the change is visible)",
        COUNTER.load(Ordering::SeqCst)
    );

    let (mut here, there) = pipe()?;
    let mut p = Process::new(child, there);
    p.start()?;
    let childs: u64 = here.recv()?;
    p.join()?;
    println!(
        "after a process added 42: counter = {} (processes do not share memory: unchanged here; \
         the child's value, {childs}, came back only because it was sent)",
        COUNTER.load(Ordering::SeqCst)
    );
    Ok(())
}

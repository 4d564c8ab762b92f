//! EXEMPLO 1 — processes do not share memory.
//!
//! Each of three children empties its own copy of ITEMS; the parent's copy is untouched. A
//! child gets a copy of the parent's list (arguments travel to it as bytes), never the list
//! itself: it lives in another address space.
//! `cargo run --example isolation`

use std::sync::Mutex;

use multiproc::Process;

/// A program-wide list, like the deck's module-level `ITEMS = [1, 2, 3, 4, 5, 6]`.
static ITEMS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn fill() {
    *ITEMS.lock().unwrap() = (1..=6).collect();
}

fn worker(items: Vec<u32>) {
    *ITEMS.lock().unwrap() = items; // this process's own ITEMS, a copy of the parent's
    let mut processed = 0;
    while ITEMS.lock().unwrap().pop().is_some() {
        processed += 1;
    }
    // As the deck does: this process's name (Process-1, Process-2, ... by default, as in
    // Python) and what it did.
    let me = multiproc::current_process();
    println!("{} (pid {}) processed {processed} items", me.name, me.pid);
}

fn main() -> Result<(), multiproc::Error> {
    multiproc::init!(worker);
    fill();
    let copy = ITEMS.lock().unwrap().clone();
    let mut workers: Vec<Process> = (0..3).map(|_| Process::new(worker, copy.clone())).collect();
    for w in &mut workers {
        w.start()?;
    }
    for w in &mut workers {
        w.join()?;
    }
    println!(
        "ITEMS after all workers finished : {:?}",
        ITEMS.lock().unwrap()
    );
    Ok(())
}

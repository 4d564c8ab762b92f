//! EXEMPLO 2 — a Queue shared by three consumers.
//!
//! The parent puts 1..6 and one `end` per consumer; each consumer takes items until it takes an
//! `end`. Who takes how many is not fair and changes from run to run (the first to start may
//! take five and leave another none), but together they take all six.
//! `cargo run --example queue`

use std::time::{Duration, SystemTime};

use multiproc::{Process, Queue};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug)]
enum Item {
    Number(u32),
    End,
}

/// Microseconds of "work" for item `n` in this process, this run: 0 to 3000.
fn work_for(n: u32) -> u64 {
    let clock = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let mut x = clock ^ (u64::from(std::process::id()) << 20) ^ u64::from(n);
    // A few rounds of xorshift: enough to scatter close clocks.
    for _ in 0..3 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x % 3001
}

fn consumer(queue: Queue<Item>) -> Result<(), multiproc::Error> {
    let mut processed = 0;
    // Nobody takes turns: whoever is free takes the next item. Each item takes this consumer
    // a moment of work that differs from item to item and from run to run (0 to 3 ms), as real
    // work does, so the split changes every time.
    while let Item::Number(n) = queue.get()? {
        processed += 1;
        std::thread::sleep(Duration::from_micros(work_for(n)));
    }
    let me = multiproc::current_process();
    println!("{} (pid {}) processed {processed} items", me.name, me.pid);
    Ok(())
}

fn main() -> Result<(), multiproc::Error> {
    multiproc::init!(consumer);
    let queue: Queue<Item> = Queue::new()?;
    // Everything is on the queue before the first consumer starts, as in the deck: the one
    // that starts first may well take most of it before the others are even running.
    for n in 1..=6 {
        queue.put(&Item::Number(n))?;
    }
    for _ in 0..3 {
        queue.put(&Item::End)?;
    }
    let mut consumers = Vec::new();
    for _ in 0..3 {
        let mut c = Process::new(consumer, queue.try_clone()?);
        c.start()?;
        consumers.push(c);
    }
    for c in &mut consumers {
        c.join()?;
    }
    println!("#ITEMS after all workers finished : {}", queue.qsize());
    Ok(())
}

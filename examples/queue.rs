//! EXEMPLO 2 — a Queue shared by three consumers.
//!
//! The parent puts 1..6 and one `end` per consumer; each consumer takes items until it takes an
//! `end`. Who takes how many changes from run to run, but together they take all six.
//! `cargo run --example queue`

use std::time::Duration;

use multiproc::{Process, Queue};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug)]
enum Item {
    Number(u32),
    End,
}

fn consumer((name, queue): (String, Queue<Item>)) -> Result<(), multiproc::Error> {
    let mut processed = 0;
    while let Item::Number(_) = queue.get()? {
        processed += 1;
        // A little work per item, so the others get their turn.
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "{name} (pid {}) processed {processed} items",
        std::process::id()
    );
    Ok(())
}

fn main() -> Result<(), multiproc::Error> {
    multiproc::init();
    let queue: Queue<Item> = Queue::new()?;
    let mut consumers = Vec::new();
    for i in 1..=3 {
        let mut c = Process::new(consumer, (format!("consumer {i}"), queue.try_clone()?));
        c.start()?;
        consumers.push(c);
    }
    for n in 1..=6 {
        queue.put(&Item::Number(n))?;
    }
    for _ in 0..3 {
        queue.put(&Item::End)?;
    }
    for c in &mut consumers {
        c.join()?;
    }
    println!("#ITEMS after all workers finished : {}", queue.qsize());
    Ok(())
}

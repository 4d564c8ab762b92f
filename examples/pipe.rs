//! EXEMPLO 3 — a master and a worker joined by one duplex Pipe.
//!
//! First the worker prints every word the master sends until `end` (`recv` blocks while
//! nothing has arrived); then it answers, and the master prints the one reply it reads.
//! `cargo run --example pipe`

// The narration's language: Portuguese or English, as the environment asks (what the deck
// prints stays as the deck has it).
rust_i18n::i18n!("examples/locales", fallback = "en");
#[path = "common/say.rs"]
mod say;
use rust_i18n::t;

use multiproc::{Connection, Process, pipe};

fn listener(mut conn: Connection) -> Result<(), multiproc::Error> {
    loop {
        let word: String = conn.recv()?;
        if word == "end" {
            break;
        }
        println!("{}", t!("worker_got", text = word));
    }
    // Second part: read one more message and answer it.
    let question: String = conn.recv()?;
    println!("{}", t!("worker_got", text = question));
    conn.send("thanks")
}

fn main() -> Result<(), multiproc::Error> {
    say::choose_language();
    multiproc::init!(listener);
    let (mut master_end, worker_end) = pipe()?;
    let mut worker = Process::new(listener, worker_end);
    worker.start()?;
    for word in ["Is", "this", "on?", "end"] {
        master_end.send(word)?;
    }
    master_end.send("can you hear me?")?;
    let reply: String = master_end.recv()?;
    println!("{}", t!("master_got", text = reply));
    worker.join()?;
    Ok(())
}

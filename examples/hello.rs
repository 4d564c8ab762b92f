//! EXEMPLO ZERO: HELLO WORLD — `Process(target, args)`, `start()`, `join()`.
//!
//! The child runs `greet` in a process of its own; the parent keeps running, then waits.
//! `cargo run --example hello`

use multiproc::Process;

fn greet(name: String) {
    println!("hello {name} filho (pid {})", std::process::id());
}

fn main() -> Result<(), multiproc::Error> {
    multiproc::init!(greet); // the child becomes a worker here: keep it first in main
    let mut child = Process::new(greet, "bob".to_string());
    child.start()?;
    println!("hello bob pai (pid {})", std::process::id());
    child.join()?;
    Ok(())
}

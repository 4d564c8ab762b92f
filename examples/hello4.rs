//! EXEMPLO 0: 4X HELLO WORLD — several children, ids, `cpu_count()`.
//!
//! `cargo run --example hello4` (the children print in whatever order they run)

// The narration's language: Portuguese or English, as the environment asks (what the deck
// prints stays as the deck has it).
rust_i18n::i18n!("examples/locales", fallback = "en");
#[path = "common/say.rs"]
mod say;
use rust_i18n::t;

use multiproc::{Process, cpu_count};

fn greet(id: usize) {
    println!("hello bob filho {id} (pid {})", std::process::id());
}

fn main() -> Result<(), multiproc::Error> {
    say::choose_language();
    multiproc::init!(greet);
    println!("{}", t!("cpus", cpus = cpu_count()));
    let mut children: Vec<Process> = (0..4).map(|id| Process::new(greet, id)).collect();
    for child in &mut children {
        child.start()?;
    }
    println!("hello bob pai (pid {})", std::process::id());
    for child in &mut children {
        child.join()?;
    }
    Ok(())
}

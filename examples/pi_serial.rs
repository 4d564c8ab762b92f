//! PI SEQUENCIAL — the midpoint rule for ∫₀¹ 4/(1+x²) dx in one process, written as plainly as
//! the deck's loop. `cargo run --release --example pi_serial [STEPS]` (default 100000000)

// The narration's language: Portuguese or English, as the environment asks (what the deck
// prints stays as the deck has it).
rust_i18n::i18n!("examples/locales", fallback = "en");
#[path = "common/say.rs"]
mod say;
use rust_i18n::t;

use std::time::Instant;

fn main() {
    say::choose_language();
    let steps: u64 = match std::env::args().nth(1) {
        None => 100_000_000,
        Some(text) => multiproc_pi::input::parse_steps(&text).unwrap_or_else(|e| {
            eprintln!("pi_serial: {e}");
            std::process::exit(2)
        }),
    };
    let step = 1.0 / steps as f64;
    let tic = Instant::now();
    let mut sum = 0.0;
    for i in 0..steps {
        let x = (i as f64 + 0.5) * step;
        sum += 4.0 / (1.0 + x * x);
    }
    let pi = step * sum;
    let seconds = tic.elapsed().as_secs_f64();
    println!("pi = {pi:.15}");
    println!("{} = {:+.3e}", t!("error"), pi - std::f64::consts::PI);
    println!("{} = {seconds:.3} s", t!("elapsed"));
    // Why the last digits differ from the parallel programs', said before a student asks.
    println!("{}", t!("serial_rounding", steps = steps));
    println!("{}", t!("serial_exact"));
}

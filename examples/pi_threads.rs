//! Pi with the same kernel on N threads of one process: the hardware limit `pi-master` is
//! measured against (no processes, no pipes), and the thread half of the threads-versus-
//! processes lesson.
//!
//! `cargo run --release --example pi_threads -- [STEPS] [THREADS]` (default 1e8 steps, 2
//! threads) prints pi, its error and the time, like the other pi programs.

// The narration's language: Portuguese or English, as the environment asks (what the deck
// prints stays as the deck has it).
rust_i18n::i18n!("examples/locales", fallback = "en");
#[path = "common/say.rs"]
mod say;
use rust_i18n::t;

use std::time::Instant;

use multiproc_pi::input::{parse_procs, parse_steps};
use multiproc_pi::partition::partition;
use multiproc_pi::reduction::FixedSum;
use multiproc_pi::{finish, range_sum};

fn main() {
    say::choose_language();
    let mut args = std::env::args().skip(1);
    let parse = |arg: Option<String>,
                 default: &str,
                 f: fn(&str) -> Result<u64, multiproc_pi::input::InputError>| {
        f(arg.as_deref().unwrap_or(default)).unwrap_or_else(|e| {
            eprintln!("pi_threads: {e}");
            std::process::exit(2)
        })
    };
    let steps = parse(args.next(), "1e8", parse_steps);
    let threads = parse(args.next(), "2", |s| parse_procs(s).map(|n| n as u64)) as usize;
    let clock = Instant::now();
    let total = std::thread::scope(|scope| {
        let handles: Vec<_> = partition(steps, threads)
            .into_iter()
            .map(|range| scope.spawn(move || range_sum(steps, &range)))
            .collect();
        let mut total = FixedSum::ZERO;
        for h in handles {
            total.merge(h.join().expect("worker thread"));
        }
        total
    });
    let pi = finish(steps, total);
    let seconds = clock.elapsed().as_secs_f64();
    println!(
        "{}",
        t!("threads", threads = threads, pid = std::process::id())
    );
    println!("pi = {pi:.15}");
    println!("{} = {:+.3e}", t!("error"), pi - std::f64::consts::PI);
    println!("{} = {seconds:.3} s", t!("elapsed"));
}

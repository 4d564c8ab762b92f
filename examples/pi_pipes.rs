//! Pi + PIPES (the exercise) — one pipe per worker: the parent sends each worker its range,
//! the worker sends its partial sum back on the same pipe.
//! `cargo run --release --example pi_pipes [STEPS] [PROCS]`

// The narration's language: Portuguese or English, as the environment asks (what the deck
// prints stays as the deck has it).
rust_i18n::i18n!("examples/locales", fallback = "en");
#[path = "common/say.rs"]
mod say;
use rust_i18n::t;

use multiproc::{Connection, Process, pipe};
use multiproc_pi::reduction::FixedSum;

fn worker(mut conn: Connection) -> Result<(), multiproc::Error> {
    let (start, end, steps): (u64, u64, u64) = conn.recv()?;
    let step = 1.0 / steps as f64;
    // Summed exactly, so the result does not depend on how the range was split.
    let mut sum = FixedSum::ZERO;
    for i in start..end {
        let x = (i as f64 + 0.5) * step;
        sum.add_f64(4.0 / (1.0 + x * x));
    }
    conn.send(&sum)
}

fn main() -> Result<(), multiproc::Error> {
    say::choose_language();
    multiproc::init!(worker);
    let mut args = std::env::args().skip(1);
    let parse = |t: Option<String>,
                 default: u64,
                 f: fn(&str) -> Result<u64, multiproc_pi::input::InputError>| {
        t.map_or(Ok(default), |t| f(&t)).unwrap_or_else(|e| {
            eprintln!("pi_pipes: {e}");
            std::process::exit(2)
        })
    };
    let steps = parse(args.next(), 100_000_000, multiproc_pi::input::parse_steps);
    let procs = parse(args.next(), 4, |t| {
        multiproc_pi::input::parse_procs(t).map(|n| n as u64)
    });
    let tic = std::time::Instant::now();
    let mut workers = Vec::new();
    let (base, extra) = (steps / procs, steps % procs);
    let mut start = 0;
    for p in 0..procs {
        let end = start + base + u64::from(p < extra);
        let (mut here, there) = pipe()?;
        let mut w = Process::new(worker, there);
        w.start()?;
        here.send(&(start, end, steps))?;
        workers.push((w, here));
        start = end;
    }
    let mut total = FixedSum::ZERO;
    for (w, here) in &mut workers {
        total.merge(here.recv::<FixedSum>()?);
        w.join()?;
    }
    let pi = total.divided_by(steps);
    println!("pi = {pi:.15}");
    println!("{} = {:+.3e}", t!("error"), pi - std::f64::consts::PI);
    // Processes started, computed and joined: compare with pi_serial's for the speedup.
    println!("{} = {:.3} s", t!("elapsed"), tic.elapsed().as_secs_f64());
    Ok(())
}

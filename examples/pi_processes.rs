//! PI PARALELO (the exercise) — split the index range over N processes and add their partial
//! sums in the parent.
//!
//! The deck's split, `range(i*size, (i+1)*size - 1)`, drops the last index of every chunk and
//! forgets the remainder; this one gives every index to exactly one process. Each child gets
//! its range as an argument and sends its partial sum back over a one-way pipe.
//! `cargo run --release --example pi_processes [STEPS] [PROCS]`

// The narration's language: Portuguese or English, as the environment asks (what the deck
// prints stays as the deck has it).
rust_i18n::i18n!("examples/locales", fallback = "en");
#[path = "common/say.rs"]
mod say;
use rust_i18n::t;

use multiproc::{Connection, Process, pipe_oneway};
use multiproc_pi::reduction::FixedSum;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Work {
    start: u64,
    end: u64,
    steps: u64,
    results: Connection,
}

fn partial_sum(mut work: Work) -> Result<(), multiproc::Error> {
    let step = 1.0 / work.steps as f64;
    // Summed exactly, so the result does not depend on how the range was split.
    let mut sum = FixedSum::ZERO;
    for i in work.start..work.end {
        let x = (i as f64 + 0.5) * step;
        sum.add_f64(4.0 / (1.0 + x * x));
    }
    work.results.send(&sum)
}

fn main() -> Result<(), multiproc::Error> {
    say::choose_language();
    multiproc::init!(partial_sum);
    let mut args = std::env::args().skip(1);
    let steps: u64 = args
        .next()
        .map_or(Ok(100_000_000), |t| multiproc_pi::input::parse_steps(&t))
        .unwrap_or_else(|e| {
            eprintln!("pi_processes: {e}");
            std::process::exit(2)
        });
    let procs: u64 = args
        .next()
        .map_or(Ok(4), |t| {
            multiproc_pi::input::parse_procs(&t).map(|n| n as u64)
        })
        .unwrap_or_else(|e| {
            eprintln!("pi_processes: {e}");
            std::process::exit(2)
        });
    let tic = std::time::Instant::now();
    // Every index exactly once: the first `steps % procs` chunks get one index more.
    let (base, extra) = (steps / procs, steps % procs);
    let mut start = 0;
    let mut children = Vec::new();
    for p in 0..procs {
        let end = start + base + u64::from(p < extra);
        let (receiver, sender) = pipe_oneway()?;
        let mut child = Process::new(
            partial_sum,
            Work {
                start,
                end,
                steps,
                results: sender,
            },
        );
        child.start()?;
        println!(
            "{}",
            t!(
                "computes",
                p = p,
                pid = child.pid().unwrap_or(0),
                start = start,
                end = end,
                count = end - start
            )
        );
        children.push((child, receiver));
        start = end;
    }
    println!("{}", t!("handed_out", done = start, steps = steps));
    let mut total = FixedSum::ZERO;
    for (child, receiver) in &mut children {
        total.merge(receiver.recv::<FixedSum>()?);
        child.join()?;
    }
    let pi = total.divided_by(steps);
    println!("pi = {pi:.15}");
    println!("{} = {:+.3e}", t!("error"), pi - std::f64::consts::PI);
    // Processes started, computed and joined: compare with pi_serial's for the speedup.
    println!("{} = {:.3} s", t!("elapsed"), tic.elapsed().as_secs_f64());
    Ok(())
}

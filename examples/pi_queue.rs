//! Pi + QUEUE (the exercise) — the parent hands out ranges on a task queue and collects the
//! partial sums from a result queue; a worker takes the next range as soon as it is free.
//! `cargo run --release --example pi_queue [STEPS] [PROCS]`

// The narration's language: Portuguese or English, as the environment asks (what the deck
// prints stays as the deck has it).
rust_i18n::i18n!("examples/locales", fallback = "en");
#[path = "common/say.rs"]
mod say;
use rust_i18n::t;

use multiproc::{Process, Queue};
use multiproc_pi::reduction::FixedSum;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Queues {
    tasks: Queue<Option<(u64, u64)>>,
    /// Each range's partial sum, with who computed it: (pid, start, end, sum).
    results: Queue<(u32, u64, u64, FixedSum)>,
    steps: u64,
}

fn worker(q: Queues) -> Result<(), multiproc::Error> {
    let step = 1.0 / q.steps as f64;
    while let Some((start, end)) = q.tasks.get()? {
        // Summed exactly, so the result does not depend on how the range was split.
        let mut sum = FixedSum::ZERO;
        for i in start..end {
            let x = (i as f64 + 0.5) * step;
            sum.add_f64(4.0 / (1.0 + x * x));
        }
        q.results.put(&(std::process::id(), start, end, sum))?;
    }
    Ok(())
}

fn main() -> Result<(), multiproc::Error> {
    say::choose_language();
    multiproc::init!(worker);
    let mut args = std::env::args().skip(1);
    let parse = |t: Option<String>,
                 default: u64,
                 f: fn(&str) -> Result<u64, multiproc_pi::input::InputError>| {
        t.map_or(Ok(default), |t| f(&t)).unwrap_or_else(|e| {
            eprintln!("pi_queue: {e}");
            std::process::exit(2)
        })
    };
    let steps = parse(args.next(), 100_000_000, multiproc_pi::input::parse_steps);
    let procs = parse(args.next(), 4, |t| {
        multiproc_pi::input::parse_procs(t).map(|n| n as u64)
    });
    let tic = std::time::Instant::now();
    let tasks = Queue::new()?;
    let results = Queue::new()?;
    let mut workers = Vec::new();
    for _ in 0..procs {
        let q = Queues {
            tasks: tasks.try_clone()?,
            results: results.try_clone()?,
            steps,
        };
        let mut w = Process::new(worker, q);
        w.start()?;
        workers.push(w);
    }
    // Four ranges per worker, every index exactly once.
    let chunks = (4 * procs).min(steps);
    let (base, extra) = (steps / chunks, steps % chunks);
    let mut start = 0;
    for c in 0..chunks {
        let end = start + base + u64::from(c < extra);
        tasks.put(&Some((start, end)))?;
        start = end;
    }
    for _ in 0..procs {
        tasks.put(&None)?;
    }
    let mut total = FixedSum::ZERO;
    // Who took which ranges: a worker takes the next one as soon as it is free, so the
    // faster (or luckier) ones take more.
    let mut taken: std::collections::BTreeMap<u32, Vec<(u64, u64)>> = Default::default();
    for _ in 0..chunks {
        let (pid, start, end, sum) = results.get()?;
        total.merge(sum);
        taken.entry(pid).or_default().push((start, end));
    }
    for w in &mut workers {
        w.join()?;
    }
    let pi = total.divided_by(steps);
    println!("{}", t!("ranges_over", chunks = chunks, procs = procs));
    for w in &workers {
        let pid = w.pid().unwrap_or(0);
        let mine = taken.get(&pid).map_or(&[][..], Vec::as_slice);
        let first = mine
            .iter()
            .map(|(s, e)| format!("[{s}, {e})"))
            .take(2)
            .collect::<Vec<_>>();
        let more = if mine.len() > 2 { ", ..." } else { "" };
        println!(
            "{}",
            t!(
                "took",
                pid = pid,
                count = mine.len(),
                chunks = chunks,
                ranges = format!("{}{more}", first.join(" "))
            )
        );
    }
    println!("pi = {pi:.15}");
    println!("{} = {:+.3e}", t!("error"), pi - std::f64::consts::PI);
    // Processes started, computed and joined: compare with pi_serial's for the speedup.
    println!("{} = {:.3} s", t!("elapsed"), tic.elapsed().as_secs_f64());
    Ok(())
}

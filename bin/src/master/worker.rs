//! What runs in a worker process: it is given its index, the steps and the progress setting
//! once, with its arguments, then computes the ranges it is sent (pipe mode) or takes (queue
//! mode) and reports on them.

use std::ops::Range;
use std::time::{Duration, Instant};

use multiproc::{Connection, Queue};
use multiproc_pi::partition;
use multiproc_pi::reduction::FixedSum;
use serde::{Deserialize, Serialize};

/// How often a worker reports progress, when asked to.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// Indices summed between two looks at the clock: about a millisecond of work.
const SLICE: u64 = 1 << 20;

/// A range to compute, or `None`: no more work.
pub(super) type Task = Option<Range<u64>>;

/// How a worker talks to its master.
#[derive(Serialize, Deserialize)]
pub(super) enum Channel {
    /// Its own duplex pipe: tasks in, reports out.
    Pipe(Connection),
    /// The task queue and the result queue every worker shares.
    Queue {
        /// Where it takes tasks.
        tasks: Queue<Task>,
        /// Where it puts reports.
        results: Queue<Report>,
    },
}

/// Everything a worker is started with.
#[derive(Serialize, Deserialize)]
pub(super) struct WorkerArgs {
    pub(super) index: usize,
    pub(super) steps: u64,
    pub(super) progress: bool,
    pub(super) channel: Channel,
}

/// Worker → master.
#[derive(Serialize, Deserialize, Debug)]
pub(super) enum Report {
    /// Worker `index` took `range` from the task queue (queue mode).
    Took { index: usize, range: Range<u64> },
    /// Worker `index` has computed `done` indices of its current range.
    Progress { index: usize, done: u64 },
    /// The sum of a whole range.
    Partial {
        index: usize,
        range: Range<u64>,
        partial: Partial,
    },
}

/// What a worker sends back for one range.
#[derive(Serialize, Deserialize, Debug, Clone, Copy)]
pub(super) struct Partial {
    pub(super) sum: FixedSum,
    pub(super) compute_seconds: f64,
    pub(super) peak_rss_kib: u64,
}

/// The worker's target: computes tasks until told there are no more.
pub(super) fn worker_main(args: WorkerArgs) -> Result<(), String> {
    let WorkerArgs {
        index,
        steps,
        progress,
        channel,
    } = args;
    let text = |e: multiproc::Error| e.to_string();
    match channel {
        Channel::Pipe(mut conn) => loop {
            let range = match conn.recv::<Task>() {
                Ok(Some(range)) => range,
                Ok(None) => return Ok(()),
                Err(e) if e.is_closed() => return Ok(()),
                Err(e) => return Err(text(e)),
            };
            compute(index, steps, range, progress, &mut |r| conn.send(&r))?;
        },
        Channel::Queue { tasks, results } => {
            while let Some(range) = tasks.get().map_err(text)? {
                let took = Report::Took {
                    index,
                    range: range.clone(),
                };
                results.put(&took).map_err(text)?;
                compute(index, steps, range, progress, &mut |r| results.put(&r))?;
            }
            Ok(())
        }
    }
}

/// Sums `range` and reports it (with progress about every [`PROGRESS_EVERY`] when asked).
fn compute(
    index: usize,
    steps: u64,
    range: Range<u64>,
    progress: bool,
    report: &mut dyn FnMut(Report) -> multiproc::Result<()>,
) -> Result<(), String> {
    let aligned = range.start.is_multiple_of(partition::block_len(steps));
    if !(1..=partition::MAX_STEPS).contains(&steps) || range.end > steps || !aligned {
        return Err(format!(
            "was sent an invalid range [{}, {}) of {steps} steps",
            range.start, range.end
        ));
    }
    let clock = Instant::now();
    let mut last = clock;
    let sum = multiproc_pi::range_sum_in_slices(steps, &range, SLICE, |done| {
        if progress && last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            return report(Report::Progress { index, done });
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    let partial = Partial {
        sum,
        compute_seconds: clock.elapsed().as_secs_f64(),
        peak_rss_kib: peak_rss_kib(),
    };
    report(Report::Partial {
        index,
        range,
        partial,
    })
    .map_err(|e| e.to_string())
}

/// This process's peak resident set size in KiB.
fn peak_rss_kib() -> u64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map_or(0, |u| u.max_rss().max(0) as u64)
}

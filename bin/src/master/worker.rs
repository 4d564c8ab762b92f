//! What runs in a worker process: it is given its index, the steps and the progress setting
//! once, with its arguments, then computes the ranges it is sent (pipe mode) or takes (queue
//! mode) and reports on them.

use std::ops::Range;
use std::time::{Duration, Instant};

use multiproc::sync::Semaphore;
use multiproc::{Array, Connection, Queue, ShmConnection};
use multiproc_pi::partition;
use multiproc_pi::reduction::FixedSum;
use serde::{Deserialize, Serialize};

use super::fault::{self, Moment};

/// How often a worker reports progress, when asked to.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// Indices summed between two looks at the clock: about a millisecond of work.
const SLICE: u64 = 1 << 20;

/// Words of a worker's slot in shm mode: the partial sum's 128 bits (low, high), the compute
/// seconds' bits, and the peak RSS in KiB.
pub(super) const SHM_SLOT: usize = 4;

/// A range to compute, or `None`: no more work.
pub(super) type Task = Option<Range<u64>>;

/// How a worker talks to its master.
#[derive(Serialize, Deserialize)]
pub(super) enum Channel {
    /// Shared memory: its range comes with its arguments; its result goes into its slot of
    /// `results`, its progress into its slot of `progress`, and `done` is released after.
    Shm {
        range: Range<u64>,
        results: Array<[u64; SHM_SLOT]>,
        progress: Array<u64>,
        done: Semaphore,
    },
    /// Its own duplex pipe: tasks in, reports out.
    Pipe(Connection),
    /// Its own shared-memory channel, used as the pipe is.
    ShmRing(ShmConnection),
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
    /// The master's language (`--lang` or its environment's), for what the worker says.
    pub(super) language: String,
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
        language,
    } = args;
    crate::lang::set(&language);
    let text = |e: multiproc::Error| crate::lang::runtime_error(&e);
    match channel {
        Channel::Pipe(mut conn) => {
            // Garbage goes out on a second descriptor of the same pipe: bytes that are no
            // message.
            let raw = conn.writer_fd().and_then(|fd| fd.try_clone_to_owned().ok());
            let mut garbage = move || {
                if let Some(fd) = &raw
                    && let Ok(clone) = fd.try_clone()
                {
                    use std::io::Write;
                    let _ = std::fs::File::from(clone).write_all(&[0xff; 64]);
                }
            };
            fault::at(index, Moment::Start, &mut garbage);
            loop {
                let range = match conn.recv::<Task>() {
                    Ok(Some(range)) => range,
                    Ok(None) => break,
                    Err(e) if e.is_closed() => break,
                    Err(e) => return Err(text(e)),
                };
                compute(index, steps, range, progress, &mut garbage, &mut |r| {
                    conn.send(&r)
                })?;
            }
            fault::at(index, Moment::After, &mut garbage);
            Ok(())
        }
        Channel::ShmRing(conn) => {
            // Garbage is a message of bytes that decodes as no report.
            let conn = std::cell::RefCell::new(conn);
            let mut garbage = || {
                let _ = conn.borrow_mut().send_bytes(&[0xff; 64]);
            };
            fault::at(index, Moment::Start, &mut garbage);
            loop {
                let task = conn.borrow_mut().recv::<Task>();
                let range = match task {
                    Ok(Some(range)) => range,
                    Ok(None) => break,
                    Err(e) if e.is_closed() => break,
                    Err(e) => return Err(text(e)),
                };
                compute(index, steps, range, progress, &mut garbage, &mut |r| {
                    conn.borrow_mut().send(&r)
                })?;
            }
            fault::at(index, Moment::After, &mut garbage);
            Ok(())
        }
        Channel::Shm {
            range,
            results,
            progress: shared_progress,
            done,
        } => {
            let mut nothing = || {};
            fault::at(index, Moment::Start, &mut nothing);
            let mut sent = None;
            compute(
                index,
                steps,
                range,
                progress,
                &mut nothing,
                &mut |report| match report {
                    Report::Progress { done, .. } => shared_progress.set(index, done),
                    other => {
                        sent = Some(other);
                        Ok(())
                    }
                },
            )?;
            if let Some(Report::Partial { partial, .. }) = sent {
                let bits = partial.sum.to_bits();
                let slot = [
                    bits as u64,
                    (bits >> 64) as u64,
                    partial.compute_seconds.to_bits(),
                    partial.peak_rss_kib,
                ];
                results.set(index, slot).map_err(text)?;
                done.release().map_err(text)?;
            }
            fault::at(index, Moment::After, &mut nothing);
            Ok(())
        }
        Channel::Queue { tasks, results } => {
            // Garbage is a well-formed report of a range this worker was never given.
            let mut garbage = || {
                let _ = results.put(&Report::Partial {
                    index,
                    range: 0..1,
                    partial: Partial {
                        sum: FixedSum::ZERO,
                        compute_seconds: 0.0,
                        peak_rss_kib: 0,
                    },
                });
            };
            fault::at(index, Moment::Start, &mut garbage);
            while let Some(range) = tasks.get().map_err(text)? {
                fault::at(index, Moment::Took, &mut garbage);
                let took = Report::Took {
                    index,
                    range: range.clone(),
                };
                results.put(&took).map_err(text)?;
                compute(index, steps, range, progress, &mut garbage, &mut |r| {
                    results.put(&r)
                })?;
            }
            fault::at(index, Moment::After, &mut garbage);
            Ok(())
        }
    }
}

/// Sums `range` and reports it (with progress after the first slice and then about every
/// [`PROGRESS_EVERY`], when asked).
fn compute(
    index: usize,
    steps: u64,
    range: Range<u64>,
    progress: bool,
    garbage: &mut dyn FnMut(),
    report: &mut dyn FnMut(Report) -> multiproc::Result<()>,
) -> Result<(), String> {
    let aligned = range.start.is_multiple_of(partition::block_len(steps));
    if !(1..=partition::MAX_STEPS).contains(&steps)
        || range.end > steps
        || !aligned
        || fault::refuses(index)
    {
        return Err(rust_i18n::t!(
            "fault.invalid_range",
            start = range.start,
            end = range.end,
            steps = steps
        )
        .into_owned());
    }
    let clock = Instant::now();
    // The first slice is reported at once (a bar moves as soon as the work starts, however
    // fast the machine), the rest about every PROGRESS_EVERY.
    let mut last: Option<Instant> = None;
    let mut first_slice = true;
    let sum = multiproc_pi::range_sum_in_slices(steps, &range, SLICE, |done| {
        if std::mem::take(&mut first_slice) {
            fault::at(index, Moment::Computing, garbage);
        }
        if progress && last.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) {
            last = Some(Instant::now());
            return report(Report::Progress { index, done });
        }
        Ok(())
    })
    .map_err(|e| crate::lang::runtime_error(&e))?;
    let partial = Partial {
        sum,
        compute_seconds: clock.elapsed().as_secs_f64(),
        peak_rss_kib: peak_rss_kib(),
    };
    fault::at(index, Moment::Result, garbage);
    report(Report::Partial {
        index,
        range,
        partial,
    })
    .map_err(|e| crate::lang::runtime_error(&e))
}

/// The partial sum of `range`, with no progress reports (for the pool mode's task).
pub(super) fn compute_partial(steps: u64, range: Range<u64>) -> Result<Partial, String> {
    let mut partial = None;
    // A pool's worker has no index of its own: no injected fault names it.
    compute(usize::MAX, steps, range, false, &mut || {}, &mut |report| {
        if let Report::Partial { partial: p, .. } = report {
            partial = Some(p);
        }
        Ok(())
    })?;
    partial.ok_or_else(|| rust_i18n::t!("fault.no_partial_sum").into_owned())
}

/// This process's peak resident set size in KiB.
fn peak_rss_kib() -> u64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map_or(0, |u| u.max_rss().max(0) as u64)
}

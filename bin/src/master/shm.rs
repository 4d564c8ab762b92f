//! Shm mode: results through shared memory, no pipe after start-up.
//!
//! Each worker is given its range with its arguments (a static split, as in pipe mode). It
//! writes its partial sum into its own slot of a shared `Array` (and its progress into a
//! shared counter) and releases a `Semaphore` before it exits. The master waits for the
//! workers' exits and the signals at once; an exit with status 0 and a permit taken from the
//! semaphore means the slot is written; any other exit is a death, named with its range (and,
//! under `--retries`, a new worker computes the range again into the same slot).

use std::ops::Range;
use std::time::Duration;

use multiproc::signals::SignalWatch;
use multiproc::sync::Semaphore;
use multiproc::{Array, Waitable, wait};
use multiproc_pi::reduction::FixedSum;

use super::driver::{Retries, interrupted, restart_worker, start_worker};
use super::plan::Plan;
use super::watch::{Worker, overdue, wait_for};
use super::worker::{Channel, Partial, Report, SHM_SLOT};
use super::{Event, RunError, Traffic};

/// How often the master reads the workers' progress counters, when progress is shown.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

pub(super) fn drive(
    plan: &Plan,
    watch: &SignalWatch,
    workers: &mut Vec<Worker>,
    retries: &mut Retries,
    observe: &mut dyn FnMut(&Event),
) -> Result<Traffic, RunError> {
    let procs = plan.config().procs;
    let results: Array<[u64; SHM_SLOT]> = Array::zeroed(procs)?;
    let progress: Array<u64> = Array::new_raw(&vec![0; procs])?;
    let done = Semaphore::new(0)?;
    let channel = |range: &Range<u64>| -> Result<Channel, RunError> {
        Ok(Channel::Shm {
            range: range.clone(),
            results: results.try_clone()?,
            progress: progress.try_clone()?,
            done: done.try_clone()?,
        })
    };
    for (index, range) in plan.ranges().iter().enumerate() {
        start_worker(plan, index, channel(range)?, watch, workers, observe)?;
        workers[index].assign(range.clone());
        observe(&Event::Assigned {
            index,
            range: range.clone(),
        });
    }

    let steps = plan.config().steps;
    let poll = plan.config().progress.then_some(PROGRESS_EVERY);
    let mut reported = vec![0u64; procs];
    let timeout = plan.config().timeout;
    let mut pending = procs;
    while pending > 0 {
        let live: Vec<usize> = (0..procs)
            .filter(|&i| workers[i].current().is_some())
            .collect();
        let mut objects: Vec<&dyn Waitable> = vec![watch];
        objects.extend(live.iter().map(|&i| &workers[i].process as &dyn Waitable));
        let ready = wait(&objects, wait_for(workers, timeout, poll))?;
        if ready.contains(&0)
            && let Some(signal) = interrupted(watch)
        {
            return Err(RunError::Interrupted { signal });
        }
        if poll.is_some() {
            for &i in &live {
                let now = progress.get(i)?;
                if now > reported[i] {
                    reported[i] = now;
                    workers[i].report(
                        steps,
                        Report::Progress {
                            index: i,
                            done: now,
                        },
                        observe,
                    )?;
                }
            }
        }
        let mut lost = Vec::new();
        for slot in ready.into_iter().filter(|&s| s >= 1) {
            let i = live[slot - 1];
            let w = &mut workers[i];
            let exited_clean = w.process.join_timeout(Duration::ZERO)? == Some(0);
            let signalled = exited_clean && done.try_acquire()?.map(|p| p.forget()).is_some();
            if !signalled {
                lost.push(w.lost(observe, "cause.before_shm_result"));
                continue;
            }
            let [lo, hi, seconds, rss] = results.get(i)?;
            let partial = Partial {
                sum: FixedSum::from_bits(((hi as i128) << 64) | lo as i128),
                compute_seconds: f64::from_bits(seconds),
                peak_rss_kib: rss,
            };
            let Some(range) = w.current().cloned() else {
                continue;
            };
            w.report(
                steps,
                Report::Partial {
                    index: i,
                    range,
                    partial,
                },
                observe,
            )?;
            w.reap(observe)?;
            pending -= 1;
        }
        if let Some(late) = overdue(workers, timeout, observe) {
            lost.push(late);
        }
        for gone in lost {
            // Its slot is written again by the new worker, from the same range.
            let (index, range) = retries.take(gone, observe)?;
            let Some(range) = range else {
                return Err(RunError::Failed(
                    rust_i18n::t!("fault.lost_without_range", index = index).into_owned(),
                ));
            };
            restart_worker(plan, index, channel(&range)?, watch, workers, observe)?;
            workers[index].assign(range.clone());
            reported[index] = 0;
            observe(&Event::Assigned { index, range });
        }
    }
    // Nothing crossed a pipe after start-up.
    Ok(Traffic::default())
}

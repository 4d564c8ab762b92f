//! Queue mode: a task queue and a result queue shared by every worker.
//!
//! The master puts the chunks on the task queue, then one "no more work" per worker; each
//! worker takes a chunk when it is free, says so on the result queue, computes, and puts the
//! partial sum there. A fast worker simply takes more chunks (dynamic load balancing, the
//! deck's Example 2). The master waits on the result queue, on every worker's process
//! descriptor and on the signals at once, so a worker that dies is seen at once and named with
//! the chunk it had taken.

use std::collections::{HashSet, VecDeque};
use std::ops::Range;
use std::time::{Duration, Instant};

use multiproc::signals::SignalWatch;
use multiproc::{Queue, Waitable, wait};

use super::driver::{Retries, interrupted, restart_worker, start_worker};
use super::plan::Plan;
use super::watch::{Worker, overdue, wait_for};
use super::worker::{Channel, Report, Task};
use super::{Event, RunError, Traffic};

/// How long the master waits before trying again to feed a full task queue.
const FEED_RETRY: Duration = Duration::from_millis(5);

/// How long every live worker must sit idle, with the task queue empty and chunks missing,
/// before the master concludes that a lost worker had taken a chunk without saying so (it
/// died between taking it and reporting it, a window of microseconds), and puts the missing
/// chunks back.
const QUIET: Duration = Duration::from_millis(200);

pub(super) fn drive(
    plan: &Plan,
    watch: &SignalWatch,
    workers: &mut Vec<Worker>,
    retries: &mut Retries,
    observe: &mut dyn FnMut(&Event),
) -> Result<Traffic, RunError> {
    let procs = plan.config().procs;
    let tasks: Queue<Task> = Queue::new()?;
    let results: Queue<Report> = Queue::new()?;
    let channel = || -> Result<Channel, RunError> {
        Ok(Channel::Queue {
            tasks: tasks.try_clone()?,
            results: results.try_clone()?,
        })
    };
    for index in 0..procs {
        start_worker(plan, index, channel()?, watch, workers, observe)?;
    }

    let chunks = plan.ranges();
    // The "no more work" messages go only once every chunk is in, so that a chunk put back
    // for a lost worker is never queued behind them.
    let mut to_send: VecDeque<Range<u64>> = chunks.iter().cloned().collect();
    let mut done: HashSet<u64> = HashSet::new();
    let mut announced = false;
    let mut running: Vec<bool> = vec![true; workers.len()];
    // A worker was lost while holding no chunk it had reported: it may have taken one.
    let mut suspect = false;
    let mut quiet_since: Option<Instant> = None;
    let steps = plan.config().steps;
    let timeout = plan.config().timeout;

    while done.len() < chunks.len() {
        // Feed the task queue as far as it takes without blocking.
        while let Some(range) = to_send.front() {
            match tasks.put_timeout(&Some(range.clone()), Duration::ZERO) {
                Ok(()) => {
                    to_send.pop_front();
                }
                Err(e) if e.is_timeout() => break,
                Err(e) => return Err(e.into()),
            }
        }
        if !announced && to_send.is_empty() {
            announced = true;
            observe(&Event::Queued {
                chunks: chunks.len(),
            });
        }

        let mut objects: Vec<&dyn Waitable> = vec![watch, &results];
        let live: Vec<usize> = (0..workers.len()).filter(|&i| running[i]).collect();
        objects.extend(live.iter().map(|&i| &workers[i].process as &dyn Waitable));
        let feed = (!to_send.is_empty()).then_some(FEED_RETRY);
        let look = if suspect { Some(QUIET) } else { feed };
        let ready = wait(&objects, wait_for(workers, timeout, look))?;
        if ready.contains(&0)
            && let Some(signal) = interrupted(watch)
        {
            return Err(RunError::Interrupted { signal });
        }

        // Everything reported so far, before judging any exit.
        let mut heard = false;
        let mut lost = Vec::new();
        loop {
            let report = match results.try_get() {
                Ok(Some(report)) => report,
                Ok(None) => break,
                // A broken result queue means a worker died in the middle of a report: name it.
                Err(e) => {
                    return Err(blame_dead_worker(workers, &running, observe).unwrap_or(e.into()));
                }
            };
            heard = true;
            let index = match &report {
                Report::Took { index, .. }
                | Report::Progress { index, .. }
                | Report::Partial { index, .. } => *index,
            };
            let w = workers.get_mut(index).ok_or_else(|| {
                RunError::Failed(format!(
                    "a report names worker {index}, which does not exist"
                ))
            })?;
            // A chunk put back on a suspicion may be computed twice: the second result is
            // dropped, so no range is ever counted twice.
            if let Report::Partial { range, .. } = &report
                && done.contains(&range.start)
            {
                w.drop_current();
                continue;
            }
            let finished = match &report {
                Report::Partial { range, .. } => Some(range.start),
                _ => None,
            };
            match w.report(steps, report, observe) {
                Ok(true) => {
                    if let Some(start) = finished {
                        done.insert(start);
                    }
                }
                Ok(false) => {}
                // A report that makes no sense (a range it was not computing): the worker is
                // stopped and counts as lost.
                Err(e @ RunError::Worker { .. }) => {
                    running[index] = false;
                    lost.push(w.misbehaved(e, observe));
                }
                Err(e) => return Err(e),
            }
        }

        // A worker whose process descriptor is ready has exited.
        for slot in ready.into_iter().filter(|&s| s >= 2) {
            let i = live[slot - 2];
            if !running[i] {
                continue;
            }
            let w = &mut workers[i];
            let code = w.process.join_timeout(Duration::ZERO)?;
            if w.current().is_some() || code != Some(0) {
                let when = if w.current().is_some() {
                    "before sending the result of the chunk it had taken"
                } else {
                    "holding no chunk it had reported (between chunks, or just after taking one)"
                };
                running[i] = false;
                lost.push(w.lost(observe, when));
                continue;
            }
            running[i] = false;
            if let Some(exitcode) = code {
                observe(&Event::Exited {
                    index: w.index,
                    pid: w.pid(),
                    exitcode,
                });
            }
        }
        if let Some(late) = overdue(workers, timeout, observe) {
            if let RunError::Worker { index, .. } = &late {
                running[*index] = false;
            }
            lost.push(late);
        }
        for gone in lost {
            let (index, range) = retries.take(gone, observe)?;
            match range {
                // Its chunk goes back first, for whoever is free.
                Some(range) => to_send.push_front(range),
                None => suspect = true,
            }
            restart_worker(plan, index, channel()?, watch, workers, observe)?;
            running[index] = true;
            heard = true;
        }

        // A suspicion is settled once all is quiet: chunks neither done, nor held, nor queued
        // were taken by the lost worker, and go back.
        let idle = to_send.is_empty()
            && tasks.empty()
            && (0..workers.len()).all(|i| !running[i] || workers[i].current().is_none());
        quiet_since = match (suspect && idle && !heard, quiet_since) {
            (false, _) => None,
            (true, None) => Some(Instant::now()),
            (true, Some(since)) if since.elapsed() >= QUIET => {
                suspect = false;
                to_send.extend(chunks.iter().filter(|r| !done.contains(&r.start)).cloned());
                None
            }
            (true, since) => since,
        };

        if done.len() < chunks.len() && !running.iter().any(|r| *r) {
            return Err(RunError::Failed(
                "every worker exited before the work was done".into(),
            ));
        }
    }

    // Every chunk is in: one "no more work" per live worker, then reap them.
    for _ in running.iter().filter(|r| **r) {
        tasks.put_timeout(&None, Duration::from_secs(1))?;
    }
    for (i, w) in workers.iter_mut().enumerate() {
        if running[i] {
            w.reap(observe)?;
        }
    }
    let (t, r) = (tasks.stats(), results.stats());
    Ok(Traffic {
        messages: t.items_put + r.items_got,
        bytes: t.bytes_put + r.bytes_got,
    })
}

/// The first worker that was running and has died, described, if there is one.
fn blame_dead_worker(
    workers: &mut [Worker],
    running: &[bool],
    observe: &mut dyn FnMut(&Event),
) -> Option<RunError> {
    let i = (0..workers.len()).find(|&i| running[i] && !workers[i].process.is_alive())?;
    Some(workers[i].lost(observe, "in the middle of a report on the result queue"))
}

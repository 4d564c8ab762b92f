//! Queue mode: a task queue and a result queue shared by every worker.
//!
//! The master puts the chunks on the task queue, then one "no more work" per worker; each
//! worker takes a chunk when it is free, says so on the result queue, computes, and puts the
//! partial sum there. A fast worker simply takes more chunks (dynamic load balancing, the
//! deck's Example 2). The master waits on the result queue, on every worker's process
//! descriptor and on the signals at once, so a worker that dies is seen at once and named with
//! the chunk it had taken.

use std::collections::VecDeque;
use std::time::Duration;

use multiproc::signals::SignalWatch;
use multiproc::{Queue, Waitable, wait};

use super::driver::{interrupted, start_worker};
use super::plan::Plan;
use super::watch::{Worker, overdue, wait_for};
use super::worker::{Channel, Report, Task};
use super::{Event, RunError, Traffic};

/// How long the master waits before trying again to feed a full task queue.
const FEED_RETRY: Duration = Duration::from_millis(5);

pub(super) fn drive(
    plan: &Plan,
    watch: &SignalWatch,
    workers: &mut Vec<Worker>,
    observe: &mut dyn FnMut(&Event),
) -> Result<Traffic, RunError> {
    let procs = plan.config().procs;
    let tasks: Queue<Task> = Queue::new()?;
    let results: Queue<Report> = Queue::new()?;
    for index in 0..procs {
        let channel = Channel::Queue {
            tasks: tasks.try_clone()?,
            results: results.try_clone()?,
        };
        start_worker(plan, index, channel, watch, workers, observe)?;
    }

    let chunks = plan.ranges();
    let mut to_send: VecDeque<Task> = chunks.iter().cloned().map(Some).collect();
    to_send.extend((0..procs).map(|_| None));
    let mut outstanding = chunks.len();
    let mut announced = false;
    let mut running: Vec<bool> = vec![true; workers.len()];
    let steps = plan.config().steps;

    while outstanding > 0 {
        // Feed the task queue as far as it takes without blocking.
        while let Some(task) = to_send.front() {
            match tasks.put_timeout(task, Duration::ZERO) {
                Ok(()) => {
                    to_send.pop_front();
                }
                Err(e) if e.is_timeout() => break,
                Err(e) => return Err(e.into()),
            }
        }
        if !announced && to_send.len() <= procs {
            announced = true;
            observe(&Event::Queued {
                chunks: chunks.len(),
            });
        }

        let mut objects: Vec<&dyn Waitable> = vec![watch, &results];
        let live: Vec<usize> = (0..workers.len()).filter(|&i| running[i]).collect();
        objects.extend(live.iter().map(|&i| &workers[i].process as &dyn Waitable));
        let feed = (!to_send.is_empty()).then_some(FEED_RETRY);
        let ready = wait(&objects, wait_for(workers, plan.config().timeout, feed))?;
        if ready.contains(&0)
            && let Some(signal) = interrupted(watch)
        {
            return Err(RunError::Interrupted { signal });
        }

        // Everything reported so far, before judging any exit.
        loop {
            let report = match results.try_get() {
                Ok(Some(report)) => report,
                Ok(None) => break,
                // A broken result queue means a worker died in the middle of a report: name it.
                Err(e) => {
                    return Err(blame_dead_worker(workers, &running, observe).unwrap_or(e.into()));
                }
            };
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
            if w.report(steps, report, observe)? {
                outstanding -= 1;
            }
        }

        // A worker whose process descriptor is ready has exited.
        for slot in ready.into_iter().filter(|&s| s >= 2) {
            let i = live[slot - 2];
            running[i] = false;
            let w = &mut workers[i];
            let code = w.process.join_timeout(Duration::ZERO)?;
            if w.current().is_some() || code != Some(0) {
                let when = if w.current().is_some() {
                    "before sending the result of the chunk it had taken"
                } else {
                    "while the run went on"
                };
                return Err(w.lost(observe, when));
            }
            if let Some(exitcode) = code {
                observe(&Event::Exited {
                    index: w.index,
                    pid: w.pid(),
                    exitcode,
                });
            }
        }
        if let Some(late) = overdue(workers, plan.config().timeout, observe) {
            return Err(late);
        }
        if outstanding > 0 && !running.iter().any(|r| *r) {
            return Err(RunError::Failed(
                "every worker exited before the work was done".into(),
            ));
        }
    }

    // Every chunk is in. Make sure each worker gets its "no more work", then reap them.
    while let Some(task) = to_send.pop_front() {
        tasks.put_timeout(&task, Duration::from_secs(1))?;
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

//! Queue mode: a task queue and a result queue shared by every worker.
//!
//! The master puts the chunks on the task queue, then one "no more work" per worker; each
//! worker takes a chunk when it is free, says so on the result queue, computes, and puts the
//! partial sum there. A fast worker simply takes more chunks (dynamic load balancing, the
//! deck's Example 2). The master waits on the result queue, on every worker's process
//! descriptor and on the signals at once, so a worker that dies is seen at once and named with
//! the chunk it had taken.

use std::collections::VecDeque;
use std::ops::Range;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Config, Event, Partial, RunError, Traffic, Worker, compute, interrupted};
use crate::connection::{Waitable, wait};
use crate::error::Error;
use crate::process::Process;
use crate::queue::Queue;
use crate::signals::SignalWatch;

/// How long the master waits before trying again to feed a full task queue.
const FEED_RETRY: Duration = Duration::from_millis(5);

/// One chunk of work.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct Task {
    steps: u64,
    range: Range<u64>,
    progress: bool,
}

/// Worker → master, on the result queue.
#[derive(Serialize, Deserialize, Debug)]
enum Report {
    /// Worker `index` took `range` from the task queue.
    Took { index: usize, range: Range<u64> },
    /// Worker `index` has computed `done` indices of its current chunk.
    Progress { index: usize, done: u64 },
    /// The sum of a chunk.
    Partial {
        index: usize,
        range: Range<u64>,
        partial: Partial,
    },
}

#[derive(Serialize, Deserialize)]
struct QueueWorkerArgs {
    index: usize,
    tasks: Queue<Option<Task>>,
    results: Queue<Report>,
}

/// A queue worker: takes chunks until it takes "no more work".
fn queue_worker(args: QueueWorkerArgs) -> Result<(), Error> {
    let QueueWorkerArgs {
        index,
        tasks,
        results,
    } = args;
    while let Some(task) = tasks.get()? {
        results.put(&Report::Took {
            index,
            range: task.range.clone(),
        })?;
        let partial = compute(task.steps, task.range.clone(), task.progress, &mut |done| {
            results.put(&Report::Progress { index, done })
        })?;
        results.put(&Report::Partial {
            index,
            range: task.range,
            partial,
        })?;
    }
    Ok(())
}

pub(super) fn drive(
    config: &Config,
    chunks: Vec<Range<u64>>,
    watch: &SignalWatch,
    workers: &mut Vec<Worker>,
    observe: &mut dyn FnMut(&Event),
) -> Result<Traffic, RunError> {
    let tasks: Queue<Option<Task>> = Queue::new()?;
    let results: Queue<Report> = Queue::new()?;
    for index in 0..config.procs {
        if let Some(signal) = interrupted(watch) {
            return Err(RunError::Interrupted { signal });
        }
        let spawn_error = |cause: String| RunError::Worker {
            index,
            pid: None,
            range: None,
            cause,
        };
        let args = QueueWorkerArgs {
            index,
            tasks: tasks.try_clone()?,
            results: results.try_clone()?,
        };
        let mut process = Process::new(queue_worker, args).with_name(format!("pi-worker-{index}"));
        process
            .start()
            .map_err(|e| spawn_error(format!("could not be started: {e}")))?;
        let worker = Worker::new(index, process);
        observe(&Event::Spawned {
            index,
            pid: worker.pid(),
        });
        workers.push(worker);
    }

    let mut to_send: VecDeque<Option<Task>> = chunks
        .iter()
        .map(|range| {
            Some(Task {
                steps: config.steps,
                range: range.clone(),
                progress: config.progress,
            })
        })
        .collect();
    to_send.extend((0..config.procs).map(|_| None));
    let mut outstanding = chunks.len();
    let mut announced = false;
    let mut running: Vec<bool> = vec![true; workers.len()];

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
        if !announced && to_send.len() <= config.procs {
            announced = true;
            observe(&Event::Queued {
                chunks: chunks.len(),
            });
        }

        let mut objects: Vec<&dyn Waitable> = vec![watch, &results];
        let live: Vec<usize> = (0..workers.len()).filter(|&i| running[i]).collect();
        objects.extend(live.iter().map(|&i| &workers[i].process as &dyn Waitable));
        let timeout = (!to_send.is_empty()).then_some(FEED_RETRY);
        let ready = wait(&objects, timeout)?;
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
            match report {
                Report::Took { index, range } => {
                    let w = worker_at(workers, index)?;
                    w.current = Some(range.clone());
                    observe(&Event::Took { index, range });
                }
                Report::Progress { index, done } => {
                    worker_at(workers, index)?.progress(done, observe)
                }
                Report::Partial {
                    index,
                    range,
                    partial,
                } => {
                    worker_at(workers, index)?.finished(config.steps, range, partial, observe);
                    outstanding -= 1;
                }
            }
        }

        // A worker whose process descriptor is ready has exited.
        for slot in ready.into_iter().filter(|&s| s >= 2) {
            let i = live[slot - 2];
            running[i] = false;
            let w = &mut workers[i];
            let code = w.process.join_timeout(Duration::ZERO)?;
            if w.current.is_some() || code != Some(0) {
                let when = if w.current.is_some() {
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
        if outstanding > 0 && !running.iter().any(|r| *r) {
            return Err(Error::state("every worker exited before the work was done").into());
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

fn worker_at(workers: &mut [Worker], index: usize) -> Result<&mut Worker, RunError> {
    workers.get_mut(index).ok_or_else(|| {
        Error::state(format!(
            "a report names worker {index}, which does not exist"
        ))
        .into()
    })
}

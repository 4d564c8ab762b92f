//! Queue mode: a task queue and a result queue shared by every worker.
//!
//! The master puts the chunks on the task queue, then one "no more work" per worker; each
//! worker takes a chunk when it is free, says so on the result queue, computes, and puts the
//! partial sum there. A fast worker simply takes more chunks (dynamic load balancing, the
//! deck's Example 2). The master waits on the result queue, on every worker's process
//! descriptor and on the signals at once, so a worker that dies is seen at once and named with
//! the chunk it had taken.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use multiproc::signals::SignalWatch;
use multiproc::{Queue, Waitable, wait};

use super::driver::{Retries, interrupted, restart_worker, start_worker};
use super::plan::Plan;
use super::watch::{Worker, overdue, wait_for};
use super::worker::{Channel, Report, Task};
use super::{Event, RunError, Traffic, shutdown};

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
    let mut done: HashSet<(u64, u64)> = HashSet::new();
    let mut traffic = Traffic::default();
    loop {
        match round(
            plan,
            watch,
            workers,
            retries,
            observe,
            &mut done,
            &mut traffic,
        ) {
            Ok(()) => return Ok(traffic),
            // A worker died in the middle of an item and broke a queue for everyone. Under
            // --retries the round starts over: every worker is stopped, fresh queues are
            // made, and the chunks not done yet are handed out again to new workers.
            Err(Round::Broken(blame)) if retries.left() > 0 => {
                shutdown::stop_all(workers, watch, observe);
                retries.take(blame, observe)?;
            }
            // The queue was broken by a worker whose loss was already retried (the master
            // stopped it in the middle of an item): the same retry covers the new round.
            Err(Round::Restart) => shutdown::stop_all(workers, watch, observe),
            Err(Round::Broken(e) | Round::Failed(e)) => return Err(e),
        }
    }
}

/// How a round of queue mode ended early.
enum Round {
    /// A queue is broken (this error names who broke it, when known).
    Broken(RunError),
    /// A queue is broken by a worker whose loss was retried already.
    Restart,
    /// Anything else.
    Failed(RunError),
}

impl<E: Into<RunError>> From<E> for Round {
    fn from(e: E) -> Self {
        Round::Failed(e.into())
    }
}

/// One round: fresh queues, a worker on each index (new, or in place of one stopped), the
/// chunks not in `done` handed out until they all are.
fn round(
    plan: &Plan,
    watch: &SignalWatch,
    workers: &mut Vec<Worker>,
    retries: &mut Retries,
    observe: &mut dyn FnMut(&Event),
    done: &mut HashSet<(u64, u64)>,
    traffic: &mut Traffic,
) -> Result<(), Round> {
    let procs = plan.config().procs;
    let tasks: Queue<Task> = Queue::new()?;
    let results: Queue<Report> = Queue::new()?;
    let channel = || -> Result<Channel, RunError> {
        Ok(Channel::Queue {
            tasks: tasks.try_clone()?,
            results: results.try_clone()?,
        })
    };
    let first = workers.is_empty();
    // Every process of this round by pid, so that a queue broken by a worker already gone
    // (and replaced) can still be laid at its index.
    let mut pids: HashMap<u32, usize> = HashMap::new();
    // Workers whose loss was retried already in this round.
    let mut charged: HashSet<u32> = HashSet::new();
    for index in 0..procs {
        if first {
            start_worker(plan, index, channel()?, watch, workers, observe)?;
        } else {
            restart_worker(plan, index, channel()?, watch, workers, observe)?;
        }
        pids.insert(workers[index].pid(), index);
    }
    // Counted whatever happens next.
    struct Count<'a>(&'a Queue<Task>, &'a Queue<Report>, &'a mut Traffic);
    impl Drop for Count<'_> {
        fn drop(&mut self) {
            let (t, r) = (self.0.stats(), self.1.stats());
            self.2.messages += t.items_put + r.items_got;
            self.2.bytes += t.bytes_put + r.bytes_got;
        }
    }
    let _count = Count(&tasks, &results, traffic);

    let chunks = plan.ranges();
    // With retries, the "no more work" messages go only once every chunk is in, so that a
    // chunk put back for a lost worker is never queued behind them; without, right behind
    // the chunks, so that each worker exits as soon as the work runs out.
    let mut to_send: VecDeque<Task> = chunks
        .iter()
        .filter(|r| !done.contains(&(r.start, r.end)))
        .cloned()
        .map(Some)
        .collect();
    let early_stop = plan.config().retries == 0;
    if early_stop {
        to_send.extend((0..procs).map(|_| None));
    }
    let mut announced = false;
    let mut running: Vec<bool> = vec![true; workers.len()];
    // A worker was lost while holding no chunk it had reported: it may have taken one.
    let mut suspect = false;
    let mut quiet_since: Option<Instant> = None;
    let steps = plan.config().steps;
    let timeout = plan.config().timeout;

    while done.len() < chunks.len() {
        // Feed the task queue as far as it takes without blocking.
        while let Some(task) = to_send.front() {
            match tasks.put_timeout(task, Duration::ZERO) {
                Ok(()) => {
                    to_send.pop_front();
                }
                Err(e) if e.is_timeout() => break,
                Err(e) if e.is_broken() => {
                    return Err(broken(e, workers, &running, &pids, &charged, observe));
                }
                Err(e) => return Err(e.into()),
            }
        }
        if !announced && to_send.iter().all(Option::is_none) {
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
            return Err(Round::Failed(RunError::Interrupted { signal }));
        }

        // Everything reported so far, before judging any exit.
        let mut heard = false;
        let mut lost = Vec::new();
        loop {
            let report = match results.try_get() {
                Ok(Some(report)) => report,
                Ok(None) => break,
                // A broken result queue means a worker died in the middle of a report: name it.
                Err(e) => return Err(broken(e, workers, &running, &pids, &charged, observe)),
            };
            heard = true;
            let index = match &report {
                Report::Took { index, .. }
                | Report::Progress { index, .. }
                | Report::Partial { index, .. } => *index,
            };
            let w = workers.get_mut(index).ok_or_else(|| {
                RunError::Failed(rust_i18n::t!("fault.no_such_worker", index = index).into_owned())
            })?;
            // A chunk put back on a suspicion may be computed twice: the second result is
            // dropped, so no range is ever counted twice.
            if let Report::Partial { range, .. } = &report
                && done.contains(&(range.start, range.end))
                && w.current() == Some(range)
            {
                w.drop_current();
                continue;
            }
            let finished = match &report {
                Report::Partial { range, .. } => Some((range.start, range.end)),
                _ => None,
            };
            match w.report(steps, report, observe) {
                Ok(true) => {
                    if let Some(range) = finished {
                        done.insert(range);
                    }
                }
                Ok(false) => {}
                // A report that makes no sense (a range it was not computing): the worker is
                // stopped and counts as lost.
                Err(e @ RunError::Worker { .. }) => {
                    running[index] = false;
                    lost.push(w.misbehaved(e, observe));
                }
                Err(e) => return Err(Round::Failed(e)),
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
                    "cause.before_taken_chunk"
                } else {
                    "fault.between_chunks"
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
            if let RunError::Worker { pid: Some(pid), .. } = &gone {
                charged.insert(*pid);
            }
            let (index, range) = retries.take(gone, observe)?;
            match range {
                // Its chunk goes back first, for whoever is free.
                Some(range) => to_send.push_front(Some(range)),
                None => suspect = true,
            }
            restart_worker(plan, index, channel()?, watch, workers, observe)?;
            pids.insert(workers[index].pid(), index);
            running[index] = true;
            heard = true;
        }

        // A suspicion is settled once all is quiet: chunks neither done, nor held, nor queued
        // were taken by the lost worker, and go back.
        let idle = to_send.iter().all(Option::is_none)
            && tasks.empty()
            && (0..workers.len()).all(|i| !running[i] || workers[i].current().is_none());
        quiet_since = match (suspect && idle && !heard, quiet_since) {
            (false, _) => None,
            (true, None) => Some(Instant::now()),
            (true, Some(since)) if since.elapsed() >= QUIET => {
                suspect = false;
                for missing in chunks.iter().filter(|r| !done.contains(&(r.start, r.end))) {
                    to_send.push_front(Some(missing.clone()));
                }
                None
            }
            (true, since) => since,
        };

        if done.len() < chunks.len() && !running.iter().any(|r| *r) {
            return Err(Round::Failed(RunError::Failed(
                rust_i18n::t!("fault.all_exited").into_owned(),
            )));
        }
    }

    // Every chunk is in: one "no more work" per live worker still owed one, then reap them,
    // with time for hundreds of them to be scheduled and exit.
    if early_stop {
        while let Some(task) = to_send.pop_front() {
            tasks.put_timeout(&task, Duration::from_secs(1))?;
        }
    } else {
        for _ in running.iter().filter(|r| **r) {
            tasks.put_timeout(&None, Duration::from_secs(1))?;
        }
    }
    let live = running.iter().filter(|r| **r).count() as u32;
    let deadline = Instant::now() + Duration::from_secs(1) + Duration::from_millis(10) * live;
    for (i, w) in workers.iter_mut().enumerate() {
        if running[i] {
            let left = deadline.saturating_duration_since(Instant::now());
            w.reap_within(left.max(Duration::from_millis(100)), observe)?;
        }
    }
    Ok(())
}

/// A queue error, laid at the worker that broke the queue when it can be: a live worker
/// found dead, or the pid the queue names (a worker of this round already replaced). Only a
/// broken queue blamed on a worker can be retried.
fn broken(
    e: multiproc::Error,
    workers: &mut [Worker],
    running: &[bool],
    pids: &HashMap<u32, usize>,
    charged: &HashSet<u32>,
    observe: &mut dyn FnMut(&Event),
) -> Round {
    if !e.is_broken() {
        return Round::Failed(e.into());
    }
    if e.broken_by().is_some_and(|pid| charged.contains(&pid)) {
        return Round::Restart;
    }
    if let Some(blame) = blame_dead_worker(workers, running, observe) {
        return Round::Broken(blame);
    }
    match e.broken_by().and_then(|pid| Some((pid, *pids.get(&pid)?))) {
        Some((pid, index)) => Round::Broken(RunError::Worker {
            index,
            pid: Some(pid),
            range: None,
            cause: crate::lang::Said::new(|| {
                rust_i18n::t!("fault.broke_queue", error = crate::lang::runtime_error(&e))
                    .into_owned()
            }),
        }),
        None => Round::Failed(e.into()),
    }
}

/// The first worker that was running and has died, described, if there is one.
fn blame_dead_worker(
    workers: &mut [Worker],
    running: &[bool],
    observe: &mut dyn FnMut(&Event),
) -> Option<RunError> {
    let i = (0..workers.len()).find(|&i| running[i] && !workers[i].process.is_alive())?;
    Some(workers[i].lost(observe, "cause.mid_report"))
}

//! The master's view of one worker: what it is computing, what it has finished, and what to
//! say when it goes away.

use crate::lang::Said;
use std::ops::Range;
use std::time::{Duration, Instant};

use multiproc::Process;
use multiproc::supervise::{Reaped, Shutdown, join_or_kill};
use multiproc_pi::reduction::FixedSum;

use super::worker::{Partial, Report};
use super::{Event, RunError, WorkerRun};

/// How long a worker whose work is over (or whose channel ended) may take to exit.
const EXIT_WAIT: Duration = Duration::from_secs(1);

/// One worker, as the master sees it.
pub(super) struct Worker {
    pub(super) index: usize,
    pub(super) process: Process,
    /// The range it is computing now (pipe mode: its whole range, until the result arrives).
    current: Option<Range<u64>>,
    /// When it was given `current` (for `--timeout`).
    since: Option<Instant>,
    /// Ranges it has finished, in order.
    ranges: Vec<Range<u64>>,
    sum: FixedSum,
    compute_seconds: f64,
    peak_rss_kib: u64,
    /// Indices finished before the current range (for progress).
    done_before: u64,
}

impl Worker {
    pub(super) fn new(index: usize, process: Process) -> Worker {
        Worker {
            index,
            process,
            current: None,
            since: None,
            ranges: Vec::new(),
            sum: FixedSum::ZERO,
            compute_seconds: 0.0,
            peak_rss_kib: 0,
            done_before: 0,
        }
    }

    pub(super) fn pid(&self) -> u32 {
        self.process.pid().unwrap_or(0)
    }

    /// A new process takes the place of this worker's lost one (reaped): what was finished
    /// stays, the unfinished work is given again.
    pub(super) fn renew(&mut self, process: Process) {
        self.process = process;
        self.current = None;
        self.since = None;
    }

    /// Forgets the range it was computing, whose result is not wanted (it was computed by
    /// another worker already).
    pub(super) fn drop_current(&mut self) {
        self.current = None;
        self.since = None;
    }

    /// The range it is computing now, if any.
    pub(super) fn current(&self) -> Option<&Range<u64>> {
        self.current.as_ref()
    }

    /// It is computing `range` from now on.
    pub(super) fn assign(&mut self, range: Range<u64>) {
        self.current = Some(range);
        self.since = Some(Instant::now());
    }

    /// When its current work is overdue under `timeout`, if it has work and there is a limit.
    pub(super) fn deadline(&self, timeout: Option<Duration>) -> Option<Instant> {
        self.current.as_ref()?;
        Some(self.since? + timeout?)
    }

    /// Stops a worker past its deadline (`SIGTERM`, a grace period, `SIGKILL`) and says so.
    pub(super) fn timed_out(
        &mut self,
        timeout: Duration,
        observe: &mut dyn FnMut(&Event),
    ) -> RunError {
        let cause =
            Said::new(|| rust_i18n::t!("cause.timed_out", limit = seconds(timeout)).into_owned());
        self.stop_as_lost(cause, observe)
    }

    /// Stops this worker (SIGTERM, the grace period, SIGKILL) because of `cause`, and
    /// describes it as lost with the range it had: `CAUSE; how it stopped`. It has no work
    /// any more: the error carries its range.
    fn stop_as_lost(&mut self, cause: Said, observe: &mut dyn FnMut(&Event)) -> RunError {
        let pid = self.pid();
        let grace = Shutdown::default();
        let stopped = grace.stop_one(&mut self.process);
        if let Ok(Reaped::Exited(code)) = stopped {
            observe(&Event::Exited {
                index: self.index,
                pid,
                exitcode: code,
            });
        }
        let how = Said::new(|| match &stopped {
            Ok(Reaped::Exited(_)) => rust_i18n::t!("cause.stopped").into_owned(),
            Ok(Reaped::Killed(_)) => {
                rust_i18n::t!("cause.killed_after_grace", grace = grace.grace().as_secs())
                    .into_owned()
            }
            Err(e) => rust_i18n::t!("cause.not_stopped", error = crate::lang::runtime_error(e))
                .into_owned(),
        });
        self.since = None;
        RunError::Worker {
            index: self.index,
            pid: Some(pid),
            range: self.current.take(),
            cause: cause.then("; ", &how),
        }
    }

    /// Takes one report from this worker. Returns whether it finished a range.
    pub(super) fn report(
        &mut self,
        steps: u64,
        report: Report,
        observe: &mut dyn FnMut(&Event),
    ) -> Result<bool, RunError> {
        match report {
            Report::Took { range, .. } => {
                self.assign(range.clone());
                observe(&Event::Took {
                    index: self.index,
                    range,
                });
                Ok(false)
            }
            Report::Progress { done, .. } => {
                observe(&Event::Progress {
                    index: self.index,
                    done: self.done_before + done,
                });
                Ok(false)
            }
            Report::Partial { range, partial, .. } if Some(&range) == self.current.as_ref() => {
                self.finished(steps, range, partial, observe);
                Ok(true)
            }
            Report::Partial { range, .. } => Err(RunError::Worker {
                index: self.index,
                pid: Some(self.pid()),
                range: self.current.clone(),
                cause: Said::new(|| {
                    rust_i18n::t!("fault.foreign_range", start = range.start, end = range.end)
                        .into_owned()
                }),
            }),
        }
    }

    /// Records the partial sum of `range`, and reports it.
    fn finished(
        &mut self,
        steps: u64,
        range: Range<u64>,
        partial: Partial,
        observe: &mut dyn FnMut(&Event),
    ) {
        observe(&Event::Received {
            index: self.index,
            pid: self.pid(),
            range: range.clone(),
            partial: multiproc_pi::finish(steps, partial.sum),
            compute_seconds: partial.compute_seconds,
        });
        self.done_before += range.end - range.start;
        self.ranges.push(range);
        self.sum.merge(partial.sum);
        self.compute_seconds += partial.compute_seconds;
        self.peak_rss_kib = self.peak_rss_kib.max(partial.peak_rss_kib);
        self.current = None;
        self.since = None;
    }

    /// The worker has gone away before its work was done: collect its exit status and say
    /// what happened.
    pub(super) fn lost(&mut self, observe: &mut dyn FnMut(&Event), when: &'static str) -> RunError {
        let pid = self.pid();
        let reaped = join_or_kill(&mut self.process, EXIT_WAIT);
        if let Ok(Reaped::Exited(code)) = reaped {
            observe(&Event::Exited {
                index: self.index,
                pid,
                exitcode: code,
            });
        }
        let failure = self.process.failure();
        let cause = Said::new(|| match &reaped {
            Ok(Reaped::Exited(code)) => format!(
                "{} {}",
                crate::lang::describe_exit(*code, failure),
                rust_i18n::t!(when)
            ),
            _ => rust_i18n::t!("fault.closed_without_result").into_owned(),
        });
        // It has no work any more: the error carries its range.
        self.since = None;
        RunError::Worker {
            index: self.index,
            pid: Some(pid),
            range: self.current.take(),
            cause,
        }
    }

    /// The worker sent a report that makes no sense (`why`): it is stopped, and the error
    /// stands as its loss, with the range it was computing.
    pub(super) fn misbehaved(
        &mut self,
        why: RunError,
        observe: &mut dyn FnMut(&Event),
    ) -> RunError {
        match why {
            RunError::Worker { cause, .. } => self.stop_as_lost(cause, observe),
            other => other,
        }
    }

    /// The worker sent bytes that are not a message (`what` says why they are not): it is
    /// stopped, and described as lost with its range.
    pub(super) fn sent_garbage(
        &mut self,
        what: &multiproc::Error,
        observe: &mut dyn FnMut(&Event),
    ) -> RunError {
        self.stop_as_lost(
            Said::new(|| {
                rust_i18n::t!("cause.garbage", what = crate::lang::runtime_error(what)).into_owned()
            }),
            observe,
        )
    }

    /// Waits for a worker whose work is over to exit, and checks that it exited cleanly.
    pub(super) fn reap(&mut self, observe: &mut dyn FnMut(&Event)) -> Result<(), RunError> {
        self.reap_within(EXIT_WAIT, observe)
    }

    /// As [`Worker::reap`], waiting up to `wait` (more than the usual second when hundreds of
    /// workers are told to stop at once and must each be scheduled to exit).
    pub(super) fn reap_within(
        &mut self,
        wait: Duration,
        observe: &mut dyn FnMut(&Event),
    ) -> Result<(), RunError> {
        let failed = |w: &Worker, cause: Said| RunError::Worker {
            index: w.index,
            pid: Some(w.pid()),
            range: None,
            cause,
        };
        let exitcode = match join_or_kill(&mut self.process, wait)? {
            Reaped::Exited(code) => code,
            Reaped::Killed(code) => {
                return Err(failed(
                    self,
                    Said::new(|| {
                        rust_i18n::t!(
                            "fault.did_not_exit",
                            seconds = format!("{:.1}", wait.as_secs_f64()),
                            code = code
                        )
                        .into_owned()
                    }),
                ));
            }
        };
        observe(&Event::Exited {
            index: self.index,
            pid: self.pid(),
            exitcode,
        });
        if exitcode != 0 {
            let failure = self.process.failure();
            let cause = Said::new(|| {
                let how = crate::lang::describe_exit(exitcode, failure);
                rust_i18n::t!("cause.then", how = how).into_owned()
            });
            return Err(failed(self, cause));
        }
        Ok(())
    }

    /// The worker's part of the finished run.
    pub(super) fn summary(&self, steps: u64) -> (WorkerRun, FixedSum) {
        let mut ranges = self.ranges.clone();
        ranges.sort_by_key(|r| r.start);
        let run = WorkerRun {
            index: self.index,
            pid: self.pid(),
            ranges,
            partial_sum: multiproc_pi::finish(steps, self.sum),
            compute_seconds: self.compute_seconds,
            exitcode: self.process.exitcode().unwrap_or(0),
            peak_rss_kib: self.peak_rss_kib,
            host: None,
        };
        (run, self.sum)
    }
}

/// `2 s`, `0.5 s`: a timeout as the user wrote it.
fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// The earliest deadline among `workers` under `timeout`, as a wait: how long until it, or
/// `poll` if that is sooner (`None` and no deadline: wait for ever).
pub(super) fn wait_for(
    workers: &[Worker],
    timeout: Option<Duration>,
    poll: Option<Duration>,
) -> Option<Duration> {
    let until = workers
        .iter()
        .filter_map(|w| w.deadline(timeout))
        .min()
        .map(|d| d.saturating_duration_since(Instant::now()));
    match (until, poll) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The first worker past its deadline, stopped and described.
pub(super) fn overdue(
    workers: &mut [Worker],
    timeout: Option<Duration>,
    observe: &mut dyn FnMut(&Event),
) -> Option<RunError> {
    let now = Instant::now();
    let timeout_value = timeout?;
    let late = workers
        .iter()
        .position(|w| w.deadline(timeout).is_some_and(|d| d <= now))?;
    Some(workers[late].timed_out(timeout_value, observe))
}

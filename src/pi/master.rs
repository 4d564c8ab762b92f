//! The distributed run behind `pi-master`: N worker processes, one duplex pipe each.
//!
//! The master starts every worker (a re-executed copy of itself), sends each its range over
//! its pipe, then waits on all pipes at once (and on the termination signals) and collects the
//! partial sums as they arrive. Data flows master → worker → master only.
//!
//! Faults are part of the design:
//! - a worker that dies is seen at once, as end of stream on its pipe; its exit status is then
//!   collected and the run fails with a message naming its index, pid, range and signal or exit
//!   status, after the other workers are stopped;
//! - SIGINT, SIGTERM or SIGHUP to the master stop every worker (SIGTERM, a grace period, then
//!   SIGKILL; a second signal kills at once), reap them, and end the run as interrupted;
//! - if the master is killed outright, its workers die with it (`PR_SET_PDEATHSIG`);
//! - every worker is reaped before `run` returns, whatever happened.

use std::fmt;
use std::ops::Range;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::partition;
use super::reduction::FixedSum;
use crate::connection::{Connection, Waitable, pipe, wait};
use crate::error::Error;
use crate::process::Process;
use crate::signals::{SIGHUP, SIGINT, SIGTERM, SignalWatch};

/// How long stopped workers get to exit after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(1);
/// How long a worker whose pipe closed may take to finish exiting.
const EXIT_WAIT: Duration = Duration::from_secs(1);

/// How partial results travel. Only pipes exist so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ipc {
    /// One duplex pipe between the master and each worker.
    Pipe,
}

impl fmt::Display for Ipc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ipc::Pipe => "pipe",
        })
    }
}

/// What to compute and how.
#[derive(Clone, Debug)]
pub struct Config {
    /// Worker processes to start (at least 1).
    pub procs: usize,
    /// Midpoint-rule steps (1 ..= [`partition::MAX_STEPS`]).
    pub steps: u64,
    /// The transport for ranges and results.
    pub ipc: Ipc,
    /// Whether workers report their progress as they go (a few messages per second each).
    pub progress: bool,
}

/// How often a worker reports progress, when asked to.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// A step of the run, reported as it happens (for `--verbose`).
#[derive(Clone, Debug)]
pub enum Event {
    /// Worker `index` runs as `pid`.
    Spawned {
        /// The worker's index.
        index: usize,
        /// Its pid.
        pid: u32,
    },
    /// The master sent worker `index` its range.
    Sent {
        /// The worker's index.
        index: usize,
        /// The range it must compute.
        range: Range<u64>,
    },
    /// A worker reported how far it has got.
    Progress {
        /// The worker's index.
        index: usize,
        /// Indices of its range computed so far.
        done: u64,
        /// Indices in its range.
        total: u64,
    },
    /// A partial sum arrived.
    Received {
        /// The worker's index.
        index: usize,
        /// Its pid.
        pid: u32,
        /// Its share of pi (its terms' sum divided by steps).
        partial: f64,
        /// The worker's own compute time.
        compute_seconds: f64,
    },
    /// A worker exited and was reaped.
    Exited {
        /// The worker's index.
        index: usize,
        /// Its pid.
        pid: u32,
        /// Exit status, or minus the signal number.
        exitcode: i32,
    },
    /// The master is stopping its workers, and why.
    Stopping {
        /// What happened.
        reason: String,
    },
}

/// One worker's part of a finished run.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerRun {
    /// Its index, 0-based.
    pub index: usize,
    /// Its pid.
    pub pid: u32,
    /// The `[start, end)` index ranges it computed.
    pub ranges: Vec<Range<u64>>,
    /// Its share of pi.
    pub partial_sum: f64,
    /// Seconds it spent computing, measured by itself.
    pub compute_seconds: f64,
    /// Its exit code.
    pub exitcode: i32,
    /// Its peak resident memory in KiB, as it measured it (`getrusage`).
    pub peak_rss_kib: u64,
}

/// A finished run.
#[derive(Clone, Debug)]
pub struct Run {
    /// The configuration it ran with.
    pub config: Config,
    /// The result.
    pub pi: f64,
    /// Wall-clock seconds from before the first spawn to after the last reap.
    pub wall_seconds: f64,
    /// The master's pid.
    pub master_pid: u32,
    /// Every worker, by index.
    pub workers: Vec<WorkerRun>,
}

/// Why a run did not finish.
#[derive(Debug)]
pub enum RunError {
    /// A termination signal arrived; every worker was stopped and reaped.
    Interrupted {
        /// The signal number.
        signal: i32,
    },
    /// A worker failed; the others were stopped and reaped.
    Worker {
        /// The worker's index.
        index: usize,
        /// Its pid, when it got one.
        pid: Option<u32>,
        /// The range it was given.
        range: Range<u64>,
        /// What happened to it.
        cause: String,
    },
    /// The runtime failed outside any one worker.
    Runtime(Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Interrupted { signal } => write!(
                f,
                "interrupted by {}; all workers were stopped",
                signal_name(*signal)
            ),
            RunError::Worker {
                index,
                pid,
                range,
                cause,
            } => {
                write!(f, "worker {index} (")?;
                if let Some(pid) = pid {
                    write!(f, "pid {pid}, ")?;
                }
                write!(f, "range [{}, {})) {cause}", range.start, range.end)
            }
            RunError::Runtime(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<Error> for RunError {
    fn from(e: Error) -> Self {
        RunError::Runtime(e)
    }
}

/// `SIGKILL` for 9, and so on.
pub fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {signal}"))
}

/// Master → worker.
#[derive(Serialize, Deserialize, Debug)]
enum ToWorker {
    /// Sum the terms of `start..end` (block-aligned) for a problem of `steps` steps, reporting
    /// progress if asked.
    Compute {
        steps: u64,
        start: u64,
        end: u64,
        progress: bool,
    },
    /// No more work.
    Stop,
}

/// Worker → master.
#[derive(Serialize, Deserialize, Debug)]
enum FromWorker {
    /// `done` indices of the current range are computed.
    Progress { done: u64 },
    /// The sum of a whole range.
    Partial {
        start: u64,
        end: u64,
        sum: FixedSum,
        compute_seconds: f64,
        peak_rss_kib: u64,
    },
}

/// This process's peak resident set size in KiB.
fn peak_rss_kib() -> u64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map_or(0, |u| u.max_rss().max(0) as u64)
}

#[derive(Serialize, Deserialize)]
struct PipeWorkerArgs {
    index: usize,
    conn: Connection,
}

/// A pipe worker: computes the ranges it is sent until told to stop.
fn pipe_worker(args: PipeWorkerArgs) -> Result<(), Error> {
    let mut conn = args.conn;
    loop {
        match conn.recv::<ToWorker>() {
            Ok(ToWorker::Compute {
                steps,
                start,
                end,
                progress,
            }) => {
                let aligned = start.is_multiple_of(partition::block_len(steps.max(1)));
                if !(1..=partition::MAX_STEPS).contains(&steps)
                    || start > end
                    || end > steps
                    || !aligned
                {
                    return Err(Error::state(format!(
                        "worker {} was sent an invalid range [{start}, {end}) of {steps} steps",
                        args.index
                    )));
                }
                let clock = Instant::now();
                let sum = if progress {
                    sum_with_progress(&mut conn, steps, start..end)?
                } else {
                    super::range_sum(steps, &(start..end))
                };
                let compute_seconds = clock.elapsed().as_secs_f64();
                conn.send(&FromWorker::Partial {
                    start,
                    end,
                    sum,
                    compute_seconds,
                    peak_rss_kib: peak_rss_kib(),
                })?;
            }
            Ok(ToWorker::Stop) => return Ok(()),
            Err(e) if e.is_closed() => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// [`super::range_sum`] in slices of blocks, sending a progress message every
/// [`PROGRESS_EVERY`]. The same blocks are summed, so the bits are the same.
fn sum_with_progress(
    conn: &mut Connection,
    steps: u64,
    range: Range<u64>,
) -> Result<FixedSum, Error> {
    let blocks = partition::blocks_of(steps, &range);
    let len = partition::block_len(steps);
    let mut total = FixedSum::ZERO;
    let mut last = Instant::now();
    let mut b = blocks.start;
    while b < blocks.end {
        // About a millisecond of work between clock readings.
        let upto = (b + (1 << 20) / len + 1).min(blocks.end);
        let slice = (b * len).min(steps)..(upto * len).min(steps);
        total.merge(super::range_sum(steps, &slice));
        b = upto;
        if last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            conn.send(&FromWorker::Progress {
                done: slice.end - range.start,
            })?;
        }
    }
    Ok(total)
}

struct Worker {
    index: usize,
    process: Process,
    conn: Connection,
    range: Range<u64>,
    result: Option<Finished>,
}

#[derive(Clone, Copy)]
struct Finished {
    sum: FixedSum,
    compute_seconds: f64,
    peak_rss_kib: u64,
}

impl Worker {
    fn pid(&self) -> u32 {
        self.process.pid().unwrap_or(0)
    }
}

/// Runs the computation described by `config`, reporting each step to `observe`.
pub fn run(config: &Config, observe: &mut dyn FnMut(&Event)) -> Result<Run, RunError> {
    assert!(config.procs >= 1, "at least one process");
    assert!(
        (1..=partition::MAX_STEPS).contains(&config.steps),
        "steps out of range"
    );
    let watch = SignalWatch::new(&[SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| Error::io("cannot watch for signals", e))?;
    let clock = Instant::now();
    let mut workers: Vec<Worker> = Vec::with_capacity(config.procs);
    let outcome = drive(config, &watch, &mut workers, observe);
    if outcome.is_err() {
        // Whatever went wrong, no worker outlives the run.
        stop_all(&mut workers, &watch, observe);
    }
    outcome?;

    let mut total = FixedSum::ZERO;
    let mut runs = Vec::with_capacity(workers.len());
    for w in &workers {
        let done = w.result.expect("every worker reported");
        total.merge(done.sum);
        runs.push(WorkerRun {
            index: w.index,
            pid: w.pid(),
            ranges: vec![w.range.clone()],
            partial_sum: super::finish(config.steps, done.sum),
            compute_seconds: done.compute_seconds,
            exitcode: w.process.exitcode().unwrap_or(0),
            peak_rss_kib: done.peak_rss_kib,
        });
    }
    let pi = super::finish(config.steps, total);
    Ok(Run {
        config: config.clone(),
        pi,
        wall_seconds: clock.elapsed().as_secs_f64(),
        master_pid: std::process::id(),
        workers: runs,
    })
}

fn interrupted(watch: &SignalWatch) -> Option<i32> {
    watch.take().first().copied()
}

fn drive(
    config: &Config,
    watch: &SignalWatch,
    workers: &mut Vec<Worker>,
    observe: &mut dyn FnMut(&Event),
) -> Result<(), RunError> {
    let ranges = partition::partition(config.steps, config.procs);
    for (index, range) in ranges.into_iter().enumerate() {
        if let Some(signal) = interrupted(watch) {
            return Err(RunError::Interrupted { signal });
        }
        let spawn_error = |cause: String| RunError::Worker {
            index,
            pid: None,
            range: range.clone(),
            cause,
        };
        let (conn, theirs) =
            pipe().map_err(|e| spawn_error(format!("could not be started: {e}")))?;
        let mut process = Process::new(
            pipe_worker,
            PipeWorkerArgs {
                index,
                conn: theirs,
            },
        )
        .with_name(format!("pi-worker-{index}"));
        process
            .start()
            .map_err(|e| spawn_error(format!("could not be started: {e}")))?;
        let worker = Worker {
            index,
            process,
            conn,
            range,
            result: None,
        };
        observe(&Event::Spawned {
            index,
            pid: worker.pid(),
        });
        workers.push(worker);
    }

    for w in workers.iter_mut() {
        let task = ToWorker::Compute {
            steps: config.steps,
            start: w.range.start,
            end: w.range.end,
            progress: config.progress,
        };
        if w.conn
            .send(&task)
            .and_then(|()| w.conn.send(&ToWorker::Stop))
            .is_err()
        {
            // It died before reading its range; say how.
            return Err(worker_lost(w, observe));
        }
        observe(&Event::Sent {
            index: w.index,
            range: w.range.clone(),
        });
    }

    let mut pending = workers.len();
    while pending > 0 {
        let waiting: Vec<usize> = (0..workers.len())
            .filter(|&i| workers[i].result.is_none())
            .collect();
        let mut objects: Vec<&dyn Waitable> = vec![watch];
        objects.extend(waiting.iter().map(|&i| &workers[i].conn as &dyn Waitable));
        let ready = wait(&objects, None)?;
        for slot in ready {
            if slot == 0 {
                if let Some(signal) = interrupted(watch) {
                    return Err(RunError::Interrupted { signal });
                }
                continue;
            }
            let w = &mut workers[waiting[slot - 1]];
            match w.conn.recv::<FromWorker>() {
                Ok(FromWorker::Progress { done }) => observe(&Event::Progress {
                    index: w.index,
                    done,
                    total: w.range.end - w.range.start,
                }),
                Ok(FromWorker::Partial {
                    start,
                    end,
                    sum,
                    compute_seconds,
                    peak_rss_kib,
                }) if start == w.range.start && end == w.range.end => {
                    w.result = Some(Finished {
                        sum,
                        compute_seconds,
                        peak_rss_kib,
                    });
                    pending -= 1;
                    observe(&Event::Received {
                        index: w.index,
                        pid: w.pid(),
                        partial: super::finish(config.steps, sum),
                        compute_seconds,
                    });
                }
                Ok(other) => {
                    return Err(RunError::Worker {
                        index: w.index,
                        pid: Some(w.pid()),
                        range: w.range.clone(),
                        cause: format!("sent a result for the wrong range: {other:?}"),
                    });
                }
                Err(_) => return Err(worker_lost(w, observe)),
            }
        }
    }

    for w in workers.iter_mut() {
        let exitcode = match w.process.join_timeout(EXIT_WAIT)? {
            Some(code) => code,
            None => {
                let _ = w.process.kill();
                let code = w.process.join()?;
                return Err(RunError::Worker {
                    index: w.index,
                    pid: Some(w.pid()),
                    range: w.range.clone(),
                    cause: format!(
                        "sent its result but did not exit within {} s; it was killed (exit code {code})",
                        EXIT_WAIT.as_secs()
                    ),
                });
            }
        };
        observe(&Event::Exited {
            index: w.index,
            pid: w.pid(),
            exitcode,
        });
        if exitcode != 0 {
            return Err(RunError::Worker {
                index: w.index,
                pid: Some(w.pid()),
                range: w.range.clone(),
                cause: format!(
                    "sent its result but then {}",
                    describe_exit(&w.process, exitcode)
                ),
            });
        }
    }
    Ok(())
}

/// The worker's pipe ended before its result: collect its exit status and say what happened.
fn worker_lost(w: &mut Worker, observe: &mut dyn FnMut(&Event)) -> RunError {
    let pid = w.pid();
    let cause = match w.process.join_timeout(EXIT_WAIT) {
        Ok(Some(code)) => {
            observe(&Event::Exited {
                index: w.index,
                pid,
                exitcode: code,
            });
            format!(
                "{} before sending its result",
                describe_exit(&w.process, code)
            )
        }
        _ => {
            let _ = w.process.kill();
            let _ = w.process.join();
            "closed its pipe without sending a result and did not exit; it was killed".to_string()
        }
    };
    RunError::Worker {
        index: w.index,
        pid: Some(pid),
        range: w.range.clone(),
        cause,
    }
}

fn describe_exit(process: &Process, code: i32) -> String {
    let mut text = if code < 0 {
        format!("was killed by signal {} ({})", -code, signal_name(-code))
    } else {
        format!("exited with status {code}")
    };
    if let Some(failure) = process.failure() {
        text.push_str(&format!(": it {failure}"));
    }
    text
}

/// Stops every live worker: SIGTERM, up to [`STOP_GRACE`] to exit, then SIGKILL; a further
/// signal to the master skips the grace period. Reaps them all.
fn stop_all(workers: &mut [Worker], watch: &SignalWatch, observe: &mut dyn FnMut(&Event)) {
    let live: Vec<usize> = (0..workers.len())
        .filter(|&i| workers[i].process.is_alive())
        .collect();
    if !live.is_empty() {
        observe(&Event::Stopping {
            reason: format!(
                "sending SIGTERM to {} worker(s), SIGKILL after {} s",
                live.len(),
                STOP_GRACE.as_secs()
            ),
        });
    }
    for &i in &live {
        let _ = workers[i].process.terminate();
    }
    let deadline = Instant::now() + STOP_GRACE;
    let mut hurry = false;
    for &i in &live {
        let w = &mut workers[i];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let slice = left.min(Duration::from_millis(20));
            match w.process.join_timeout(slice) {
                Ok(Some(code)) => {
                    observe(&Event::Exited {
                        index: w.index,
                        pid: w.pid(),
                        exitcode: code,
                    });
                    break;
                }
                Ok(None) if !hurry && !left.is_zero() => {
                    hurry = !watch.take().is_empty();
                }
                _ => {
                    let _ = w.process.kill();
                    if let Ok(code) = w.process.join() {
                        observe(&Event::Exited {
                            index: w.index,
                            pid: w.pid(),
                            exitcode: code,
                        });
                    }
                    break;
                }
            }
        }
    }
}

//! The distributed run behind `pi-master`: N worker processes, and two ways to talk to them.
//!
//! - [`Ipc::Pipe`] (module `pipes`): one duplex pipe per worker; the master sends each worker its
//!   whole range (a static split) and waits on all pipes at once for the partial sums.
//! - [`Ipc::Queue`] (module `queued`): the master puts chunks of the index range on one task queue
//!   and the workers take them as they become free (dynamic load balancing); partial sums come
//!   back on one result queue.
//!
//! Data flows master → worker → master only. Both modes compute the same blocks and add them
//! exactly, so they print the same bits.
//!
//! Faults are part of the design:
//! - a worker that dies is seen at once (end of stream on its pipe, or its process descriptor
//!   becoming ready); its exit status is collected and the run fails with a message naming its
//!   index, pid, range and signal or exit status, after the other workers are stopped;
//! - SIGINT, SIGTERM or SIGHUP to the master stop every worker (SIGTERM, a grace period, then
//!   SIGKILL; a second signal kills at once), reap them, and end the run as interrupted;
//! - if the master is killed outright, its workers die with it (`PR_SET_PDEATHSIG`);
//! - every worker is reaped before `run` returns, whatever happened.

mod pipes;
mod queued;

use std::fmt;
use std::ops::Range;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::partition;
use super::reduction::FixedSum;
use crate::error::Error;
use crate::process::Process;
use crate::signals::{SIGHUP, SIGINT, SIGTERM, SignalWatch};

/// How long stopped workers get to exit after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(1);
/// How long a worker whose work is over may take to exit.
const EXIT_WAIT: Duration = Duration::from_secs(1);
/// How often a worker reports progress, when asked to.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// How ranges and partial sums travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ipc {
    /// One duplex pipe between the master and each worker; a static split.
    Pipe,
    /// A task queue and a result queue shared by all; chunks taken as workers become free.
    Queue,
}

impl Ipc {
    /// Every mode, in the order `--compare` shows them.
    pub const ALL: [Ipc; 2] = [Ipc::Pipe, Ipc::Queue];
}

impl fmt::Display for Ipc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ipc::Pipe => "pipe",
            Ipc::Queue => "queue",
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
    /// Chunks the range is cut into in queue mode (`None`: [`default_chunks`]); clamped to
    /// the number of blocks.
    pub chunks: Option<u64>,
    /// Whether workers report their progress as they go (a few messages per second each).
    pub progress: bool,
}

/// The chunks queue mode uses by default: four per worker, so a fast worker can take more.
pub fn default_chunks(procs: usize) -> u64 {
    4 * procs as u64
}

/// The chunk ranges of queue mode: `chunks` (clamped to the blocks there are) contiguous,
/// block-aligned ranges covering `[0, steps)`.
pub fn chunk_ranges(steps: u64, chunks: u64) -> Vec<Range<u64>> {
    let blocks = partition::block_count(steps);
    let len = partition::block_len(steps);
    let chunks = chunks.clamp(1, blocks);
    partition::split(blocks, chunks as usize)
        .into_iter()
        .map(|b| (b.start * len).min(steps)..(b.end * len).min(steps))
        .collect()
}

/// A step of the run, reported as it happens (for `--verbose` and progress).
#[derive(Clone, Debug)]
pub enum Event {
    /// Worker `index` runs as `pid`.
    Spawned {
        /// The worker's index.
        index: usize,
        /// Its pid.
        pid: u32,
    },
    /// The master sent worker `index` its range over its pipe.
    Sent {
        /// The worker's index.
        index: usize,
        /// The range it must compute.
        range: Range<u64>,
    },
    /// The master put chunks on the task queue.
    Queued {
        /// How many chunks.
        chunks: usize,
    },
    /// Worker `index` took a chunk from the task queue.
    Took {
        /// The worker's index.
        index: usize,
        /// The chunk.
        range: Range<u64>,
    },
    /// A worker reported how far it has got.
    Progress {
        /// The worker's index.
        index: usize,
        /// Indices it has computed so far in this run.
        done: u64,
    },
    /// A partial sum arrived.
    Received {
        /// The worker's index.
        index: usize,
        /// Its pid.
        pid: u32,
        /// The range it covers.
        range: Range<u64>,
        /// Its share of pi (its terms' sum divided by steps).
        partial: f64,
        /// The worker's own compute time for it.
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
    /// The `[start, end)` index ranges it computed, in order.
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

/// Messages and bytes that crossed between master and workers, as the master counted them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    /// Messages sent or received by the master.
    pub messages: u64,
    /// Their bytes, frame headers included.
    pub bytes: u64,
}

/// A finished run.
#[derive(Clone, Debug)]
pub struct Run {
    /// The configuration it ran with (for queue mode, `chunks` holds the number used).
    pub config: Config,
    /// The result.
    pub pi: f64,
    /// Wall-clock seconds from before the first spawn to after the last reap.
    pub wall_seconds: f64,
    /// The master's pid.
    pub master_pid: u32,
    /// Every worker, by index.
    pub workers: Vec<WorkerRun>,
    /// What crossed between master and workers.
    pub traffic: Traffic,
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
        /// The range it was computing, if any.
        range: Option<Range<u64>>,
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
                match range {
                    Some(r) => write!(f, "range [{}, {})", r.start, r.end)?,
                    None => write!(f, "between chunks")?,
                }
                write!(f, ") {cause}")
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

/// What a worker sends back for one range.
#[derive(Serialize, Deserialize, Debug, Clone, Copy)]
struct Partial {
    sum: FixedSum,
    compute_seconds: f64,
    peak_rss_kib: u64,
}

/// This process's peak resident set size in KiB.
fn peak_rss_kib() -> u64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map_or(0, |u| u.max_rss().max(0) as u64)
}

/// Checks a range a worker was sent: inside `[0, steps)` and block-aligned.
fn check_range(steps: u64, range: &Range<u64>) -> Result<(), Error> {
    let aligned = range
        .start
        .is_multiple_of(partition::block_len(steps.max(1)));
    if !(1..=partition::MAX_STEPS).contains(&steps)
        || range.start > range.end
        || range.end > steps
        || !aligned
    {
        return Err(Error::state(format!(
            "invalid range [{}, {}) of {steps} steps",
            range.start, range.end
        )));
    }
    Ok(())
}

/// Sums `range`, calling `report(done)` about every [`PROGRESS_EVERY`] when `progress` is set.
/// The same blocks are summed either way, so the bits are the same.
fn compute(
    steps: u64,
    range: Range<u64>,
    progress: bool,
    report: &mut dyn FnMut(u64) -> Result<(), Error>,
) -> Result<Partial, Error> {
    check_range(steps, &range)?;
    let clock = Instant::now();
    let sum = if progress {
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
                report(slice.end - range.start)?;
            }
        }
        total
    } else {
        super::range_sum(steps, &range)
    };
    Ok(Partial {
        sum,
        compute_seconds: clock.elapsed().as_secs_f64(),
        peak_rss_kib: peak_rss_kib(),
    })
}

/// The master's view of one worker.
struct Worker {
    index: usize,
    process: Process,
    /// The range it is computing now (pipe mode: its whole range, until the result arrives).
    current: Option<Range<u64>>,
    /// Ranges it has finished, in order.
    ranges: Vec<Range<u64>>,
    sum: FixedSum,
    compute_seconds: f64,
    peak_rss_kib: u64,
    /// Indices finished before the current range (for progress).
    done_before: u64,
}

impl Worker {
    fn new(index: usize, process: Process) -> Worker {
        Worker {
            index,
            process,
            current: None,
            ranges: Vec::new(),
            sum: FixedSum::ZERO,
            compute_seconds: 0.0,
            peak_rss_kib: 0,
            done_before: 0,
        }
    }

    fn pid(&self) -> u32 {
        self.process.pid().unwrap_or(0)
    }

    /// Reports that the worker has computed `done` indices of its current range.
    fn progress(&self, done: u64, observe: &mut dyn FnMut(&Event)) {
        observe(&Event::Progress {
            index: self.index,
            done: self.done_before + done,
        });
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
            partial: super::finish(steps, partial.sum),
            compute_seconds: partial.compute_seconds,
        });
        self.done_before += range.end - range.start;
        self.ranges.push(range);
        self.sum.merge(partial.sum);
        self.compute_seconds += partial.compute_seconds;
        self.peak_rss_kib = self.peak_rss_kib.max(partial.peak_rss_kib);
        self.current = None;
    }

    /// The worker has gone away before its work was done: collect its exit status and say
    /// what happened.
    fn lost(&mut self, observe: &mut dyn FnMut(&Event), when: &str) -> RunError {
        let pid = self.pid();
        let cause = match self.process.join_timeout(EXIT_WAIT) {
            Ok(Some(code)) => {
                observe(&Event::Exited {
                    index: self.index,
                    pid,
                    exitcode: code,
                });
                format!("{} {when}", describe_exit(&self.process, code))
            }
            _ => {
                let _ = self.process.kill();
                let _ = self.process.join();
                "closed its channel without sending a result and did not exit; it was killed"
                    .to_string()
            }
        };
        RunError::Worker {
            index: self.index,
            pid: Some(pid),
            range: self.current.clone(),
            cause,
        }
    }

    /// Waits for a worker whose work is over to exit, and checks that it exited cleanly.
    fn reap(&mut self, observe: &mut dyn FnMut(&Event)) -> Result<(), RunError> {
        let exitcode = match self.process.join_timeout(EXIT_WAIT)? {
            Some(code) => code,
            None => {
                let _ = self.process.kill();
                let code = self.process.join()?;
                return Err(RunError::Worker {
                    index: self.index,
                    pid: Some(self.pid()),
                    range: None,
                    cause: format!(
                        "finished its work but did not exit within {} s; it was killed (exit code {code})",
                        EXIT_WAIT.as_secs()
                    ),
                });
            }
        };
        observe(&Event::Exited {
            index: self.index,
            pid: self.pid(),
            exitcode,
        });
        if exitcode != 0 {
            return Err(RunError::Worker {
                index: self.index,
                pid: Some(self.pid()),
                range: None,
                cause: format!(
                    "finished its work but then {}",
                    describe_exit(&self.process, exitcode)
                ),
            });
        }
        Ok(())
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

fn interrupted(watch: &SignalWatch) -> Option<i32> {
    watch.take().first().copied()
}

/// Runs the computation described by `config`, reporting each step to `observe`.
pub fn run(config: &Config, observe: &mut dyn FnMut(&Event)) -> Result<Run, RunError> {
    if config.procs == 0 || config.procs as u64 > super::input::MAX_PROCS {
        return Err(Error::state(format!(
            "a run needs 1 to {} worker processes, not {}",
            super::input::MAX_PROCS,
            config.procs
        ))
        .into());
    }
    if !(1..=partition::MAX_STEPS).contains(&config.steps) {
        return Err(Error::state(format!(
            "a run needs 1 to {} steps, not {}",
            partition::MAX_STEPS,
            config.steps
        ))
        .into());
    }
    let watch = SignalWatch::new(&[SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| Error::io("cannot watch for signals", e))?;
    let clock = Instant::now();
    let mut workers: Vec<Worker> = Vec::with_capacity(config.procs);
    let mut config = config.clone();
    let outcome = match config.ipc {
        Ipc::Pipe => pipes::drive(&config, &watch, &mut workers, observe),
        Ipc::Queue => {
            let chunks = chunk_ranges(
                config.steps,
                config.chunks.unwrap_or(default_chunks(config.procs)),
            );
            config.chunks = Some(chunks.len() as u64);
            queued::drive(&config, chunks, &watch, &mut workers, observe)
        }
    };
    let traffic = match outcome {
        Ok(traffic) => traffic,
        Err(e) => {
            // Whatever went wrong, no worker outlives the run.
            stop_all(&mut workers, &watch, observe);
            return Err(e);
        }
    };

    let mut total = FixedSum::ZERO;
    let runs = workers
        .iter()
        .map(|w| {
            total.merge(w.sum);
            let mut ranges = w.ranges.clone();
            ranges.sort_by_key(|r| r.start);
            WorkerRun {
                index: w.index,
                pid: w.pid(),
                ranges,
                partial_sum: super::finish(config.steps, w.sum),
                compute_seconds: w.compute_seconds,
                exitcode: w.process.exitcode().unwrap_or(0),
                peak_rss_kib: w.peak_rss_kib,
            }
        })
        .collect();
    Ok(Run {
        pi: super::finish(config.steps, total),
        config,
        wall_seconds: clock.elapsed().as_secs_f64(),
        master_pid: std::process::id(),
        workers: runs,
        traffic,
    })
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

//! The distributed run behind `pi-master`: N worker processes, and two ways to talk to them.
//!
//! - [`Ipc::Pipe`] (`pipes.rs`): one duplex pipe per worker; the master sends each worker its
//!   whole range (a static split) and waits on all pipes at once for the partial sums.
//! - [`Ipc::Queue`] (`queued.rs`): the master puts chunks of the index range on one task queue
//!   and the workers take them as they become free (dynamic load balancing); partial sums come
//!   back on one result queue.
//! - [`Ipc::Shm`] (`shm.rs`): each worker is given its range with its arguments, writes its
//!   partial sum into its own slot of a shared `Array`, and releases a `Semaphore`; nothing
//!   travels through a pipe after start-up.
//! - [`Ipc::ShmChannel`] (`pipes.rs` too): the pipe mode's messages over a shared-memory
//!   channel per worker.
//! - [`Ipc::Pool`] (`pooled.rs`): the chunks mapped over a `multiproc::pool::Pool`.
//! - [`Ipc::Mpi`] ([`mpi`]): the ranks of an `mpiexec` job, with the `mpi` feature.
//!
//! The other files: `plan.rs` cuts the work once for every mode and validates it; `worker.rs`
//! is what runs in a worker; `watch.rs` is the master's view of one worker; `driver.rs`
//! starts the workers and assembles the run; `shutdown.rs` stops them when something goes
//! wrong. Data flows master → worker → master only. Both modes compute the same blocks and
//! add them exactly, so they print the same bits.
//!
//! Faults are part of the design:
//! - a worker that dies is seen at once (end of stream on its pipe, or its process descriptor
//!   becoming ready); its exit status is collected and the run fails with a message naming its
//!   index, pid, range and signal or exit status, after the other workers are stopped;
//! - SIGINT, SIGTERM or SIGHUP to the master stop every worker (SIGTERM, a grace period, then
//!   SIGKILL; a second signal kills at once), reap them, and end the run as interrupted;
//! - if the master is killed outright, its workers die with it (`PR_SET_PDEATHSIG`);
//! - every worker is reaped before [`run`] returns, whatever happened.

mod driver;
mod fault;
pub mod mpi;
mod pipes;
mod plan;
mod pooled;
mod queued;
mod shm;
mod shutdown;
mod watch;
mod worker;

multiproc::targets!(
    /// What the master's workers run: each mode's worker, and the pool mode's task.
    pub static TARGETS = [worker::worker_main, ..pooled::TARGETS]
);

use crate::lang::Said;
use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

pub use driver::run;
pub use plan::{Plan, default_chunks};

/// What carried a worker's range to it (for the narration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// Its pipe.
    Pipe,
    /// Its shared-memory channel.
    ShmChannel,
}

impl Via {
    /// `its pipe`, in the language chosen.
    pub fn words(self) -> String {
        match self {
            Via::Pipe => rust_i18n::t!("narrate.via_pipe"),
            Via::ShmChannel => rust_i18n::t!("narrate.via_shm"),
        }
        .into_owned()
    }
}

/// How ranges and partial sums travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ipc {
    /// One duplex pipe between the master and each worker; a static split.
    Pipe,
    /// A task queue and a result queue shared by all; chunks taken as workers become free.
    Queue,
    /// Shared memory: each worker writes its partial sum into its own slot of a shared
    /// `Array` and says so through a `Semaphore`; no pipe carries a result.
    Shm,
    /// The pipe mode's messages over a shared-memory channel (`multiproc::ShmConnection`)
    /// per worker instead of a pipe.
    #[serde(rename = "shm-channel")]
    ShmChannel,
    /// A `Pool`: the chunks mapped over its workers, which it replaces if they die.
    Pool,
    /// MPI: the ranks started by `mpiexec` are the workers; each computes its own range and
    /// rank 0 gathers the partial sums (see [`mpi`]).
    Mpi,
}

impl Ipc {
    /// Every mode, in the order `--compare` shows them.
    pub const ALL: [Ipc; 5] = [Ipc::Pipe, Ipc::Queue, Ipc::Shm, Ipc::ShmChannel, Ipc::Pool];
}

impl fmt::Display for Ipc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ipc::Pipe => "pipe",
            Ipc::Queue => "queue",
            Ipc::Shm => "shm",
            Ipc::ShmChannel => "shm-channel",
            Ipc::Pool => "pool",
            Ipc::Mpi => "mpi",
        })
    }
}

/// What to compute and how, as asked for; [`Plan::new`] checks it and cuts the work.
#[derive(Clone, Debug)]
pub struct Config {
    /// Worker processes to start (1 ..= [`multiproc_pi::input::MAX_PROCS`]).
    pub procs: usize,
    /// Midpoint-rule steps (1 ..= [`multiproc_pi::partition::MAX_STEPS`]).
    pub steps: u64,
    /// The transport for ranges and results.
    pub ipc: Ipc,
    /// Chunks the range is cut into in queue mode (`None`: [`default_chunks`]); clamped to
    /// the number of blocks.
    pub chunks: Option<u64>,
    /// Whether workers report their progress as they go (a few messages per second each).
    pub progress: bool,
    /// How long a worker may take to deliver the result of the work it was given (its range,
    /// or its chunk) before it is stopped and the run fails naming it; `None`: no limit.
    pub timeout: Option<std::time::Duration>,
    /// Workers that died or timed out may be replaced this many times in all, their
    /// unfinished work computed again by the new worker (to the same bits); 0: the first
    /// lost worker fails the run.
    pub retries: u32,
}

/// A worker lost and replaced under [`Config::retries`].
#[derive(Clone, Debug, Serialize)]
pub struct Retry {
    /// The worker's index (the new worker takes the same).
    pub index: usize,
    /// The pid of the worker that was lost.
    pub pid: Option<u32>,
    /// The range it had not finished, computed again by the new worker (`None`: it was lost
    /// between chunks, with nothing unfinished).
    pub range: Option<Range<u64>>,
    /// What happened to it.
    pub cause: Said,
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
    /// The master sent worker `index` its range over its pipe (or channel).
    Sent {
        /// The worker's index.
        index: usize,
        /// The range it must compute.
        range: Range<u64>,
        /// What carried it.
        via: Via,
    },
    /// Worker `index` was given its range with its arguments (shm mode).
    Assigned {
        /// The worker's index.
        index: usize,
        /// The range it must compute.
        range: Range<u64>,
    },
    /// The master gave the chunks to the pool (pool mode).
    Mapped {
        /// How many chunks.
        chunks: usize,
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
    /// A worker was lost; a new one takes its place and its unfinished range.
    Retrying {
        /// What was lost and why.
        retry: Retry,
        /// Which retry this is (1-based), and how many are allowed.
        attempt: u32,
        /// Retries allowed in all.
        allowed: u32,
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
    /// The host it ran on (MPI ranks only: the others run beside their master).
    pub host: Option<String>,
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
    /// Workers lost and replaced on the way (with `--retries`), in order.
    pub retries: Vec<Retry>,
}

/// Why a run did not finish.
#[derive(Debug)]
pub enum RunError {
    /// The configuration cannot run (no processes, too many steps, ...).
    Invalid(String),
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
        cause: Said,
    },
    /// The run failed in a way no one worker is to blame for.
    Failed(String),
    /// The runtime failed outside any one worker.
    Runtime(multiproc::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Invalid(why) | RunError::Failed(why) => write!(f, "{why}"),
            RunError::Interrupted { signal } => write!(
                f,
                "{}",
                rust_i18n::t!(
                    "error.interrupted",
                    signal = multiproc::supervise::signal_name(*signal)
                )
            ),
            RunError::Worker {
                index,
                pid,
                range,
                cause,
            } => {
                use rust_i18n::t;
                write!(f, "{} ", t!("error.worker", index = index))?;
                match (pid, range) {
                    (Some(pid), Some(r)) => write!(
                        f,
                        "({}) ",
                        t!(
                            "report.who_pid_range",
                            pid = pid,
                            start = r.start,
                            end = r.end
                        )
                    )?,
                    (Some(pid), None) => write!(f, "({}) ", t!("report.who_pid", pid = pid))?,
                    (None, Some(r)) => write!(
                        f,
                        "({}) ",
                        t!("report.who_range", start = r.start, end = r.end)
                    )?,
                    (None, None) => {}
                }
                write!(f, "{cause}")
            }
            RunError::Runtime(e) => write!(f, "{}", crate::lang::runtime_error(e)),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Runtime(e) => Some(e),
            _ => None,
        }
    }
}

impl From<multiproc::Error> for RunError {
    fn from(e: multiproc::Error) -> Self {
        RunError::Runtime(e)
    }
}

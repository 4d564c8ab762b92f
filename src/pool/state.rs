//! What the callers of a pool and its thread share: the queue of chunks, each call's results
//! as they come in, the idle workers' parked connections, and the lock and condition
//! variable around them ([`Inner`]), with the pipe that wakes the pool's thread.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::task::{Initializer, TaskError};
use crate::connection::Connection;
use crate::error::Result;
use crate::os;

/// How the pool was set up.
#[derive(Clone, Debug)]
pub(super) struct Config {
    pub(super) processes: usize,
    pub(super) initializer: Option<Initializer>,
    pub(super) maxtasksperchild: Option<usize>,
    pub(super) task_timeout: Option<Duration>,
    pub(super) start_method: crate::start::StartMethod,
}

/// One chunk waiting to be run.
#[derive(Clone, Debug)]
pub(super) struct Chunk {
    pub(super) job: u64,
    pub(super) slot: usize,
    pub(super) task: super::task::Task,
    pub(super) args: Vec<u8>,
}

/// Where one chunk's result is.
#[derive(Debug, Default)]
pub(super) enum ChunkResult {
    /// Not in yet.
    #[default]
    Pending,
    /// In: the encoded results, or why there are none.
    Ready(std::result::Result<Vec<u8>, TaskError>),
    /// Moved out to be decoded by the caller (its bytes are no longer here).
    Taken,
}

impl ChunkResult {
    /// Moves a ready result out, leaving `Taken`.
    pub(super) fn take(&mut self) -> Option<std::result::Result<Vec<u8>, TaskError>> {
        match std::mem::replace(self, ChunkResult::Taken) {
            ChunkResult::Ready(r) => Some(r),
            other => {
                *self = other;
                None
            }
        }
    }
}

/// The results of one call (`map`, `apply_async`, ...): one per chunk, as they arrive.
#[derive(Debug, Default)]
pub(super) struct Job {
    pub(super) results: Vec<ChunkResult>,
    /// Chunk slots in the order they finished.
    pub(super) order: Vec<usize>,
    pub(super) remaining: usize,
    /// Nobody will read the results (the caller dropped its handle): the job is forgotten
    /// once its last chunk is in.
    pub(super) abandoned: bool,
}

impl Job {
    /// A job of `chunks` chunks, none in yet.
    pub(super) fn new(chunks: usize) -> Job {
        Job {
            results: std::iter::repeat_with(ChunkResult::default)
                .take(chunks)
                .collect(),
            order: Vec::with_capacity(chunks),
            remaining: chunks,
            abandoned: false,
        }
    }
}

/// What the callers and the pool thread share.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) queue: VecDeque<Chunk>,
    pub(super) jobs: HashMap<u64, Job>,
    pub(super) next_job: u64,
    /// Calls still queueing their chunks: the pool does not wind down under them.
    pub(super) submitting: usize,
    pub(super) closed: bool,
    pub(super) terminate: bool,
    /// The pool thread has stopped: no result will come any more.
    pub(super) finished: bool,
    /// The workers' pids, now.
    pub(super) pids: Vec<u32>,
    /// Set once the first workers are started (or could not be).
    pub(super) started: Option<std::result::Result<(), String>>,
    /// Idle workers' connections, for `apply` to borrow.
    pub(super) idle: Vec<Parked>,
    /// Workers a caller is using now.
    pub(super) borrowed: Vec<u64>,
    /// Workers handed back by callers, for the pool thread to take in.
    pub(super) returned: Vec<Returned>,
    /// How workers that died in a caller's hands ended (their pid, and how), until the caller
    /// reads it.
    pub(super) deaths: HashMap<u64, (u32, String, Option<i32>)>,
}

/// An idle worker's connection, parked where a caller can borrow it.
#[derive(Debug)]
pub(super) struct Parked {
    pub(super) id: u64,
    pub(super) pid: u32,
    pub(super) conn: Connection,
    /// Tasks it has run (for `maxtasksperchild`).
    pub(super) done: usize,
}

/// A borrowed worker coming back.
#[derive(Debug)]
pub(super) struct Returned {
    pub(super) worker: Parked,
    pub(super) state: ReturnedState,
}

/// How a borrowed worker came back.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ReturnedState {
    /// It ran its task and may run more.
    Healthy,
    /// It did its `maxtasksperchild`: to be stopped and replaced.
    Retire,
    /// Its connection broke: it died, to be reaped (the caller waits for how).
    Dead,
    /// It ran past the task timeout: to be killed and replaced.
    TooSlow,
}

/// The shared half of a pool.
#[derive(Debug)]
pub(super) struct Inner {
    pub(super) state: Mutex<State>,
    pub(super) changed: Condvar,
    wake: OwnedFd,
}

impl Inner {
    pub(super) fn new() -> Result<(Inner, OwnedFd)> {
        let (read, write) =
            os::pipe_nonblocking().map_err(|e| crate::Error::io("cannot create a pipe", e))?;
        Ok((
            Inner {
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
                wake: write,
            },
            read,
        ))
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sleeps until the state changes (or a spurious wake-up).
    pub(super) fn wait_changed<'a>(&'a self, s: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(s).unwrap_or_else(|p| p.into_inner())
    }

    /// As [`Inner::wait_changed`], at most until `deadline` (none: no limit): the guard back,
    /// or `None` once the deadline has passed.
    pub(super) fn wait_changed_until<'a>(
        &'a self,
        s: MutexGuard<'a, State>,
        deadline: Option<Instant>,
    ) -> Option<MutexGuard<'a, State>> {
        let Some(deadline) = deadline else {
            return Some(self.wait_changed(s));
        };
        let left = deadline.checked_duration_since(Instant::now())?;
        Some(
            self.changed
                .wait_timeout(s, left)
                .unwrap_or_else(|p| p.into_inner())
                .0,
        )
    }

    /// Forgets `job` once its results are all in: its caller will not read them.
    pub(super) fn abandon(&self, job: u64) {
        let mut s = self.lock();
        if let Some(j) = s.jobs.get_mut(&job) {
            if j.remaining == 0 {
                s.jobs.remove(&job);
            } else {
                j.abandoned = true;
            }
        }
    }

    /// Tells the pool thread to look at the state again.
    pub(super) fn wake(&self) {
        let _ = os::write_nonblocking(self.wake.as_fd(), &[1]);
    }
}

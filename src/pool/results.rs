//! What a pool call gives back: [`AsyncResult`] (one result, or a `map`'s, still to come)
//! and [`Results`] (`imap`'s, as they come), both decoding the chunks the workers returned.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::engine::{Inner, Job};
use super::task::TaskError;
use crate::codec;
use crate::error::Error;

/// Why a pool call did not give all its results.
#[derive(Debug)]
#[non_exhaustive]
pub enum PoolError {
    /// Some tasks failed: their positions in the input, and why. The others succeeded.
    Tasks(Vec<(usize, TaskError)>),
    /// The caller's timeout passed first; the tasks still running were killed with their
    /// workers, which were replaced.
    Timeout,
    /// The pool itself failed (could not start its workers, was terminated, was misused).
    Pool(Error),
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolError::Tasks(failed) => {
                write!(f, "{} task(s) failed", failed.len())?;
                for (i, e) in failed.iter().take(3) {
                    write!(f, "; task {i}: {e}")?;
                }
                if failed.len() > 3 {
                    write!(f, "; ...")?;
                }
                Ok(())
            }
            PoolError::Timeout => write!(f, "timed out waiting for the result"),
            PoolError::Pool(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PoolError::Pool(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Error> for PoolError {
    fn from(e: Error) -> Self {
        PoolError::Pool(e)
    }
}

/// A result still to come, like Python's `AsyncResult`.
pub struct AsyncResult<R> {
    pub(super) inner: Arc<Inner>,
    pub(super) job: u64,
    /// Inputs per chunk.
    pub(super) lens: Vec<usize>,
    pub(super) finish: Finish<R>,
}

/// Assembles a finished job's result from its chunks.
pub(super) type Finish<R> = fn(&[usize], Job) -> std::result::Result<R, PoolError>;

impl<R> std::fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .finish_non_exhaustive()
    }
}

impl<R> AsyncResult<R> {
    /// A result for a job that could not be queued: ready at once, with nothing in it.
    pub(super) fn refused(inner: Arc<Inner>, finish: Finish<R>) -> Self {
        let mut s = inner.lock();
        let job = s.next_job;
        s.next_job += 1;
        s.jobs.insert(job, Job::default());
        drop(s);
        AsyncResult {
            inner,
            job,
            lens: Vec::new(),
            finish,
        }
    }

    /// Whether every result is in.
    pub fn ready(&self) -> bool {
        let s = self.inner.lock();
        s.finished || s.jobs.get(&self.job).is_none_or(|j| j.remaining == 0)
    }

    /// Waits at most `timeout` (`None`: as long as it takes) for every result; whether they
    /// are in.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut s = self.inner.lock();
        loop {
            if s.finished || s.jobs.get(&self.job).is_none_or(|j| j.remaining == 0) {
                return true;
            }
            let left = match deadline {
                None => Duration::from_secs(3600),
                Some(d) if Instant::now() >= d => return false,
                Some(d) => d - Instant::now(),
            };
            s = self
                .inner
                .changed
                .wait_timeout(s, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// The tasks that have failed so far (their positions in the input, and why), while the
    /// others may still run: for a caller that gives up at the first failure.
    pub fn failures(&self) -> Vec<(usize, TaskError)> {
        let s = self.inner.lock();
        let Some(job) = s.jobs.get(&self.job) else {
            return Vec::new();
        };
        let mut failed = Vec::new();
        let mut first = 0;
        for (slot, len) in self.lens.iter().enumerate() {
            if let Some(Some(Err(e))) = job.results.get(slot) {
                failed.extend((first..first + len).map(|i| (i, e.clone())));
            }
            first += len;
        }
        failed
    }

    /// Whether every task succeeded (false while results are missing).
    pub fn successful(&self) -> bool {
        let s = self.inner.lock();
        s.jobs
            .get(&self.job)
            .is_some_and(|j| j.remaining == 0 && j.results.iter().all(|r| matches!(r, Some(Ok(_)))))
    }

    /// Gives up: the chunks still running are killed with their workers, the others dropped.
    fn give_up(&self) {
        let mut s = self.inner.lock();
        let job = self.job;
        s.queue.retain(|c| c.job != job);
        if let Some(j) = s.jobs.get_mut(&job) {
            j.deadline = Some(Instant::now());
            for r in j.results.iter_mut().filter(|r| r.is_none()) {
                *r = Some(Err(TaskError::Cancelled));
            }
        }
        drop(s);
        self.inner.wake();
    }
}

impl<R> AsyncResult<R> {
    /// Waits for the result (at most `timeout`; then the tasks still running are killed with
    /// their workers, which are replaced, and [`PoolError::Timeout`] is returned). For `map`,
    /// the results in input order, or [`PoolError::Tasks`] naming the inputs that failed.
    pub fn get(self, timeout: Option<Duration>) -> std::result::Result<R, PoolError> {
        if !self.wait(timeout) {
            self.give_up();
            return Err(PoolError::Timeout);
        }
        let job = self.inner.lock().jobs.remove(&self.job).unwrap_or_default();
        (self.finish)(&self.lens, job)
    }
}

/// Every outcome of a job, decoded, in input order.
fn outcomes<T: DeserializeOwned>(
    lens: &[usize],
    job: Job,
) -> Vec<std::result::Result<T, TaskError>> {
    let mut results = job.results.into_iter();
    lens.iter()
        .flat_map(|len| chunk_outcomes(results.next().flatten(), *len))
        .collect()
}

/// The outcomes of one chunk of `len` inputs: its results decoded, or its error (or, when it
/// never ran, `Cancelled`) for each input.
fn chunk_outcomes<T: DeserializeOwned>(
    result: Option<std::result::Result<Vec<u8>, TaskError>>,
    len: usize,
) -> Vec<std::result::Result<T, TaskError>> {
    let error = match result {
        Some(Ok(bytes)) => match codec::decode_payload(&bytes) {
            Ok(items) => return items,
            Err(e) => TaskError::Codec(e.to_string()),
        },
        Some(Err(e)) => e,
        None => TaskError::Cancelled,
    };
    (0..len).map(|_| Err(error.clone())).collect()
}

/// A `map`'s result: every value, or the failures.
pub(super) fn finish_many<T: DeserializeOwned>(
    lens: &[usize],
    job: Job,
) -> std::result::Result<Vec<T>, PoolError> {
    let mut values = Vec::new();
    let mut failed = Vec::new();
    for (i, outcome) in outcomes::<T>(lens, job).into_iter().enumerate() {
        match outcome {
            Ok(v) => values.push(v),
            Err(e) => failed.push((i, e)),
        }
    }
    if failed.is_empty() {
        Ok(values)
    } else {
        Err(PoolError::Tasks(failed))
    }
}

/// An `apply`'s result.
pub(super) fn finish_one<T: DeserializeOwned>(
    lens: &[usize],
    job: Job,
) -> std::result::Result<T, PoolError> {
    match outcomes::<T>(lens, job).pop() {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(PoolError::Tasks(vec![(0, e)])),
        None => Err(PoolError::Pool(Error::misuse(
            "the pool refused the task (it is closed)",
        ))),
    }
}

/// The results of `imap` or `imap_unordered`, as they come.
#[derive(Debug)]
pub struct Results<R> {
    inner: Arc<Inner>,
    job: u64,
    lens: Vec<usize>,
    ordered: bool,
    /// Where each chunk starts in the input.
    starts: Vec<usize>,
    /// Chunks handed out so far (in order, or in finishing order).
    next_chunk: usize,
    pending: std::collections::VecDeque<(usize, std::result::Result<R, TaskError>)>,
}

impl<R> Results<R> {
    /// The results of `job` (a `map`'s), one input at a time, in input or finishing order.
    pub(super) fn new<T>(job: AsyncResult<T>, ordered: bool) -> Self {
        let AsyncResult {
            inner, job, lens, ..
        } = job;
        let starts = lens
            .iter()
            .scan(0, |at, len| {
                let start = *at;
                *at += len;
                Some(start)
            })
            .collect();
        Results {
            inner,
            job,
            lens,
            ordered,
            starts,
            next_chunk: 0,
            pending: Default::default(),
        }
    }
}

impl<R: DeserializeOwned> Iterator for Results<R> {
    /// Each input's position and outcome.
    type Item = (usize, std::result::Result<R, TaskError>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.next_chunk >= self.lens.len() {
                self.inner.lock().jobs.remove(&self.job);
                return None;
            }
            let mut s = self.inner.lock();
            let (slot, result) = loop {
                let job = s.jobs.get_mut(&self.job)?;
                let slot = if self.ordered {
                    Some(self.next_chunk).filter(|&c| job.results[c].is_some())
                } else {
                    job.order.get(self.next_chunk).copied()
                };
                if let Some(slot) = slot {
                    // Each chunk is handed out once: its bytes move out of the job.
                    let result = job.results[slot].take();
                    break (slot, result);
                }
                if s.finished {
                    break (
                        if self.ordered {
                            self.next_chunk
                        } else {
                            usize::MAX
                        },
                        None,
                    );
                }
                s = self
                    .inner
                    .changed
                    .wait(s)
                    .unwrap_or_else(|p| p.into_inner());
            };
            drop(s);
            self.next_chunk += 1;
            if slot == usize::MAX {
                self.next_chunk = self.lens.len();
                continue;
            }
            let first = self.starts[slot];
            let len = self.lens[slot];
            self.pending.extend(
                chunk_outcomes::<R>(result, len)
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| (first + i, r)),
            );
        }
    }
}

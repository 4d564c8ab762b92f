//! What a pool call gives back: [`AsyncResult`] (one result, or a `map`'s, still to come)
//! and [`Results`] (`imap`'s, as they come), both decoding the chunks the workers returned.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::state::{ChunkResult, Inner, Job};
use super::task::{ChunkOutput, TaskError};
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
    /// Why the call could not even be queued (`apply_async` returns no `Result` of its own).
    pub(super) refused: Option<Error>,
    /// Whether this is a `map`'s result (a `Vec` of one value per input), for
    /// [`AsyncResult::get_each`].
    pub(super) many: bool,
}

/// Gives the next chunk's result (its slot, and its bytes or error) as soon as one is in, in
/// whatever order they finish; `None` once there are no more.
pub(super) type NextChunk<'a> =
    &'a mut dyn FnMut() -> Option<(usize, std::result::Result<Vec<u8>, TaskError>)>;

/// Assembles a call's result from its chunks, decoding each as it comes in (while the
/// workers still run the others), given the inputs per chunk.
pub(super) type Finish<R> = fn(&[usize], NextChunk<'_>) -> std::result::Result<R, PoolError>;

impl<R> std::fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .finish_non_exhaustive()
    }
}

impl<R> AsyncResult<R> {
    /// A result for a call that could not be queued: ready at once, `get` gives `why`.
    pub(super) fn refused(inner: Arc<Inner>, why: Error, finish: Finish<R>) -> Self {
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
            refused: Some(why),
            many: false,
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
            match self.inner.wait_changed_until(s, deadline) {
                Some(guard) => s = guard,
                None => return false,
            }
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
            if let Some(ChunkResult::Ready(Err(e))) = job.results.get(slot) {
                failed.extend((first..first + len).map(|i| (i, e.clone())));
            }
            first += len;
        }
        failed
    }

    /// Whether every task succeeded (false while results are missing).
    pub fn successful(&self) -> bool {
        let s = self.inner.lock();
        s.jobs.get(&self.job).is_some_and(|j| {
            j.remaining == 0
                && j.results
                    .iter()
                    .all(|r| matches!(r, ChunkResult::Ready(Ok(_))))
        })
    }

    /// Gives up: the chunks still running are killed with their workers (the pool thread
    /// kills a running chunk whose call is gone), the others dropped.
    fn give_up(&self) {
        let mut s = self.inner.lock();
        let job = self.job;
        s.queue.retain(|c| c.job != job);
        s.jobs.remove(&job);
        drop(s);
        self.inner.wake();
    }
}

impl<R> AsyncResult<R> {
    /// Waits for the result (at most `timeout`; then the tasks still running are killed with
    /// their workers, which are replaced, and [`PoolError::Timeout`] is returned). For `map`,
    /// the results in input order, or [`PoolError::Tasks`] naming the inputs that failed.
    pub fn get(mut self, timeout: Option<Duration>) -> std::result::Result<R, PoolError> {
        if let Some(why) = self.refused.take() {
            return Err(PoolError::Pool(why));
        }
        let finish = self.finish;
        let lens = std::mem::take(&mut self.lens);
        self.collect(timeout, |next| finish(&lens, next))?
    }

    /// Feeds `assemble` the chunks as they come in, waiting at most `timeout` for all of
    /// them; on timeout gives up on the call (its running tasks are killed).
    fn collect<T>(
        &self,
        timeout: Option<Duration>,
        assemble: impl FnOnce(NextChunk<'_>) -> T,
    ) -> std::result::Result<T, PoolError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut timed_out = false;
        // How many of the job's finished chunks were taken so far.
        let mut taken = 0;
        let mut next = || {
            let mut s = self.inner.lock();
            loop {
                let finished = s.finished;
                let job = s.jobs.get_mut(&self.job)?;
                if let Some(&slot) = job.order.get(taken) {
                    taken += 1;
                    if let Some(result) = job.results[slot].take() {
                        return Some((slot, result));
                    }
                    continue;
                }
                if finished || job.remaining == 0 {
                    return None;
                }
                match self.inner.wait_changed_until(s, deadline) {
                    Some(guard) => s = guard,
                    None => {
                        timed_out = true;
                        return None;
                    }
                }
            }
        };
        let result = assemble(&mut next);
        if timed_out {
            self.give_up();
            return Err(PoolError::Timeout);
        }
        Ok(result)
    }
}

impl<T: DeserializeOwned> AsyncResult<Vec<T>> {
    /// For a `map`: every task's outcome in input order, the values of the tasks that
    /// succeeded beside the errors of those that did not (where [`AsyncResult::get`] gives
    /// only the failures). What a caller that retries failed tasks needs.
    pub fn get_each(
        mut self,
        timeout: Option<Duration>,
    ) -> std::result::Result<Vec<std::result::Result<T, TaskError>>, PoolError> {
        if let Some(why) = self.refused.take() {
            return Err(PoolError::Pool(why));
        }
        if !self.many {
            return Err(PoolError::Pool(Error::misuse(
                "get_each is for the result of a map (one value per input)",
            )));
        }
        let lens = std::mem::take(&mut self.lens);
        self.collect(timeout, |next| finish_each::<T>(&lens, next))
    }
}

impl<R> Drop for AsyncResult<R> {
    /// Forgets the call: its tasks still run (as in Python), their results are dropped as
    /// they come in.
    fn drop(&mut self) {
        self.inner.abandon(self.job);
    }
}

/// One chunk's results, decoded.
enum Decoded<T> {
    /// Every task succeeded.
    Values(Vec<T>),
    /// Each task's value or error.
    Outcomes(Vec<std::result::Result<T, TaskError>>),
    /// No task gave a result: the same error for each.
    Failed(TaskError),
}

/// Decodes the results of one chunk of `len` inputs (or takes its error; a chunk that never
/// ran is `Cancelled`). A worker that answers with the wrong number of results is a codec
/// error, not a shorter list.
fn decode_chunk<T: DeserializeOwned>(
    result: Option<std::result::Result<Vec<u8>, TaskError>>,
    len: usize,
) -> Decoded<T> {
    let bytes = match result {
        Some(Ok(bytes)) => bytes,
        Some(Err(e)) => return Decoded::Failed(e),
        None => return Decoded::Failed(TaskError::Cancelled),
    };
    let count_error = |got: usize| {
        Decoded::Failed(TaskError::Codec(format!(
            "a worker returned {got} results for a chunk of {len} tasks"
        )))
    };
    match codec::decode_payload::<ChunkOutput<T>>(&bytes) {
        Ok(ChunkOutput::Values(v)) if v.len() == len => Decoded::Values(v),
        Ok(ChunkOutput::Outcomes(o)) if o.len() == len => Decoded::Outcomes(o),
        Ok(ChunkOutput::Values(v)) => count_error(v.len()),
        Ok(ChunkOutput::Outcomes(o)) => count_error(o.len()),
        Err(e) => Decoded::Failed(TaskError::Codec(e.to_string())),
    }
}

/// The outcomes of one chunk of `len` inputs, one per input.
fn chunk_outcomes<T: DeserializeOwned>(
    result: Option<std::result::Result<Vec<u8>, TaskError>>,
    len: usize,
) -> Vec<std::result::Result<T, TaskError>> {
    match decode_chunk(result, len) {
        Decoded::Values(v) => v.into_iter().map(Ok).collect(),
        Decoded::Outcomes(o) => o,
        Decoded::Failed(e) => (0..len).map(|_| Err(e.clone())).collect(),
    }
}

/// Decodes a call's chunks as they come in and hands them to `append` in input order (with
/// the position of the chunk's first input and its length); chunks that finish early wait,
/// decoded, for their turn, and chunks that never came (the pool was terminated, the caller
/// gave up) are `Cancelled`.
fn in_order<T: DeserializeOwned>(
    lens: &[usize],
    next: NextChunk<'_>,
    mut append: impl FnMut(Decoded<T>, usize, usize),
) {
    let mut early: std::collections::BTreeMap<usize, Decoded<T>> = Default::default();
    let mut slot = 0;
    let mut first = 0;
    while slot < lens.len() {
        let Some((done, result)) = next() else { break };
        if done < slot || done >= lens.len() {
            continue;
        }
        early.insert(done, decode_chunk(Some(result), lens[done]));
        while let Some(decoded) = early.remove(&slot) {
            append(decoded, first, lens[slot]);
            first += lens[slot];
            slot += 1;
        }
    }
    for (at, &len) in lens.iter().enumerate().skip(slot) {
        let decoded = early
            .remove(&at)
            .unwrap_or(Decoded::Failed(TaskError::Cancelled));
        append(decoded, first, len);
        first += len;
    }
}

/// A `map`'s result: every value, or the failures. A chunk whose tasks all succeeded is
/// appended whole.
pub(super) fn finish_many<T: DeserializeOwned>(
    lens: &[usize],
    next: NextChunk<'_>,
) -> std::result::Result<Vec<T>, PoolError> {
    let mut values = Vec::with_capacity(lens.iter().sum());
    let mut failed = Vec::new();
    in_order(
        lens,
        next,
        |decoded: Decoded<T>, first, len| match decoded {
            Decoded::Values(v) => values.extend(v),
            Decoded::Outcomes(outcomes) => {
                for (i, outcome) in outcomes.into_iter().enumerate() {
                    match outcome {
                        Ok(v) => values.push(v),
                        Err(e) => failed.push((first + i, e)),
                    }
                }
            }
            Decoded::Failed(e) => failed.extend((first..first + len).map(|i| (i, e.clone()))),
        },
    );
    if failed.is_empty() {
        Ok(values)
    } else {
        Err(PoolError::Tasks(failed))
    }
}

/// Every task's outcome, in input order.
fn finish_each<T: DeserializeOwned>(
    lens: &[usize],
    next: NextChunk<'_>,
) -> Vec<std::result::Result<T, TaskError>> {
    let mut outcomes = Vec::with_capacity(lens.iter().sum());
    in_order(lens, next, |decoded: Decoded<T>, _, len| match decoded {
        Decoded::Values(v) => outcomes.extend(v.into_iter().map(Ok)),
        Decoded::Outcomes(o) => outcomes.extend(o),
        Decoded::Failed(e) => outcomes.extend((0..len).map(|_| Err(e.clone()))),
    });
    outcomes
}

/// An `apply`'s result.
pub(super) fn finish_one<T: DeserializeOwned>(
    lens: &[usize],
    next: NextChunk<'_>,
) -> std::result::Result<T, PoolError> {
    if lens.is_empty() {
        return Err(PoolError::Pool(Error::misuse(
            "the pool refused the task (it is closed)",
        )));
    }
    // One input, so one value (the chunk's count was checked) or its error.
    finish_many(lens, next)?
        .pop()
        .ok_or_else(|| PoolError::Pool(Error::misuse("the pool refused the task (it is closed)")))
}

/// One input's position and what its task gave: its value, or why it has none.
pub type Outcome<R> = (usize, std::result::Result<R, TaskError>);

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
    pub(super) fn new(inner: Arc<Inner>, job: u64, lens: Vec<usize>, ordered: bool) -> Self {
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

impl<R> Drop for Results<R> {
    /// Forgets the call: its tasks still run, their results are dropped as they come in.
    fn drop(&mut self) {
        self.inner.abandon(self.job);
    }
}

impl<R: DeserializeOwned> Results<R> {
    /// The next result, waiting at most `timeout` for it (Python's `next(timeout)` on the
    /// iterator of `imap`): `Err(PoolError::Timeout)` when none came in time (the call goes
    /// on; ask again), `Ok(None)` once there are no more. Lets a caller watch something else
    /// (a signal, a clock) between results.
    ///
    /// ```
    /// # multiproc::init!(square);
    /// use std::time::Duration;
    /// use multiproc::pool::{Pool, PoolError};
    ///
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    ///
    /// let pool = Pool::new(2)?;
    /// let mut results = pool.imap_unordered(square, 0..10u64, 1)?;
    /// let mut sum = 0;
    /// loop {
    ///     match results.next_timeout(Duration::from_millis(20)) {
    ///         Ok(Some((_, value))) => sum += value?,
    ///         Ok(None) => break,
    ///         Err(PoolError::Timeout) => continue, // look at something else, then wait again
    ///         Err(e) => return Err(e.into()),
    ///     }
    /// }
    /// assert_eq!(sum, 285);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_timeout(
        &mut self,
        timeout: Duration,
    ) -> std::result::Result<Option<Outcome<R>>, PoolError> {
        self.next_until(Some(Instant::now() + timeout))
            .ok_or(PoolError::Timeout)
    }

    /// The next result, waiting until `deadline` (`None`: as long as it takes); `None` when
    /// the deadline passed first.
    fn next_until(&mut self, deadline: Option<Instant>) -> Option<Option<Outcome<R>>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(Some(item));
            }
            if self.next_chunk >= self.lens.len() {
                self.inner.lock().jobs.remove(&self.job);
                return Some(None);
            }
            let mut s = self.inner.lock();
            let (slot, result) = loop {
                let Some(job) = s.jobs.get_mut(&self.job) else {
                    return Some(None);
                };
                let slot = if self.ordered {
                    Some(self.next_chunk)
                        .filter(|&c| !matches!(job.results[c], ChunkResult::Pending))
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
                s = self.inner.wait_changed_until(s, deadline)?;
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

impl<R: DeserializeOwned> Iterator for Results<R> {
    /// Each input's position and outcome.
    type Item = Outcome<R>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_until(None).flatten()
    }
}

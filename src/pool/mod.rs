//! `Pool`: a set of worker processes that run tasks, like Python's `multiprocessing.Pool`,
//! without its hangs.
//!
//! A task is a function `fn(T) -> R` (or `fn(T) -> Result<R, E>` with the `try_` methods,
//! `fn(A, B) -> R` with `starmap`) listed in the program's table of targets
//! ([`mod@crate::targets`]), and serde values in and out; a function not listed is refused
//! with an error naming it. Inputs are cut into chunks (Python's default
//! chunk size when none is given); each chunk goes to one worker, and its results come back
//! whole. A panic or an `Err` is that task's [`TaskError`], with message and location.
//!
//! # Faults
//! A worker that dies in the middle of a task (killed, crashed, exited) fails the tasks of the
//! chunk it was running, and only those, with [`TaskError::WorkerDied`] naming it; chunks it
//! had been handed but not started go to other workers, a new worker takes its place, and
//! every other task completes. A task running past the pool's
//! [`PoolBuilder::task_timeout`], or a result given up on by [`AsyncResult::get`] with a
//! timeout, has its worker killed and replaced. Nothing waits for ever. (Python's `Pool`
//! hangs when a worker dies mid-task; its `ProcessPoolExecutor` fails every pending task.)
//!
//! # Threads and nesting
//! The pool runs a thread of its own, which starts the workers (so they live as long as the
//! pool, whichever thread made it). A pool may be used from any thread, and made inside a
//! worker of another pool or process (its workers are then that worker's children).

mod builder;
mod direct;
mod engine;
mod results;
mod state;
mod task;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec;
use crate::error::{Error, Result};
use crate::targets::Shape;
use state::{Chunk, Inner, Job};
use task::Task;

pub use builder::PoolBuilder;
pub use results::{AsyncResult, Outcome, PoolError, Results};
pub use task::TaskError;
#[doc(hidden)]
pub use task::shapes as __shapes;

use results::{Finish, finish_many, finish_one};

// The pool's own worker, always in the program's table (first, before the program's own).
crate::targets!(pub(crate) static TARGETS = [task::worker]);

/// A pool of worker processes, like Python's `multiprocessing.Pool`. See the
/// [module docs](self).
///
/// ```rust,standalone_crate
/// use multiproc::pool::Pool;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     multiproc::init!(square);
///     let pool = Pool::new(2)?;
///     assert_eq!(pool.map(square, 0..10u64)?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
///     let r = pool.apply_async(square, 7);
///     assert_eq!(r.get(None)?, 49);
///     pool.close();
///     pool.join()?;
///     Ok(())
/// }
/// ```
///
/// # Dropping
/// Dropping a pool terminates it: its workers are killed and reaped, and results not yet in
/// are cancelled. Call [`Pool::close`] and [`Pool::join`] to let the work finish first.
#[derive(Debug)]
pub struct Pool {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
    processes: usize,
    /// What `apply` needs to run a task on a borrowed worker itself.
    task_timeout: Option<Duration>,
    maxtasksperchild: Option<usize>,
}

/// Python's default chunk size: the inputs split in about four chunks per worker.
fn default_chunksize(len: usize, processes: usize) -> usize {
    let per = processes * 4;
    len.div_ceil(per).max(1)
}

impl Pool {
    /// A pool of `processes` workers.
    pub fn new(processes: usize) -> Result<Pool> {
        Pool::builder().processes(processes).build()
    }

    /// A builder, for an initializer, `maxtasksperchild` or a task timeout.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// The workers' pids now (they change as workers are replaced).
    pub fn pids(&self) -> Vec<u32> {
        self.inner.lock().pids.clone()
    }

    /// How many workers the pool keeps.
    pub fn processes(&self) -> usize {
        self.processes
    }

    /// Queues the chunks of `inputs`, to be run as `task`; the result is assembled by
    /// `finish` as the chunks come in.
    fn submit<T: Serialize, R>(
        &self,
        task: Task,
        inputs: impl IntoIterator<Item = T>,
        chunksize: Option<usize>,
        finish: Finish<R>,
        many: bool,
    ) -> Result<AsyncResult<R>> {
        let (job, lens) = self.queue_chunks(task, inputs, chunksize)?;
        Ok(AsyncResult {
            inner: Arc::clone(&self.inner),
            job,
            lens,
            finish,
            refused: None,
            many,
        })
    }

    /// Registers a job and queues its chunks as they are encoded, so that the workers start
    /// on the first while the rest are still being encoded; the job's id and the inputs per
    /// chunk.
    fn queue_chunks<T: Serialize>(
        &self,
        task: Task,
        inputs: impl IntoIterator<Item = T>,
        chunksize: Option<usize>,
    ) -> Result<(u64, Vec<usize>)> {
        /// Encoded bytes gathered before they are queued (and the pool thread woken).
        const BATCH_BYTES: usize = 256 * 1024;
        let inputs: Vec<T> = inputs.into_iter().collect();
        let size = chunksize.unwrap_or_else(|| default_chunksize(inputs.len(), self.processes));
        let size = size.max(1);
        let lens: Vec<usize> = inputs.chunks(size).map(<[T]>::len).collect();
        let job = {
            let mut s = self.inner.lock();
            if s.closed || s.finished {
                return Err(Error::misuse(
                    "the pool is closed: no more work can be given to it",
                ));
            }
            let job = s.next_job;
            s.next_job += 1;
            s.jobs.insert(job, Job::new(lens.len()));
            s.submitting += 1;
            job
        };
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        let mut outcome = Ok(());
        for (slot, part) in inputs.chunks(size).enumerate() {
            let args = match codec::encode_value(part) {
                Ok(args) => args,
                Err(e) => {
                    outcome = Err(Error::codec(format!(
                        "cannot send a task's input to the pool: {}; a Value, Array, Queue, \
                         lock or Connection reaches the pool's workers through \
                         PoolBuilder::initializer, as in Python",
                        e.codec_detail()
                    )));
                    break;
                }
            };
            batch_bytes += args.len();
            batch.push(Chunk {
                job,
                slot,
                task,
                args,
            });
            // The first chunk goes at once: the workers start while the rest is encoded.
            if slot == 0 || batch_bytes >= BATCH_BYTES {
                self.inner.lock().queue.extend(batch.drain(..));
                self.inner.wake();
                batch_bytes = 0;
            }
        }
        let mut s = self.inner.lock();
        s.submitting -= 1;
        if let Err(e) = outcome {
            // Nothing of a call that could not be encoded runs.
            s.queue.retain(|c| c.job != job);
            s.jobs.remove(&job);
            drop(s);
            self.inner.wake();
            return Err(e);
        }
        s.queue.extend(batch);
        drop(s);
        self.inner.wake();
        Ok((job, lens))
    }

    /// Runs `f` on every input and returns the results in input order, like Python's
    /// `map`; [`PoolError::Tasks`] names the inputs whose task failed.
    pub fn map<F, T, R>(
        &self,
        f: F,
        inputs: impl IntoIterator<Item = T>,
    ) -> std::result::Result<Vec<R>, PoolError>
    where
        F: Fn(T) -> R + Copy + 'static,
        T: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        self.map_async(f, inputs, None)?.get(None)
    }

    /// As [`Pool::map`] with a chunk size of your choosing.
    pub fn map_chunked<F, T, R>(
        &self,
        f: F,
        inputs: impl IntoIterator<Item = T>,
        chunksize: usize,
    ) -> std::result::Result<Vec<R>, PoolError>
    where
        F: Fn(T) -> R + Copy + 'static,
        T: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        self.map_async(f, inputs, Some(chunksize))?.get(None)
    }

    /// As [`Pool::map`] for a task that may fail: an `Err` is that input's [`TaskError`].
    pub fn try_map<F, T, R, E>(
        &self,
        f: F,
        inputs: impl IntoIterator<Item = T>,
    ) -> std::result::Result<Vec<R>, PoolError>
    where
        F: Fn(T) -> std::result::Result<R, E> + Copy + 'static,
        T: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        E: std::fmt::Display + 'static,
    {
        self.try_map_async(f, inputs, None)?.get(None)
    }

    /// Starts [`Pool::try_map`] and returns at once.
    pub fn try_map_async<F, T, R, E>(
        &self,
        f: F,
        inputs: impl IntoIterator<Item = T>,
        chunksize: Option<usize>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        F: Fn(T) -> std::result::Result<R, E> + Copy + 'static,
        T: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        E: std::fmt::Display + 'static,
    {
        self.submit(
            Task::of(&f, Shape::TryMap)?,
            inputs,
            chunksize,
            finish_many::<R>,
            true,
        )
    }

    /// Like Python's `starmap`: `f(a, b)` for every pair.
    pub fn starmap<F, A, B, R>(
        &self,
        f: F,
        inputs: impl IntoIterator<Item = (A, B)>,
    ) -> std::result::Result<Vec<R>, PoolError>
    where
        F: Fn(A, B) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        B: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        self.submit(
            Task::of(&f, Shape::Pair)?,
            inputs,
            None,
            finish_many::<R>,
            true,
        )?
        .get(None)
    }

    /// Starts `map` and returns at once; the results come from [`AsyncResult::get`].
    pub fn map_async<F, T, R>(
        &self,
        f: F,
        inputs: impl IntoIterator<Item = T>,
        chunksize: Option<usize>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        F: Fn(T) -> R + Copy + 'static,
        T: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        self.submit(
            Task::of(&f, Shape::Map)?,
            inputs,
            chunksize,
            finish_many::<R>,
            true,
        )
    }

    /// Runs `f(input)` in a worker and waits for the result (Python's `apply`).
    ///
    /// When a worker is idle and nothing is queued, the calling thread borrows it and runs
    /// the task on it directly (sends the input, reads the result), without the pool's thread
    /// in between: a round trip of two wake-ups instead of four. Faults are the same either
    /// way: a worker that dies is named and replaced, a task past the pool's task timeout has
    /// its worker killed.
    pub fn apply<F, T, R>(&self, f: F, input: T) -> std::result::Result<R, PoolError>
    where
        F: Fn(T) -> R + Copy + 'static,
        T: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        let task = Task::of(&f, Shape::Map);
        let args = codec::encode_value(std::slice::from_ref(&input));
        let borrowed = (task.is_ok() && args.is_ok())
            .then(|| self.borrow_idle())
            .flatten();
        match (task, args, borrowed) {
            (Ok(task), Ok(args), Some(worker)) => self.run_on(worker, task, &args),
            // Busy, closed, a function not in the table or an input that cannot be sent:
            // the queued path says why.
            _ => self.apply_async(f, input).get(None),
        }
    }

    /// Starts `f(input)` in a worker and returns at once (Python's `apply_async`).
    pub fn apply_async<F, T, R>(&self, f: F, input: T) -> AsyncResult<R>
    where
        F: Fn(T) -> R + Copy + 'static,
        T: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        Task::of(&f, Shape::Map)
            .and_then(|task| self.submit(task, [input], Some(1), finish_one::<R>, false))
            .unwrap_or_else(|why| {
                AsyncResult::refused(Arc::clone(&self.inner), why, finish_one::<R>)
            })
    }

    /// Results in input order as they become available (Python's `imap`).
    pub fn imap<F, T, R>(
        &self,
        f: F,
        inputs: impl IntoIterator<Item = T>,
        chunksize: usize,
    ) -> Result<Results<R>>
    where
        F: Fn(T) -> R + Copy + 'static,
        T: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        self.stream(f, inputs.into_iter().collect(), chunksize, true)
    }

    /// Results in the order tasks finish (Python's `imap_unordered`); each with its input's
    /// position.
    pub fn imap_unordered<F, T, R>(
        &self,
        f: F,
        inputs: impl IntoIterator<Item = T>,
        chunksize: usize,
    ) -> Result<Results<R>>
    where
        F: Fn(T) -> R + Copy + 'static,
        T: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        self.stream(f, inputs.into_iter().collect(), chunksize, false)
    }

    fn stream<F, T, R>(
        &self,
        f: F,
        inputs: Vec<T>,
        chunksize: usize,
        ordered: bool,
    ) -> Result<Results<R>>
    where
        F: Fn(T) -> R + Copy + 'static,
        T: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        let (job, lens) = self.queue_chunks(Task::of(&f, Shape::Map)?, inputs, Some(chunksize))?;
        Ok(Results::new(Arc::clone(&self.inner), job, lens, ordered))
    }

    /// No more work may be given; the workers exit once the work given is done.
    pub fn close(&self) {
        self.inner.lock().closed = true;
        self.inner.wake();
    }

    /// Kills the workers now; results not yet in are cancelled ([`TaskError::Cancelled`]).
    pub fn terminate(&mut self) {
        self.inner.lock().terminate = true;
        self.inner.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Waits for the workers to finish and exit; the pool must be closed (or terminated)
    /// first, as in Python.
    pub fn join(mut self) -> Result<()> {
        {
            let s = self.inner.lock();
            if !s.closed && !s.terminate {
                return Err(Error::misuse(
                    "join() needs the pool closed (close()) or terminated first",
                ));
            }
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        Ok(())
    }
}

impl Drop for Pool {
    /// Terminates the pool: workers killed and reaped, results not yet in cancelled.
    fn drop(&mut self) {
        self.terminate();
    }
}

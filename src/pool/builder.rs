//! [`PoolBuilder`]: a pool's settings (processes, initializer, task timeout, worker
//! recycling, start method), and the start-up that turns them into a running [`Pool`].

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Pool;
use super::engine;
use super::state::{Config, Inner};
use super::task::{InitArgs, Initializer, Task};
use crate::error::{Error, Result};
use crate::start::StartMethod;
use crate::targets::Shape;

/// How to build a [`Pool`]: `Pool::builder().processes(4).initializer(f, args).build()`.
#[derive(Default)]
pub struct PoolBuilder {
    processes: Option<usize>,
    /// The initializer, or why the function given cannot be one (said by `build`).
    initializer: Option<Result<Initializer>>,
    maxtasksperchild: Option<usize>,
    task_timeout: Option<Duration>,
    start_method: Option<StartMethod>,
}

impl std::fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field("maxtasksperchild", &self.maxtasksperchild)
            .field("task_timeout", &self.task_timeout)
            .field("start_method", &self.start_method)
            .finish_non_exhaustive()
    }
}

impl PoolBuilder {
    /// How the workers are started (default: the program's,
    /// [`crate::context::get_start_method`]).
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.start_method = Some(method);
        self
    }

    /// Worker processes (default [`crate::cpu_count`]).
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// A function each worker runs once when it starts, with `args` (Python's
    /// `initializer`, `initargs`). A worker whose initializer panics exits, and the pool
    /// fails to start.
    pub fn initializer<F, A>(mut self, f: F, args: A) -> Self
    where
        F: Fn(A) + Copy + 'static,
        A: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        self.initializer = Some(Task::of(&f, Shape::Process).map(|task| Initializer {
            task,
            args: InitArgs::Typed(Arc::new(args)),
        }));
        self
    }

    /// Replace each worker after it has run `n` chunks (Python's `maxtasksperchild`).
    pub fn maxtasksperchild(mut self, n: usize) -> Self {
        self.maxtasksperchild = Some(n.max(1));
        self
    }

    /// A chunk running longer than `timeout` has its worker killed and replaced, and its
    /// tasks fail with [`TaskError::TimedOut`](super::TaskError::TimedOut).
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = Some(timeout);
        self
    }

    /// Starts the pool's workers.
    pub fn build(self) -> Result<Pool> {
        let processes = self.processes.unwrap_or_else(crate::cpu_count);
        if processes == 0 {
            return Err(Error::invalid_argument("a pool needs at least 1 process"));
        }
        let config = Config {
            processes,
            initializer: self.initializer.transpose()?,
            maxtasksperchild: self.maxtasksperchild,
            task_timeout: self.task_timeout,
            start_method: self
                .start_method
                .unwrap_or_else(crate::start::get_start_method),
        };
        let (task_timeout, maxtasksperchild) = (config.task_timeout, config.maxtasksperchild);
        let (inner, wake) = Inner::new()?;
        let inner = Arc::new(inner);
        let engine_inner = Arc::clone(&inner);
        let thread = std::thread::Builder::new()
            .name("multiproc-pool".into())
            .spawn(move || engine::run(&engine_inner, wake, config))
            .map_err(|e| Error::io("cannot start the pool's thread", e))?;
        let mut pool = Pool {
            inner,
            thread: Some(thread),
            processes,
            task_timeout,
            maxtasksperchild,
        };
        let started = {
            let mut s = pool.inner.lock();
            while s.started.is_none() {
                s = pool.inner.wait_changed(s);
            }
            s.started.clone().unwrap_or(Ok(()))
        };
        if let Err(why) = started {
            pool.terminate();
            return Err(Error::start_failed(format!(
                "the pool could not start its workers: {why}"
            )));
        }
        Ok(pool)
    }
}

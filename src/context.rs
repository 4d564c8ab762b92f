//! Start methods, as Python's `multiprocessing.set_start_method` and `get_context`.
//!
//! - [`StartMethod::Spawn`] (the default): every process is a fresh `posix_spawn` of this
//!   program (`/proc/self/exe`), which [`crate::init()`] turns into the worker. It pays the
//!   dynamic loader and the runtime's start-up each time.
//! - [`StartMethod::Forkserver`]: the first start spawns one server process the same way; it
//!   stops right after `init()` (single threaded, holding nothing) and forks every later
//!   process on request. The worker's descriptors go to the server over a Unix socket
//!   (`SCM_RIGHTS`); the server forks with `CLONE_PARENT`, so the worker is this process's
//!   child, not the server's, and everything holds as for `spawn`: its death is seen at once on
//!   its process descriptor, it dies with its master, it has its own process group and only
//!   the descriptors it was handed, and it is reaped here. A worker is never a fork of the
//!   master, only of the clean server; the server dies with the master. Python 3.14 made
//!   `forkserver` its default on Linux.
//!
//! There is no `fork` method: a fork of a running master carries its threads' locks and
//! whatever it holds into the child, which is what `forkserver` exists to avoid.
//!
//! The method is chosen for the whole program ([`set_start_method`]), for a context
//! ([`get_context`] and [`Context::process`]), or per process ([`crate::Process::with_start_method`]):
//!
//! ```
//! use multiproc::context::{get_context, StartMethod};
//!
//! let ctx = get_context("forkserver")?;
//! assert_eq!(ctx.start_method(), StartMethod::Forkserver);
//! assert!(get_context("fork").is_err());
//! # Ok::<(), multiproc::Error>(())
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Result;
use crate::pool::PoolBuilder;
use crate::process::Process;
use crate::targets::TargetOutput;

pub use crate::start::{
    StartMethod, ensure_forkserver, forkserver_pid, get_all_start_methods, get_start_method,
    set_start_method, stop_forkserver,
};

/// A context for the start method named `method` (`"spawn"` or `"forkserver"`), as Python's
/// `multiprocessing.get_context`: processes and pools made through it use that method
/// whatever the program's default.
pub fn get_context(method: &str) -> Result<Context> {
    Ok(Context {
        method: method.parse()?,
    })
}

/// Processes and pools with a chosen start method. See [`get_context`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    method: StartMethod,
}

impl Context {
    /// A context for `method`.
    pub fn new(method: StartMethod) -> Context {
        Context { method }
    }

    /// Its start method.
    pub fn start_method(&self) -> StartMethod {
        self.method
    }

    /// A process that will run `target(args)`, started with this context's method (see
    /// [`Process::new`]).
    pub fn process<F, A, R>(&self, target: F, args: A) -> Process
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: TargetOutput + 'static,
    {
        Process::new(target, args).with_start_method(self.method)
    }

    /// A pool builder whose workers start with this context's method.
    pub fn pool(&self) -> PoolBuilder {
        crate::pool::Pool::builder().start_method(self.method)
    }
}

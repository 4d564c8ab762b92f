//! Start methods, as Python's `multiprocessing.set_start_method` and `get_context`.
//!
//! - [`StartMethod::Spawn`] (the default): every process is a fresh `posix_spawn` of this
//!   program (`/proc/self/exe`), which [`crate::init`] turns into the worker. It pays the
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

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bootstrap::TargetOutput;
use crate::error::{Error, Result};
use crate::pool::PoolBuilder;
use crate::process::Process;

/// How a new process is started. See the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StartMethod {
    /// A fresh `posix_spawn` of this program for every process (the default).
    Spawn,
    /// One clean server process, spawned once, forks every process on request.
    Forkserver,
}

impl StartMethod {
    /// Every method, the default first.
    pub const ALL: [StartMethod; 2] = [StartMethod::Spawn, StartMethod::Forkserver];

    /// Its name, as Python spells it.
    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Spawn => "spawn",
            StartMethod::Forkserver => "forkserver",
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StartMethod {
    type Err = Error;

    fn from_str(name: &str) -> Result<StartMethod> {
        match name {
            "spawn" => Ok(StartMethod::Spawn),
            "forkserver" => Ok(StartMethod::Forkserver),
            "fork" => Err(Error::invalid_argument(
                "there is no `fork` start method: a fork of a running master carries its \
                 threads' locks into the child; use `forkserver` (a fork of a clean server) or \
                 `spawn`",
            )),
            other => Err(Error::invalid_argument(format!(
                "unknown start method `{other}`: choose `spawn` or `forkserver`"
            ))),
        }
    }
}

/// 0: not chosen (the default, spawn, applies); else 1 + the method's index in `ALL`.
static CHOSEN: AtomicU8 = AtomicU8::new(0);

/// Chooses how every process of this program is started, unless a context or the process
/// itself says otherwise. As in Python, it is chosen once: a second call with another method
/// fails (the same method again is fine).
pub fn set_start_method(method: StartMethod) -> Result<()> {
    let code = 1 + StartMethod::ALL
        .iter()
        .position(|m| *m == method)
        .expect("every method is in ALL") as u8;
    match CHOSEN.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => Ok(()),
        Err(current) if current == code => Ok(()),
        Err(current) => Err(Error::misuse(format!(
            "the start method was already set to {}; it is chosen once per program (use \
             get_context for another)",
            StartMethod::ALL[current as usize - 1]
        ))),
    }
}

/// The start method processes get when nothing else is said: the one [`set_start_method`]
/// chose, else [`StartMethod::Spawn`].
pub fn get_start_method() -> StartMethod {
    match CHOSEN.load(Ordering::SeqCst) {
        0 => StartMethod::Spawn,
        code => StartMethod::ALL[code as usize - 1],
    }
}

/// The start methods this platform has: every one of [`StartMethod::ALL`] on Linux.
pub fn get_all_start_methods() -> Vec<StartMethod> {
    StartMethod::ALL.to_vec()
}

/// Starts this program's forkserver now, if none runs (Python's
/// `multiprocessing.forkserver.ensure_running`): the first process started through it then
/// does not wait for the server to start. Without it, the first start starts the server.
pub fn ensure_forkserver() -> Result<()> {
    crate::os::forkserver::ensure_running()
        .map_err(|e| Error::io_starting("cannot start the forkserver", e))
}

/// Stops this program's forkserver, if one runs, and reaps it (Python stops its own at exit).
/// Call it when no more processes will be started, at the end of `main`: the server would die
/// with this process anyway (`PR_SET_PDEATHSIG`), but then as nobody's child, left for the
/// system's init to reap, which some containers never do. A later start starts a new one.
pub fn stop_forkserver() {
    crate::os::forkserver::stop();
}

/// The pid of this program's forkserver while one runs (the first start through it starts
/// it; it is started again if it died); `None` before that.
pub fn forkserver_pid() -> Option<u32> {
    crate::os::forkserver::server_pid().map(|pid| pid as u32)
}

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
    pub fn process<A, R>(&self, target: fn(A) -> R, args: A) -> Process
    where
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

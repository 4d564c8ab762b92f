//! The start method: how a new process is started, chosen for the program, and the
//! forkserver's controls. The public face is [`crate::context`], which re-exports all of it
//! beside `Context`; this module sits below `process` and `pool`, which ask it how to start.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::{Error, Result};

/// How a new process is started. See [`crate::context`].
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

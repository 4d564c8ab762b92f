//! Supervision: stopping a set of children in order, reaping them, and saying how each ended.
//!
//! A master that owns workers stops them the way cargo-nextest stops tests: `SIGTERM`, a grace
//! period to exit, then `SIGKILL`; a further termination signal to the master (a second
//! Ctrl-C) skips what is left of the grace. Every child is reaped before [`Shutdown::stop`]
//! returns, so none is left running and no zombie stays.
//!
//! ```rust,standalone_crate
//! use std::time::Duration;
//! use multiproc::Process;
//! use multiproc::signals::{SIGINT, SIGTERM, SignalWatch};
//! use multiproc::supervise::{Shutdown, describe_exit};
//!
//! fn work(seconds: u64) {
//!     std::thread::sleep(Duration::from_secs(seconds));
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     multiproc::init!(work);
//!     let watch = SignalWatch::new(&[SIGINT, SIGTERM])?;
//!     let mut workers = Vec::new();
//!     for _ in 0..4 {
//!         let mut p = Process::new(work, 60);
//!         p.start()?;
//!         workers.push(p);
//!     }
//!     // ... something went wrong: stop them all, in order.
//!     let mut all: Vec<&mut Process> = workers.iter_mut().collect();
//!     Shutdown::new(Duration::from_secs(1)).stop(&mut all, Some(&watch), &mut |i, code| {
//!         eprintln!("worker {i} {}", describe_exit(code, None));
//!     });
//!     Ok(())
//! }
//! ```

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::process::Process;
use crate::signals::SignalWatch;
use crate::targets::Failure;

/// How long [`Shutdown::stop`] waits between looks at a stopping child.
const LOOK_EVERY: Duration = Duration::from_millis(20);

/// How to stop children: `SIGTERM`, then `SIGKILL` after a grace period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shutdown {
    grace: Duration,
}

impl Default for Shutdown {
    /// One second of grace, as `pi-master` gives its workers.
    fn default() -> Self {
        Shutdown::new(Duration::from_secs(1))
    }
}

impl Shutdown {
    /// A shutdown that gives children `grace` to exit after `SIGTERM`.
    pub fn new(grace: Duration) -> Shutdown {
        Shutdown { grace }
    }

    /// The grace period.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Stops every live process among `processes`: `SIGTERM` to all, up to the grace period
    /// for them to exit, then `SIGKILL`. A signal arriving on `watch` meanwhile (a second
    /// Ctrl-C) ends the grace at once. Every process is reaped; `on_exit(position, exitcode)`
    /// is told of each one that was stopped. Processes never started or already reaped are
    /// left alone.
    pub fn stop(
        &self,
        processes: &mut [&mut Process],
        watch: Option<&SignalWatch>,
        on_exit: &mut dyn FnMut(usize, i32),
    ) {
        let live: Vec<usize> = (0..processes.len())
            .filter(|&i| processes[i].is_alive())
            .collect();
        for &i in &live {
            let _ = processes[i].terminate();
        }
        let deadline = Instant::now() + self.grace;
        let mut hurry = false;
        for &i in &live {
            let p = &mut *processes[i];
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match p.join_timeout(left.min(LOOK_EVERY)) {
                    Ok(Some(code)) => {
                        on_exit(i, code);
                        break;
                    }
                    Ok(None) if !hurry && !left.is_zero() => {
                        hurry = watch.is_some_and(|w| !w.take().is_empty());
                    }
                    _ => {
                        let _ = p.kill();
                        if let Ok(code) = p.join() {
                            on_exit(i, code);
                        }
                        break;
                    }
                }
            }
        }
    }
}

impl Shutdown {
    /// Stops one process the same way: `SIGTERM`, up to the grace period for it to exit,
    /// then `SIGKILL` (which also ends a process stopped with `SIGSTOP`, where `SIGTERM`
    /// waits for a `SIGCONT` that may never come). Returns how it ended; the process is
    /// reaped either way. What a master does with a worker past its timeout.
    pub fn stop_one(&self, process: &mut Process) -> Result<Reaped> {
        if process.is_alive() {
            let _ = process.terminate();
        }
        join_or_kill(process, self.grace)
    }
}

/// How waiting for a process to exit ended, in [`join_or_kill`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reaped {
    /// It exited by itself with this exit code.
    Exited(i32),
    /// It did not exit in time and was killed; this is the exit code it then had.
    Killed(i32),
}

/// Waits up to `wait` for `process` to exit; if it does not, kills it (`SIGKILL`) and reaps
/// it. Either way the process is gone when this returns `Ok`.
pub fn join_or_kill(process: &mut Process, wait: Duration) -> Result<Reaped> {
    if let Some(code) = process.join_timeout(wait)? {
        return Ok(Reaped::Exited(code));
    }
    process.kill()?;
    Ok(Reaped::Killed(process.join()?))
}

/// The name of signal number `signal`: `SIGKILL` for 9, and so on; `signal N` when unknown.
pub fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {signal}"))
}

/// A descriptor that becomes readable once the process `pid` has ended (a pidfd): any
/// process, not only a child of this one (MPI ranks, children of a launcher). Poll it beside
/// others to learn at once, in the order they happen, which of several processes ended; it
/// neither reaps nor signals. Fails when no process `pid` exists any more (`ESRCH`).
pub fn exit_descriptor(pid: u32) -> std::io::Result<std::os::fd::OwnedFd> {
    let pid = i32::try_from(pid).map_err(|_| std::io::Error::from_raw_os_error(libc::ESRCH))?;
    crate::os::pidfd_open(pid)
}

/// How a process with exit code `code` ended, in words: `exited with status 3`, or `was killed
/// by signal 9 (SIGKILL)`, followed by what its target reported (`: it panicked at ...`).
///
/// ```
/// use multiproc::supervise::describe_exit;
/// assert_eq!(describe_exit(-9, None), "was killed by signal 9 (SIGKILL)");
/// assert_eq!(describe_exit(3, None), "exited with status 3");
/// ```
pub fn describe_exit(code: i32, failure: Option<&Failure>) -> String {
    let mut text = if code < 0 {
        format!("was killed by signal {} ({})", -code, signal_name(-code))
    } else {
        format!("exited with status {code}")
    };
    if let Some(failure) = failure {
        text.push_str(&format!(": it {failure}"));
    }
    text
}

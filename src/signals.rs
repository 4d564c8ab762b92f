//! Termination signals as events a master can wait for.
//!
//! A master that owns workers must not die on Ctrl-C and leave them to be killed blindly: it
//! should stop them in order (terminate, a grace period, kill), reap them, and then die of
//! that same signal ([`die_of`]), so that its shell sees what happened (a loop stops at
//! Ctrl-C, as it does for Python, which re-raises `SIGINT`). [`SignalWatch`] turns the chosen signals into a
//! flag per signal plus a readable descriptor (the self-pipe pattern, from `signal-hook`), so an
//! event loop can `poll` on it beside its connections.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::SigId;

use crate::os;

/// `SIGINT`, the terminal's Ctrl-C.
pub const SIGINT: i32 = signal_hook::consts::SIGINT;
/// `SIGTERM`, the polite request to stop.
pub const SIGTERM: i32 = signal_hook::consts::SIGTERM;
/// `SIGHUP`, the terminal went away.
pub const SIGHUP: i32 = signal_hook::consts::SIGHUP;

/// Ends this process by `signal` once its cleanup is done: the signal's default action is
/// put back and the signal raised, so the parent sees a death by that signal, not an exit
/// status. Standard output is flushed first (standard error is not buffered, and is not
/// touched: another thread may hold it, stuck writing to a pipe nobody reads). Falls back
/// to exiting with `128 + signal` if the signal does not kill.
pub fn die_of(signal: i32) -> ! {
    use std::io::Write;
    let _ = io::stdout().flush();
    os::die_of_signal(signal)
}

/// While it lives, the watched signals no longer kill the process: each sets a flag and wakes
/// [`SignalWatch::fd`]. Dropping it restores the previous handling.
#[derive(Debug)]
pub struct SignalWatch {
    wake: OwnedFd,
    flags: Vec<(i32, Arc<AtomicBool>)>,
    ids: Vec<SigId>,
}

impl SignalWatch {
    /// Starts catching `signals`.
    pub fn new(signals: &[i32]) -> io::Result<SignalWatch> {
        let (wake, write) = os::pipe()?;
        os::set_nonblocking(wake.as_fd())?;
        let mut watch = SignalWatch {
            wake,
            flags: Vec::new(),
            ids: Vec::new(),
        };
        for &sig in signals {
            let flag = Arc::new(AtomicBool::new(false));
            // The flag is registered first, so it is set before the pipe wakes the reader.
            watch
                .ids
                .push(signal_hook::flag::register(sig, Arc::clone(&flag))?);
            watch.ids.push(signal_hook::low_level::pipe::register(
                sig,
                write.try_clone()?,
            )?);
            watch.flags.push((sig, flag));
        }
        Ok(watch)
    }

    /// A descriptor that becomes readable when a watched signal arrives.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// The watched signals that arrived since the last call, in the order they were watched.
    pub fn take(&self) -> Vec<i32> {
        let mut sink = [0u8; 64];
        while matches!(os::read(self.wake.as_fd(), &mut sink), Ok(n) if n > 0) {}
        self.flags
            .iter()
            .filter(|(_, flag)| flag.swap(false, Ordering::SeqCst))
            .map(|(sig, _)| *sig)
            .collect()
    }
}

impl Drop for SignalWatch {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

impl crate::wait::Waitable for SignalWatch {
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.fd())
    }
}

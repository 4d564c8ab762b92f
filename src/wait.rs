//! Waiting on several things at once: connections, queues, processes and signal watches,
//! like Python's `multiprocessing.connection.wait` (also reachable as
//! `multiproc::connection::wait`).
//!
//! ```rust,standalone_crate
//! use std::time::Duration;
//! use multiproc::{Process, wait};
//!
//! fn nap(ms: u64) {
//!     std::thread::sleep(Duration::from_millis(ms));
//! }
//!
//! fn main() -> Result<(), multiproc::Error> {
//!     multiproc::init!(nap);
//!     let (mut here, there) = multiproc::pipe()?;
//!     let mut p = Process::new(nap, 50);
//!     p.start()?;
//!     // Index 1 (the process) becomes ready when it ends; the pipe stays quiet.
//!     let ready = wait(&[&here, &p], Some(Duration::from_secs(5)))?;
//!     assert_eq!(ready, vec![1]);
//!     p.join()?;
//!     # drop((here.close(), there));
//!     Ok(())
//! }
//! ```

use std::os::fd::BorrowedFd;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::os;

/// Something [`wait`] can watch: it becomes ready when there is something to read or an end to
/// notice. Implemented by [`crate::Connection`], [`crate::Process`] (ready when the child has ended,
/// like Python's `Process.sentinel`), [`crate::ShmConnection`] and
/// [`crate::signals::SignalWatch`].
pub trait Waitable {
    /// The descriptor whose readability means "ready"; `None` is never ready.
    fn wait_fd(&self) -> Option<BorrowedFd<'_>>;
    /// Ready without waiting (for example, bytes already buffered).
    fn ready_now(&self) -> bool {
        false
    }
    /// Called before [`wait`] sleeps on [`Waitable::wait_fd`]: an object whose writers make
    /// its descriptor readable only for a reader that says it waits (a shared-memory
    /// channel) says so here.
    fn before_sleep(&self) {}
}

/// Waits until at least one of `objects` is ready, or the timeout passes (`None`: no limit);
/// returns the indices of the ready ones, empty on timeout. Like Python's
/// `multiprocessing.connection.wait`.
pub fn wait(objects: &[&dyn Waitable], timeout: Option<Duration>) -> Result<Vec<usize>> {
    for o in objects {
        o.before_sleep();
    }
    let now: Vec<usize> = (0..objects.len())
        .filter(|&i| objects[i].ready_now())
        .collect();
    if !now.is_empty() {
        return Ok(now);
    }
    let mut index = Vec::new();
    let mut fds = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        if let Some(fd) = o.wait_fd() {
            index.push(i);
            fds.push(fd);
        }
    }
    if fds.is_empty() {
        return Err(Error::misuse(
            "wait() was given nothing that can become ready",
        ));
    }
    let ready = os::wait_readable(&fds, timeout).map_err(|e| Error::io("poll failed", e))?;
    Ok(ready
        .iter()
        .zip(index)
        .filter(|(r, _)| **r)
        .map(|(_, i)| i)
        .collect())
}

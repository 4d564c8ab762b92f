//! `Event`: a flag that processes wait for, set and cleared by any of them.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::core::deadline_after;
use crate::error::{Error, Result};
use crate::holders::{Handle, HasHolders, Holders};
use crate::os::shm::{Futex, plain_struct};
use crate::shared::SharedMem;

plain_struct! {
    /// What an event shares: the flag, which waiters sleep on.
    pub(crate) struct EventState {
        flag: Futex,
        holders: Holders,
    }
}

impl HasHolders for EventState {
    fn holders(&self) -> &Holders {
        &self.holders
    }
}

/// An event shared between processes, like Python's `multiprocessing.Event`: [`Event::wait`]
/// sleeps (in the kernel, no descriptor, no polling) until some process calls
/// [`Event::set`]; [`Event::clear`] makes later waits sleep again. Nobody holds an event, so
/// no death can break it; a wait with a timeout ends in time whatever happens.
///
/// ```
/// use std::time::Duration;
/// use multiproc::sync::Event;
///
/// let ready = Event::new()?;
/// assert!(!ready.wait_timeout(Duration::from_millis(10))?, "not set yet: times out");
/// ready.set();
/// assert!(ready.is_set() && ready.wait_timeout(Duration::ZERO)?);
/// # Ok::<(), multiproc::Error>(())
/// ```
#[derive(Serialize, Deserialize)]
pub struct Event {
    handle: Handle<EventState>,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}

impl Event {
    /// A new event, not set.
    pub fn new() -> Result<Event> {
        Ok(Event {
            handle: Handle::new(SharedMem::new(c"multiproc-event")?)?,
        })
    }

    /// Another handle on the same event.
    pub fn try_clone(&self) -> Result<Event> {
        Ok(Event {
            handle: self.handle.try_clone()?,
        })
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.handle.flag.word().load(Ordering::SeqCst) != 0
    }

    /// Sets the flag and wakes every waiter, in every process.
    pub fn set(&self) {
        self.handle.flag.word().store(1, Ordering::SeqCst);
        self.handle.flag.wake(u32::MAX);
    }

    /// Clears the flag: later waits sleep until the next `set`.
    pub fn clear(&self) {
        self.handle.flag.word().store(0, Ordering::SeqCst);
    }

    /// Waits until the flag is set.
    pub fn wait(&self) -> Result<()> {
        self.wait_until(None).map(drop)
    }

    /// Waits at most `timeout` for the flag: `true` if it is set, `false` if the time ran out
    /// (as Python's `Event.wait(timeout)` returns).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.wait_until(deadline_after(Some(timeout)))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<bool> {
        let flag = &self.handle.flag;
        while flag.word().load(Ordering::SeqCst) == 0 {
            if !flag
                .wait(0, deadline)
                .map_err(|e| Error::io("cannot wait for the event", e))?
            {
                return Ok(self.is_set());
            }
        }
        Ok(true)
    }
}

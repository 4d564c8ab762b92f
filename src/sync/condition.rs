//! `Condition`: wait for a change another process announces, under a shared lock.

use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::core::{LockCore, deadline_after};
use crate::error::{Error, Result};
use crate::holders::{Handle, HasHolders, Holders};
use crate::os::shm::{Futex, plain_struct};
use crate::shared::SharedMem;

plain_struct! {
    /// What a condition shares: its lock, and the word waiters sleep on.
    pub(crate) struct ConditionState {
        core: LockCore,
        /// Bumped by every notify.
        seq: Futex,
        holders: Holders,
    }
}

impl HasHolders for ConditionState {
    fn holders(&self) -> &Holders {
        &self.holders
    }
}

/// A condition variable shared between processes, like Python's
/// `multiprocessing.Condition`: under its lock ([`Condition::acquire`]), a process waits
/// ([`ConditionGuard::wait`], [`ConditionGuard::wait_for`]) for another to change something
/// and [`ConditionGuard::notify`] it. Waiting releases the lock and sleeps in the kernel;
/// the lock is held again when the wait returns. As everywhere, a notification can come
/// without the awaited change, so wait in a loop or use `wait_for`.
///
/// The lock is a robust one: a process that dies holding it breaks the condition, as
/// described for [`crate::sync::Lock`].
///
/// ```rust,standalone_crate
/// use std::time::Duration;
/// use multiproc::{Process, Value};
/// use multiproc::sync::Condition;
///
/// fn producer((cond, items): (Condition, Value<u32>)) -> multiproc::Result<()> {
///     for _ in 0..3 {
///         let guard = cond.acquire()?;
///         items.set(items.get()? + 1)?;
///         guard.notify(1);
///     }
///     Ok(())
/// }
///
/// fn main() -> multiproc::Result<()> {
///     multiproc::init!(producer);
///     let cond = Condition::new()?;
///     let items = Value::new(0u32)?;
///     let mut p = Process::new(producer, (cond.try_clone()?, items.try_clone()?));
///     p.start()?;
///     let mut guard = cond.acquire()?;
///     let all_there = guard.wait_for(|| items.get().unwrap_or(0) == 3, Some(Duration::from_secs(10)))?;
///     assert!(all_there);
///     drop(guard);
///     p.join()?;
///     Ok(())
/// }
/// ```
#[derive(Serialize, Deserialize)]
pub struct Condition {
    handle: Handle<ConditionState>,
}

/// A [`Condition`]'s lock, held; released when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<'a> {
    condition: &'a Condition,
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConditionGuard").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition").finish_non_exhaustive()
    }
}

impl Condition {
    /// A new condition with a lock of its own.
    pub fn new() -> Result<Condition> {
        Ok(Condition {
            handle: Handle::new(SharedMem::new(c"multiproc-condition")?)?,
        })
    }

    /// Another handle on the same condition.
    pub fn try_clone(&self) -> Result<Condition> {
        Ok(Condition {
            handle: self.handle.try_clone()?,
        })
    }

    /// Takes the condition's lock, waiting as long as it takes.
    pub fn acquire(&self) -> Result<ConditionGuard<'_>> {
        self.acquire_until(None)
    }

    /// Takes the condition's lock, waiting at most `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<ConditionGuard<'_>> {
        self.acquire_until(deadline_after(Some(timeout)))
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Result<ConditionGuard<'_>> {
        let core = &self.handle.core;
        let guard = core.lock(deadline, "condition")?;
        core.keep(guard);
        Ok(ConditionGuard {
            condition: self,
            _not_send: PhantomData,
        })
    }

    /// After a holder of the lock died: see [`crate::sync::Lock::mark_consistent`].
    pub fn mark_consistent(&self) {
        self.handle.core.mark_consistent();
    }

    fn core(&self) -> &LockCore {
        &self.handle.core
    }
}

impl ConditionGuard<'_> {
    /// Releases the lock, sleeps until notified (or `timeout` passes), and takes the lock
    /// again. Returns `false` when the time ran out first.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.wait_until(deadline_after(timeout))
    }

    fn wait_until(&mut self, deadline: Option<Instant>) -> Result<bool> {
        let c = self.condition;
        let seq = c.handle.seq.word().load(Ordering::SeqCst);
        c.core().release_kept("condition")?;
        let woken = c.handle.seq.wait(seq, deadline);
        // The lock comes back whatever happened; only then is the outcome reported.
        let relocked = c.core().lock(None, "condition").map(|g| c.core().keep(g));
        let woken = woken.map_err(|e| Error::io("cannot wait on the condition", e))?;
        relocked?;
        Ok(woken)
    }

    /// Waits until `predicate()` holds (checked under the lock, first right away), or the
    /// timeout passes: returns the predicate's last value, as Python's `wait_for` does.
    pub fn wait_for(
        &mut self,
        mut predicate: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let deadline = deadline_after(timeout);
        loop {
            if predicate() {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            self.wait_until(deadline)?;
        }
    }

    /// Wakes up to `n` waiters.
    pub fn notify(&self, n: u32) {
        let seq = &self.condition.handle.seq;
        seq.word().fetch_add(1, Ordering::SeqCst);
        seq.wake(n);
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.notify(u32::MAX);
    }
}

impl Drop for ConditionGuard<'_> {
    fn drop(&mut self) {
        let _ = self.condition.core().release_kept("condition");
    }
}

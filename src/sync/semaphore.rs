//! `Semaphore` and `BoundedSemaphore`: a count of permits shared between processes, with
//! the permits each process holds written down, so that a holder's death is noticed.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::core::{LockCore, deadline_after};
use super::{LOOK_AROUND, wait_slice};
use crate::error::{Error, Result};
use crate::holders::{Handle, HasHolders, Holders};
use crate::os::shm::{Futex, plain_struct};
use crate::shared::SharedMem;

plain_struct! {
    /// What a semaphore shares.
    pub(crate) struct SemaphoreState {
        /// Guards `permits`, the table's counts and `broken_by` together.
        core: LockCore,
        /// Permits free now; waiters sleep on it.
        permits: Futex,
        /// The most permits a bounded semaphore may have; 0 when unbounded.
        bound: AtomicU32,
        /// A holder that died with permits, until `mark_consistent`.
        dead_holder: AtomicI32,
        holders: Holders,
    }
}

impl HasHolders for SemaphoreState {
    fn holders(&self) -> &Holders {
        &self.holders
    }
}

/// A semaphore shared between processes, like Python's `multiprocessing.Semaphore`: a count
/// of permits; [`Semaphore::acquire`] takes one (waiting, asleep in the kernel, while there
/// is none) and the guard gives it back.
///
/// # When a holder dies
/// Each process's permits are written down in the semaphore's shared memory. A waiter that
/// finds no permit looks (every 100 ms while it waits) for a process that died holding some:
/// then it fails with [`crate::ErrorKind::Broken`] naming it, and so does every `acquire`
/// until [`Semaphore::mark_consistent`] gives the dead process's permits back.
///
/// ```
/// use multiproc::sync::Semaphore;
///
/// let sem = Semaphore::new(2)?;
/// let a = sem.acquire()?;
/// let b = sem.acquire()?;
/// assert!(sem.try_acquire()?.is_none(), "both permits are taken");
/// drop(a);
/// assert!(sem.try_acquire()?.is_some());
/// # drop(b);
/// # Ok::<(), multiproc::Error>(())
/// ```
#[derive(Serialize, Deserialize)]
pub struct Semaphore {
    handle: Handle<SemaphoreState>,
}

/// A [`Semaphore`] that refuses to be released more times than it was acquired, like
/// Python's `BoundedSemaphore`: it never holds more than its initial permits.
#[derive(Serialize, Deserialize)]
pub struct BoundedSemaphore {
    inner: Semaphore,
}

/// A permit taken from a semaphore; given back when dropped.
#[must_use = "the permit is given back as soon as the guard is dropped"]
pub struct Permit<'a> {
    semaphore: &'a Semaphore,
}

impl std::fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.value())
            .finish()
    }
}

impl Semaphore {
    /// A semaphore with `value` permits.
    pub fn new(value: u32) -> Result<Semaphore> {
        Self::create(value, 0)
    }

    fn create(value: u32, bound: u32) -> Result<Semaphore> {
        if value > i32::MAX as u32 {
            return Err(Error::invalid_argument(format!(
                "a semaphore holds at most {} permits, not {value}",
                i32::MAX
            )));
        }
        let shared = SharedMem::<SemaphoreState>::new(c"multiproc-semaphore")?;
        shared.permits.word().store(value, Ordering::SeqCst);
        shared.bound.store(bound, Ordering::SeqCst);
        Ok(Semaphore {
            handle: Handle::new(shared)?,
        })
    }

    /// Another handle on the same semaphore.
    pub fn try_clone(&self) -> Result<Semaphore> {
        Ok(Semaphore {
            handle: self.handle.try_clone()?,
        })
    }

    /// The permits free now (Python's `get_value`).
    pub fn value(&self) -> u32 {
        self.handle.permits.word().load(Ordering::SeqCst)
    }

    /// Takes a permit, waiting as long as it takes.
    pub fn acquire(&self) -> Result<Permit<'_>> {
        self.acquire_until(None)
    }

    /// Takes a permit, waiting at most `timeout` ([`Error::is_timeout`] then).
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<Permit<'_>> {
        self.acquire_until(deadline_after(Some(timeout)))
    }

    /// Takes a permit if one is free now.
    pub fn try_acquire(&self) -> Result<Option<Permit<'_>>> {
        match self.acquire_until(Some(Instant::now())) {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.is_timeout() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Result<Permit<'_>> {
        /// The longest a timed acquire waits for the semaphore's own lock, past its deadline.
        const INTERNAL_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
        let s = &*self.handle;
        let slot = self
            .handle
            .slot()
            .ok_or_else(|| Error::misuse("this semaphore handle was closed"))?;
        let mut last_look = Instant::now();
        loop {
            // The semaphore's own lock guards its count for microseconds: waiting for it is
            // not waiting for a permit, so even `try_acquire` gets up to a second for it (a
            // holder that died is seen by the robust lock at once). Without this, a free
            // permit was missed while another process was releasing one.
            let lock_by = deadline.map(|d| d.max(Instant::now() + INTERNAL_LOCK_WAIT));
            let guard = s.core.lock(lock_by, "semaphore")?;
            let dead = s.dead_holder.load(Ordering::SeqCst);
            if dead != 0 {
                s.core.unlock(guard);
                return Err(LockCore::broken_error_holding(
                    dead,
                    "semaphore",
                    "a permit",
                ));
            }
            let free = s.permits.word().load(Ordering::SeqCst);
            if free > 0 {
                s.permits.word().store(free - 1, Ordering::SeqCst);
                s.holders().count(slot).fetch_add(1, Ordering::SeqCst);
                s.core.unlock(guard);
                return Ok(Permit { semaphore: self });
            }
            // None free for a while: is someone who died sitting on permits?
            let look = last_look.elapsed() >= LOOK_AROUND;
            let dead = look.then(|| s.holders().dead_holding()).flatten();
            if look {
                last_look = Instant::now();
            }
            if let Some(pid) = dead {
                s.dead_holder.store(pid, Ordering::SeqCst);
                s.core.unlock(guard);
                return Err(LockCore::broken_error_holding(pid, "semaphore", "a permit"));
            }
            s.core.unlock(guard);
            let until = wait_slice(deadline);
            if !s
                .permits
                .wait(0, Some(until))
                .map_err(|e| Error::io("futex wait", e))?
                && deadline.is_some_and(|d| Instant::now() >= d)
            {
                return Err(Error::timeout());
            }
        }
    }

    /// Gives back a permit (taken by this handle or not: a semaphore is also a way to
    /// signal). A [`BoundedSemaphore`] refuses to go over its bound.
    fn release_one(&self) -> Result<()> {
        let s = &*self.handle;
        let guard = s.core.lock(None, "semaphore")?;
        let free = s.permits.word().load(Ordering::SeqCst);
        let bound = s.bound.load(Ordering::SeqCst);
        if bound > 0 && free >= bound {
            s.core.unlock(guard);
            return Err(Error::misuse(format!(
                "a bounded semaphore of {bound} permits was released more times than it was acquired"
            )));
        }
        s.permits.word().store(free + 1, Ordering::SeqCst);
        if let Some(slot) = self.handle.slot() {
            s.holders().count(slot).fetch_sub(1, Ordering::SeqCst);
        }
        s.core.unlock(guard);
        s.permits.wake(1);
        Ok(())
    }

    /// Gives back one permit without a guard (Python's `release`): for a semaphore used to
    /// signal, where one process releases what another acquired.
    pub fn release(&self) -> Result<()> {
        self.release_one()
    }

    /// After a holder died ([`crate::ErrorKind::Broken`]): gives its permits back, and lets
    /// `acquire` work again.
    pub fn mark_consistent(&self) -> Result<()> {
        let s = &*self.handle;
        s.core.mark_consistent();
        let guard = s.core.lock(None, "semaphore")?;
        let returned = s.holders().forget_dead();
        let free = s.permits.word().load(Ordering::SeqCst);
        s.permits.word().store(free + returned, Ordering::SeqCst);
        s.dead_holder.store(0, Ordering::SeqCst);
        s.core.unlock(guard);
        s.permits.wake(u32::MAX);
        Ok(())
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let _ = self.semaphore.release_one();
    }
}

impl Permit<'_> {
    /// Keeps the permit taken for good: the semaphore has one fewer (Python's `acquire`
    /// without a `release`, as when a semaphore counts events).
    pub fn forget(self) {
        std::mem::forget(self);
    }

    /// Gives the permit back now, reporting a failure (as dropping it does, silently).
    pub fn release(self) -> Result<()> {
        let semaphore = self.semaphore;
        std::mem::forget(self);
        semaphore.release_one()
    }
}

impl BoundedSemaphore {
    /// A bounded semaphore with `value` permits, never more.
    pub fn new(value: u32) -> Result<BoundedSemaphore> {
        Ok(BoundedSemaphore {
            inner: Semaphore::create(value, value.max(1))?,
        })
    }

    /// Another handle on the same semaphore.
    pub fn try_clone(&self) -> Result<BoundedSemaphore> {
        Ok(BoundedSemaphore {
            inner: self.inner.try_clone()?,
        })
    }

    /// See [`Semaphore::acquire`].
    pub fn acquire(&self) -> Result<Permit<'_>> {
        self.inner.acquire()
    }

    /// See [`Semaphore::acquire_timeout`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<Permit<'_>> {
        self.inner.acquire_timeout(timeout)
    }

    /// See [`Semaphore::try_acquire`].
    pub fn try_acquire(&self) -> Result<Option<Permit<'_>>> {
        self.inner.try_acquire()
    }

    /// Gives back one permit without a guard; refused ([`crate::ErrorKind::Misuse`]) when that
    /// would make more permits than the semaphore started with.
    pub fn release(&self) -> Result<()> {
        self.inner.release()
    }

    /// The permits free now.
    pub fn value(&self) -> u32 {
        self.inner.value()
    }

    /// See [`Semaphore::mark_consistent`].
    pub fn mark_consistent(&self) -> Result<()> {
        self.inner.mark_consistent()
    }
}

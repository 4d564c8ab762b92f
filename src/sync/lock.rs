//! `Lock` and `RLock`: mutual exclusion between processes (and threads), with guards that
//! release on drop, timeouts, and a holder's death reported instead of a hang.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::core::{LockCore, deadline_after};
use crate::error::{Error, Result};
use crate::holders::{Handle, HasHolders, Holders, my_pid};
use crate::os::shm::{plain_struct, thread_id};
use crate::shared::SharedMem;

plain_struct! {
    /// What a lock shares: its core, and (for an RLock) who holds it and how deeply.
    pub(crate) struct LockState {
        pub(crate) core: LockCore,
        /// The holding thread, as `pid << 32 | tid` (RLock only), or 0.
        thread: AtomicU64,
        /// How many times the holding thread has acquired it (RLock only).
        depth: AtomicU32,
        holders: Holders,
    }
}

impl HasHolders for LockState {
    fn holders(&self) -> &Holders {
        &self.holders
    }
}

fn this_thread() -> u64 {
    (u64::from(my_pid() as u32) << 32) | thread_id() as u32 as u64
}

/// A lock shared between processes, like Python's `multiprocessing.Lock`: one holder at a
/// time, among all the threads of all the processes that have it.
///
/// [`Lock::acquire`] returns a guard that releases the lock when dropped. The thread that
/// acquired the lock is the one that releases it (a guard cannot move to another thread);
/// unlike Python's, a release from elsewhere is refused ([`crate::ErrorKind::Misuse`]), and
/// acquiring it twice from one thread fails the same way instead of deadlocking.
///
/// # When a holder dies
/// The lock knows its holder's thread; a locker that has waited 100 ms for a holder that no
/// longer exists takes the lock over. That `acquire`, in any
/// process, fails with [`crate::ErrorKind::Broken`] and [`Error::broken_by`] names the dead
/// process; every `acquire` fails so until someone has checked what the lock protected and
/// calls [`Lock::mark_consistent`]. Nobody waits for ever.
///
/// ```rust,standalone_crate
/// use multiproc::Process;
/// use multiproc::sync::Lock;
///
/// fn hold_and_die(lock: Lock) {
///     let _held = lock.acquire().unwrap();
///     std::process::abort(); // dies holding it
/// }
///
/// fn main() -> multiproc::Result<()> {
///     multiproc::init!(hold_and_die);
///     let lock = Lock::new()?;
///     let mut p = Process::new(hold_and_die, lock.try_clone()?);
///     p.start()?;
///     p.join()?;
///     let err = lock.acquire().unwrap_err();
///     assert_eq!(err.broken_by(), p.pid());
///     lock.mark_consistent();
///     drop(lock.acquire()?);
///     Ok(())
/// }
/// ```
#[derive(Serialize, Deserialize)]
pub struct Lock {
    handle: Handle<LockState>,
}

/// A held [`Lock`]; releases it when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a LockCore,
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("broken_by", &self.handle.core.broken_by())
            .finish()
    }
}

impl Lock {
    /// A new, unlocked lock.
    pub fn new() -> Result<Lock> {
        Ok(Lock {
            handle: Handle::new(SharedMem::new(c"multiproc-lock")?)?,
        })
    }

    /// Another handle on the same lock (for another thread, or to hand to a child while
    /// keeping this one).
    pub fn try_clone(&self) -> Result<Lock> {
        Ok(Lock {
            handle: self.handle.try_clone()?,
        })
    }

    /// Acquires the lock, waiting as long as it takes (asleep in the kernel).
    pub fn acquire(&self) -> Result<LockGuard<'_>> {
        self.acquire_until(None)
    }

    /// Acquires the lock, waiting at most `timeout` ([`Error::is_timeout`] then).
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<LockGuard<'_>> {
        self.acquire_until(Some(timeout))
    }

    /// Acquires the lock if it is free now.
    pub fn try_acquire(&self) -> Result<Option<LockGuard<'_>>> {
        match self.acquire_until(Some(Duration::ZERO)) {
            Ok(guard) => Ok(Some(guard)),
            Err(e) if e.is_timeout() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn acquire_until(&self, timeout: Option<Duration>) -> Result<LockGuard<'_>> {
        let core = &self.handle.core;
        let guard = core.lock(deadline_after(timeout), "lock")?;
        core.keep(guard);
        Ok(LockGuard {
            lock: core,
            _not_send: PhantomData,
        })
    }

    /// After a holder died ([`crate::ErrorKind::Broken`]): says that what the lock protects
    /// has been checked or repaired, so that `acquire` works again.
    pub fn mark_consistent(&self) {
        self.handle.core.mark_consistent();
    }
}

impl LockGuard<'_> {
    /// Releases the lock now (as dropping the guard does), reporting a failure.
    pub fn release(self) -> Result<()> {
        let lock = self.lock;
        std::mem::forget(self);
        lock.release_kept("lock")
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.release_kept("lock");
    }
}

/// A re-entrant lock shared between processes, like Python's `multiprocessing.RLock`: the
/// thread holding it may acquire it again, and it is free once released as many times.
///
/// Guards release one level each when dropped. [`RLock::release`] releases one level
/// explicitly and refuses ([`crate::ErrorKind::Misuse`]) when the calling thread does not
/// hold the lock, in this process or any other. A holder's death is handled as for [`Lock`].
///
/// ```
/// use multiproc::sync::RLock;
///
/// let rlock = RLock::new()?;
/// let outer = rlock.acquire()?;
/// let inner = rlock.acquire()?; // the same thread: no deadlock
/// drop(inner);
/// drop(outer);
/// assert!(rlock.release().is_err(), "not held any more");
/// # Ok::<(), multiproc::Error>(())
/// ```
#[derive(Serialize, Deserialize)]
pub struct RLock {
    handle: Handle<LockState>,
}

/// One level of a held [`RLock`]; releases that level when dropped.
#[must_use = "the level is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    rlock: &'a RLock,
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RLockGuard").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RLock")
            .field("depth", &self.handle.depth.load(Ordering::SeqCst))
            .field("broken_by", &self.handle.core.broken_by())
            .finish()
    }
}

impl RLock {
    /// A new, unlocked re-entrant lock.
    pub fn new() -> Result<RLock> {
        Ok(RLock {
            handle: Handle::new(SharedMem::new(c"multiproc-rlock")?)?,
        })
    }

    /// Another handle on the same lock.
    pub fn try_clone(&self) -> Result<RLock> {
        Ok(RLock {
            handle: self.handle.try_clone()?,
        })
    }

    /// Acquires one level, waiting as long as it takes when another thread holds it.
    pub fn acquire(&self) -> Result<RLockGuard<'_>> {
        self.acquire_until(None)
    }

    /// Acquires one level, waiting at most `timeout` ([`Error::is_timeout`] then).
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<RLockGuard<'_>> {
        self.acquire_until(Some(timeout))
    }

    fn acquire_until(&self, timeout: Option<Duration>) -> Result<RLockGuard<'_>> {
        let s = &*self.handle;
        if s.thread.load(Ordering::SeqCst) == this_thread() && s.core.kept_by_me() {
            s.depth.fetch_add(1, Ordering::SeqCst);
        } else {
            let guard = s.core.lock(deadline_after(timeout), "rlock")?;
            s.thread.store(this_thread(), Ordering::SeqCst);
            s.depth.store(1, Ordering::SeqCst);
            s.core.keep(guard);
        }
        Ok(RLockGuard {
            rlock: self,
            _not_send: PhantomData,
        })
    }

    /// Releases one level held by the calling thread; the lock is free when the last level
    /// goes. Refused when this thread does not hold it.
    pub fn release(&self) -> Result<()> {
        let s = &*self.handle;
        if s.thread.load(Ordering::SeqCst) != this_thread() || !s.core.kept_by_me() {
            return Err(Error::misuse(
                "this thread does not hold the rlock, so it cannot release it",
            ));
        }
        if s.depth.fetch_sub(1, Ordering::SeqCst) > 1 {
            return Ok(());
        }
        s.thread.store(0, Ordering::SeqCst);
        s.core.release_kept("rlock")
    }

    /// After a holder died: see [`Lock::mark_consistent`].
    pub fn mark_consistent(&self) {
        self.handle.core.mark_consistent();
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.rlock.release();
    }
}

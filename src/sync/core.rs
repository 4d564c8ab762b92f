//! The lock inside every primitive: a robust process-shared mutex that remembers who holds
//! it, so that a holder's death is reported by name, and stays reported until someone says
//! the state it protected is consistent again.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::holders::my_pid;
use crate::os::shm::{LockOutcome, Locked, RobustMutex, plain_struct};

plain_struct! {
    /// A robust mutex, the pid holding it, and the pid whose death left it broken.
    pub(crate) struct LockCore {
        pub(crate) mutex: RobustMutex,
        owner: AtomicI32,
        broken_by: AtomicI32,
    }
}

impl LockCore {
    /// Locks, waiting until `deadline` (`None`: for ever). Fails with [`Error::is_timeout`] when
    /// the deadline passes, and with [`crate::ErrorKind::Broken`] naming the process when the
    /// holder died holding it (then, and until [`LockCore::mark_consistent`], every lock fails
    /// so). `what` names the primitive in messages.
    pub(crate) fn lock(&self, deadline: Option<Instant>, what: &str) -> Result<Locked<'_>> {
        let guard = match self.mutex.lock(deadline).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock => Error::misuse(format!(
                "this thread already holds the {what} (it is not re-entrant; use an RLock)"
            )),
            _ => Error::io(format!("cannot lock the {what}"), e),
        })? {
            LockOutcome::Locked(guard) => guard,
            LockOutcome::TimedOut => return Err(Error::timeout()),
        };
        if guard.owner_died() {
            let dead = self.owner.swap(0, Ordering::SeqCst);
            // -1 when the holder died before it could even write its pid.
            let dead = if dead == 0 { -1 } else { dead };
            let _ = self
                .broken_by
                .compare_exchange(0, dead, Ordering::SeqCst, Ordering::SeqCst);
        }
        // Relaxed is enough for both: they are written only by whoever holds the mutex (or by
        // mark_consistent, which needs no ordering with a lock), and the mutex orders them.
        let broken_by = self.broken_by.load(Ordering::Relaxed);
        if broken_by != 0 {
            drop(guard);
            return Err(Self::broken_error(broken_by, what));
        }
        self.owner.store(my_pid(), Ordering::Relaxed);
        Ok(guard)
    }

    /// The error for a primitive left broken by process `pid` (-1: unknown) dying holding
    /// its lock.
    pub(crate) fn broken_error(pid: i32, what: &str) -> Error {
        Self::broken_error_holding(pid, what, "it")
    }

    /// The error for a primitive left broken by process `pid` dying holding `held`.
    pub(crate) fn broken_error_holding(pid: i32, what: &str, held: &str) -> Error {
        let who = match pid {
            -1 => "a process".to_string(),
            pid => format!("process {pid}"),
        };
        Error::broken(
            u32::try_from(pid).ok(),
            format!(
                "the {what} is broken: {who} died holding {held}; what it protected may be \
                 half done (call mark_consistent() once it is repaired)"
            ),
        )
    }

    /// Unlocks: the guard goes, and with it the owner's pid.
    pub(crate) fn unlock(&self, guard: Locked<'_>) {
        self.owner.store(0, Ordering::Relaxed);
        drop(guard);
    }

    /// Keeps the lock held by this thread without a guard (see [`LockCore::release_kept`]).
    pub(crate) fn keep(&self, guard: Locked<'_>) {
        guard.keep();
    }

    /// Releases a lock this thread keeps; [`crate::ErrorKind::Misuse`] if it does not.
    pub(crate) fn release_kept(&self, what: &str) -> Result<()> {
        if !self.mutex.kept_by_me() {
            return Err(Error::misuse(format!(
                "this thread does not hold the {what}, so it cannot release it"
            )));
        }
        self.owner.store(0, Ordering::Relaxed);
        self.mutex
            .unlock_kept()
            .map_err(|e| Error::io(format!("cannot release the {what}"), e))
    }

    /// Whether this thread keeps the lock.
    pub(crate) fn kept_by_me(&self) -> bool {
        self.mutex.kept_by_me()
    }

    /// The pid whose death broke the lock, if it is broken.
    pub(crate) fn broken_by(&self) -> Option<i32> {
        match self.broken_by.load(Ordering::SeqCst) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// Says the state is consistent again after a holder's death: locking works again.
    pub(crate) fn mark_consistent(&self) {
        self.broken_by.store(0, Ordering::SeqCst);
    }
}

/// `timeout` from now as a deadline (`None`: no limit).
pub(crate) fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| Instant::now() + t)
}

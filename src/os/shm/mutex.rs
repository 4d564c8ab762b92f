//! A robust, process-shared mutex on a futex: the lock word holds the holder's thread id, so
//! a locker that finds the word held by a thread that no longer exists takes the lock over
//! and is told the holder died ([`Locked::owner_died`]).
//!
//! The word: the holder's thread id in the low 31 bits (Linux thread ids stay below 2^22),
//! [`WAITERS`] when someone may sleep on it. A second word says whether the holder keeps it
//! without a guard. An
//! uncontended lock and unlock are one atomic exchange each, no system call. A contended
//! locker sleeps on the futex; when it has slept a whole [`LOOK_EVERY`] without the lock
//! changing hands, it checks that the holder still exists, so a holder that died is found
//! within that time even when nobody wakes the sleeper (and busy locks pay nothing for it).

use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{Plain, futex};

/// The holder's thread id.
const TID: u32 = (1 << 31) - 1;
/// Someone may be asleep waiting: the unlocker must wake one.
const WAITERS: u32 = 1 << 31;

/// How long a sleeping locker waits for the lock to change hands before it checks that the
/// holder still exists.
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// This thread's id, as the kernel numbers threads (unique across processes at any one
/// time). Asked of the kernel once per thread: it is on every lock's fast path.
#[inline]
pub(crate) fn thread_id() -> i32 {
    thread_local! {
        // 0 until first asked: no thread has id 0.
        static TID: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
    }
    TID.with(|t| {
        if t.get() == 0 {
            t.set(nix::unistd::gettid().as_raw());
        }
        t.get()
    })
}

fn me() -> u32 {
    thread_id() as u32 & TID
}

/// A process-shared robust mutex. See the [module docs](self).
#[repr(C)]
pub(crate) struct RobustMutex {
    word: AtomicU32,
    /// 1 while the holder keeps it without a guard ([`Locked::keep`]); written only by the
    /// holder.
    kept: AtomicU32,
}

// SAFETY: zero is an unlocked mutex, the word holds no pointer (a thread id), and it changes
// only atomically.
unsafe impl Plain for RobustMutex {}

/// What [`RobustMutex::lock`] got.
pub(crate) enum LockOutcome<'a> {
    /// The mutex is held until the guard drops.
    Locked(Locked<'a>),
    /// The deadline passed first.
    TimedOut,
}

/// A held [`RobustMutex`]; unlocks on drop. Not `Send`: the holder is a thread.
pub(crate) struct Locked<'a> {
    mutex: &'a RobustMutex,
    owner_died: bool,
    _not_send: PhantomData<*const ()>,
}

impl Locked<'_> {
    /// Whether the previous holder died holding the mutex; what it guarded may be half done.
    pub(crate) fn owner_died(&self) -> bool {
        self.owner_died
    }

    /// Whether this guard holds `mutex`.
    pub(crate) fn holds(&self, mutex: &RobustMutex) -> bool {
        std::ptr::eq(self.mutex, mutex)
    }

    /// The address of the mutex held.
    pub(super) fn mutex_addr(&self) -> usize {
        self.mutex as *const RobustMutex as usize
    }

    /// Keeps the mutex locked by this thread after the guard is gone, for a lock whose
    /// release is a separate call ([`RobustMutex::unlock_kept`]). No guard exists for it
    /// meanwhile, so nothing it protects can be borrowed through one.
    pub(crate) fn keep(self) {
        self.mutex.kept.store(1, Ordering::Relaxed);
        std::mem::forget(self);
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.mutex.release();
    }
}

impl RobustMutex {
    /// Locks, waiting until `deadline` (`None`: no limit). A holder that died is reported on
    /// the guard. Locking a mutex this thread already holds fails (`WouldBlock`) instead of
    /// deadlocking.
    #[inline]
    pub(crate) fn lock(&self, deadline: Option<Instant>) -> io::Result<LockOutcome<'_>> {
        let me = me();
        if self
            .word
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return Ok(LockOutcome::Locked(self.guard(false)));
        }
        self.lock_contended(me, deadline)
    }

    fn guard(&self, owner_died: bool) -> Locked<'_> {
        Locked {
            mutex: self,
            owner_died,
            _not_send: PhantomData,
        }
    }

    #[cold]
    fn lock_contended(&self, me: u32, deadline: Option<Instant>) -> io::Result<LockOutcome<'_>> {
        // Once this thread has slept, it takes the lock marked as waited for, so that its
        // unlock wakes the next sleeper.
        let mut slept = false;
        // Whether the holder has kept the lock through a whole LOOK_EVERY: then, and only
        // then, it is worth asking the kernel whether the holder still exists.
        let mut look = false;
        loop {
            let cur = self.word.load(Ordering::Relaxed);
            if cur & TID == 0 {
                let take = me | if slept { WAITERS } else { 0 };
                if self
                    .word
                    .compare_exchange(cur, take, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Ok(LockOutcome::Locked(self.guard(false)));
                }
                continue;
            }
            if cur & TID == me {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "this thread already holds the lock",
                ));
            }
            if look {
                look = false;
                if !super::super::process_running((cur & TID) as i32) {
                    // The holder is gone: take the lock over, keeping the waiters' mark.
                    let take = me | (cur & WAITERS);
                    if self
                        .word
                        .compare_exchange(cur, take, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        self.kept.store(0, Ordering::Relaxed);
                        return Ok(LockOutcome::Locked(self.guard(true)));
                    }
                    continue;
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(LockOutcome::TimedOut);
            }
            let marked = cur | WAITERS;
            if cur & WAITERS == 0
                && self
                    .word
                    .compare_exchange(cur, marked, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            let slice_end = Instant::now() + LOOK_EVERY;
            let until = deadline.map_or(slice_end, |d| d.min(slice_end));
            let woken = futex::wait(&self.word, marked, Some(until))?;
            slept = true;
            // Asleep a whole slice and the same holder still has it: look whether it still
            // exists. (A lock changing hands often is never looked at: its holders live.)
            look = !woken
                && Instant::now() >= slice_end
                && self.word.load(Ordering::Relaxed) & TID == cur & TID;
        }
    }

    /// Unlocks, waking one sleeper if there may be one.
    fn release(&self) {
        if self.word.swap(0, Ordering::Release) & WAITERS != 0 {
            futex::wake(&self.word, 1);
        }
    }

    /// Unlocks a mutex this thread keeps ([`Locked::keep`]). Fails, changing nothing, when
    /// this thread does not keep it.
    pub(crate) fn unlock_kept(&self) -> io::Result<()> {
        if !self.kept_by_me() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "this thread does not hold the lock",
            ));
        }
        self.kept.store(0, Ordering::Relaxed);
        self.release();
        Ok(())
    }

    /// Whether this thread keeps the mutex locked ([`Locked::keep`]).
    #[inline]
    pub(crate) fn kept_by_me(&self) -> bool {
        self.word.load(Ordering::Relaxed) & TID == me() && self.kept.load(Ordering::Relaxed) != 0
    }
}

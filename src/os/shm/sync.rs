//! A process-shared semaphore and a byte buffer guarded by a [`RobustMutex`], for shared
//! regions. Each is valid when all-zero; the semaphore initialises itself on first use.

use std::cell::UnsafeCell;
use std::io;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{Locked, Plain, RobustMutex};

/// A one-time, in-place initialisation that every process may race to do: 0 = not yet,
/// 1 = under way, 2 = done.
#[repr(C)]
struct InitOnce(AtomicU32);

impl InitOnce {
    /// Runs `init` if nobody has, or waits for whoever is running it. `init`'s error leaves
    /// the object uninitialised for the next try.
    fn call(&self, init: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        loop {
            match self
                .0
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    let result = init();
                    self.0
                        .store(if result.is_ok() { 2 } else { 0 }, Ordering::Release);
                    return result;
                }
                Err(2) => return Ok(()),
                // Another process is initialising: it takes microseconds.
                Err(_) => std::thread::yield_now(),
            }
        }
    }
}

/// `deadline` as an absolute CLOCK_REALTIME time, as the timed pthread and semaphore calls
/// want it.
fn realtime(deadline: Instant) -> libc::timespec {
    let left = deadline.saturating_duration_since(Instant::now());
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        + left;
    libc::timespec {
        tv_sec: at.as_secs() as libc::time_t,
        tv_nsec: at.subsec_nanos() as libc::c_long,
    }
}

/// A process-shared counting semaphore. See the [shared-memory docs](super).
#[repr(C)]
pub(crate) struct SharedSemaphore {
    init: InitOnce,
    sem: UnsafeCell<libc::sem_t>,
}

// SAFETY: a process-shared POSIX semaphore is built for concurrent use from any process.
unsafe impl Sync for SharedSemaphore {}
// SAFETY: all-zero is "not initialised yet" (initialised in place, with 0, on first use), it
// holds no pointer into this process, and it is shared-safe (above).
unsafe impl Plain for SharedSemaphore {}

impl SharedSemaphore {
    /// Initialises the semaphore in place with `value`, unless it already was (then `false`).
    pub(crate) fn init(&self, value: u32) -> io::Result<bool> {
        let mut ran = false;
        self.init.call(|| {
            ran = true;
            // SAFETY: InitOnce lets exactly one caller, in any process, initialise the
            // semaphore, before anyone uses it.
            if unsafe { libc::sem_init(self.sem.get(), 1, value) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })?;
        Ok(ran)
    }

    /// Takes one unit, waiting until `deadline` (`None`: no limit). `Ok(false)` on timeout.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> io::Result<bool> {
        self.init(0)?;
        loop {
            let code = match deadline {
                // SAFETY: initialised (above); lives in a mapping that outlives `self`.
                None => unsafe { libc::sem_wait(self.sem.get()) },
                Some(d) => {
                    let at = realtime(d);
                    // SAFETY: as above; `at` is a valid timespec on our stack.
                    unsafe { libc::sem_timedwait(self.sem.get(), &at) }
                }
            };
            if code == 0 {
                return Ok(true);
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ETIMEDOUT) => return Ok(false),
                _ => return Err(err),
            }
        }
    }

    /// Gives one unit back.
    pub(crate) fn post(&self) -> io::Result<()> {
        self.init(0)?;
        // SAFETY: initialised (above); sem_post is async-signal-safe and lock-free.
        if unsafe { libc::sem_post(self.sem.get()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// A byte buffer in shared memory that is read and written only while holding the
/// [`RobustMutex`] it is bound to (the guard is the proof). See the [shared-memory docs](super).
#[repr(C)]
pub(crate) struct GuardedBytes<const N: usize> {
    /// Distance from this buffer to its mutex (the same in every mapping); 0 until bound.
    mutex_at: AtomicI64,
    bytes: UnsafeCell<[u8; N]>,
}

// SAFETY: the bytes are touched only through methods that demand a guard of the bound mutex,
// so by one thread at a time, in whichever process holds it.
unsafe impl<const N: usize> Sync for GuardedBytes<N> {}
// SAFETY: zero is a valid unbound buffer of zero bytes, there is no pointer (the binding is
// a distance), and the bytes change only under the bound mutex (above).
unsafe impl<const N: usize> Plain for GuardedBytes<N> {}

impl<const N: usize> GuardedBytes<N> {
    fn distance_to(&self, mutex: usize) -> i64 {
        (mutex as isize as i64) - (self as *const Self as isize as i64)
    }

    /// Binds the buffer to `mutex` (in the same region): from now on only its holder reaches
    /// the bytes. Binding again to the same mutex does nothing; to another one, panics.
    pub(crate) fn bind(&self, mutex: &RobustMutex) {
        let distance = self.distance_to(mutex as *const RobustMutex as usize);
        if let Err(bound) =
            self.mutex_at
                .compare_exchange(0, distance, Ordering::SeqCst, Ordering::SeqCst)
        {
            assert_eq!(bound, distance, "buffer already bound to another mutex");
        }
    }

    fn check(&self, guard: &Locked<'_>) {
        let bound = self.mutex_at.load(Ordering::SeqCst);
        assert!(
            bound != 0 && bound == self.distance_to(guard.mutex_addr()),
            "shared buffer used without holding the mutex it is bound to"
        );
    }

    /// The bytes, for as long as the guard is held.
    pub(crate) fn get<'a>(&'a self, guard: &'a Locked<'_>) -> &'a [u8; N] {
        self.check(guard);
        // SAFETY: the bound mutex is held by this thread (checked above; a guard is not
        // Send), so no other thread or process writes the bytes while this borrow, tied to
        // the guard, lives; a `get_mut` would need the guard mutably.
        unsafe { &*self.bytes.get() }
    }

    /// The bytes, mutably, for as long as the guard is held (mutably, so that no other
    /// borrow of the bytes exists meanwhile).
    pub(crate) fn get_mut<'a>(&'a self, guard: &'a mut Locked<'_>) -> &'a mut [u8; N] {
        self.check(guard);
        // SAFETY: as in `get`; and the guard is borrowed mutably for the result's life, so
        // neither `get` nor another `get_mut` through it can overlap this borrow.
        unsafe { &mut *self.bytes.get() }
    }
}

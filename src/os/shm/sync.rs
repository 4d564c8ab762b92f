//! The process-shared objects that live in a [`super::Region`]: a robust mutex, a semaphore,
//! a futex word, and a byte buffer guarded by a mutex. Each is valid when all-zero and
//! initialises itself in place on first use.

use std::cell::UnsafeCell;
use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::Plain;

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

    fn done(&self) -> bool {
        self.0.load(Ordering::Acquire) == 2
    }
}

/// A process-shared robust mutex. See the [shared-memory docs](super).
#[repr(C)]
pub(crate) struct RobustMutex {
    init: InitOnce,
    /// The thread that holds the mutex without a guard ([`Locked::keep`]), or 0.
    keeper: AtomicI32,
    mutex: UnsafeCell<libc::pthread_mutex_t>,
}

/// This thread's id, as the kernel numbers threads (unique across processes).
fn thread_id() -> i32 {
    nix::unistd::gettid().as_raw()
}

// SAFETY: a process-shared pthread mutex is built to be used concurrently from any thread of
// any process.
unsafe impl Sync for RobustMutex {}
// SAFETY: all-zero is "not initialised yet" (initialised in place on first use), it holds no
// pointer into this process, and it is shared-safe (above).
unsafe impl Plain for RobustMutex {}

/// What [`RobustMutex::lock`] got.
pub(crate) enum LockOutcome<'a> {
    /// The mutex is held until the guard drops.
    Locked(Locked<'a>),
    /// The deadline passed first.
    TimedOut,
}

/// A held [`RobustMutex`]; unlocks on drop. Not `Send`: a pthread mutex must be unlocked by
/// the thread that locked it.
pub(crate) struct Locked<'a> {
    mutex: &'a RobustMutex,
    owner_died: bool,
    _not_send: PhantomData<*const ()>,
}

impl Locked<'_> {
    /// Whether the previous holder died holding the mutex (`EOWNERDEAD`). The mutex has been
    /// marked consistent again; what it guarded may be half done.
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
        self.mutex.keeper.store(thread_id(), Ordering::SeqCst);
        std::mem::forget(self);
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: this thread holds the mutex (a `Locked` exists only after a successful lock
        // and is not Send).
        unsafe { libc::pthread_mutex_unlock(self.mutex.mutex.get()) };
    }
}

fn check(code: libc::c_int, what: &str) -> io::Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(io::Error::new(
            io::Error::from_raw_os_error(code).kind(),
            format!("{what}: {}", io::Error::from_raw_os_error(code)),
        ))
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

impl RobustMutex {
    /// Initialises the mutex in place: process-shared, robust, and error-checking (a thread
    /// locking it twice gets an error instead of a deadlock).
    fn init(&self) -> io::Result<()> {
        self.init.call(|| {
            // SAFETY: `attr` is initialised by pthread_mutexattr_init before use and
            // destroyed after; the mutex memory is ours to initialise (InitOnce lets exactly
            // one caller, in any process, do it, before anyone uses it).
            unsafe {
                let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
                check(
                    libc::pthread_mutexattr_init(attr.as_mut_ptr()),
                    "mutexattr_init",
                )?;
                let result = check(
                    libc::pthread_mutexattr_setpshared(
                        attr.as_mut_ptr(),
                        libc::PTHREAD_PROCESS_SHARED,
                    ),
                    "mutexattr_setpshared",
                )
                .and_then(|()| {
                    check(
                        libc::pthread_mutexattr_setrobust(
                            attr.as_mut_ptr(),
                            libc::PTHREAD_MUTEX_ROBUST,
                        ),
                        "mutexattr_setrobust",
                    )
                })
                .and_then(|()| {
                    check(
                        libc::pthread_mutexattr_settype(
                            attr.as_mut_ptr(),
                            libc::PTHREAD_MUTEX_ERRORCHECK,
                        ),
                        "mutexattr_settype",
                    )
                })
                .and_then(|()| {
                    check(
                        libc::pthread_mutex_init(self.mutex.get(), attr.as_ptr()),
                        "mutex_init",
                    )
                });
                libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
                result
            }
        })
    }

    /// Unlocks a mutex this thread keeps ([`Locked::keep`]). Fails, changing nothing, when
    /// this thread does not keep it.
    pub(crate) fn unlock_kept(&self) -> io::Result<()> {
        let me = thread_id();
        if self
            .keeper
            .compare_exchange(me, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "this thread does not hold the lock",
            ));
        }
        // SAFETY: this thread locked the mutex and kept it (checked above), so it is the
        // owner and no guard for it exists; an error-checking mutex refuses anything else.
        check(
            unsafe { libc::pthread_mutex_unlock(self.mutex.get()) },
            "mutex_unlock",
        )
    }

    /// Whether this thread keeps the mutex locked ([`Locked::keep`]).
    pub(crate) fn kept_by_me(&self) -> bool {
        self.keeper.load(Ordering::SeqCst) == thread_id()
    }

    /// Locks, waiting until `deadline` (`None`: no limit). A holder that died is reported on
    /// the guard, and the mutex made consistent again.
    pub(crate) fn lock(&self, deadline: Option<Instant>) -> io::Result<LockOutcome<'_>> {
        if !self.init.done() {
            self.init()?;
        }
        loop {
            let code = match deadline {
                // SAFETY: the mutex is initialised (above) and lives in a mapping that
                // outlives `self`.
                None => unsafe { libc::pthread_mutex_lock(self.mutex.get()) },
                Some(d) => {
                    let at = realtime(d);
                    // SAFETY: as above; `at` is a valid timespec on our stack.
                    unsafe { libc::pthread_mutex_timedlock(self.mutex.get(), &at) }
                }
            };
            let owner_died = match code {
                0 => false,
                libc::EOWNERDEAD => {
                    // SAFETY: we hold the mutex (EOWNERDEAD means acquired) and mark it usable
                    // again, having told the caller through `owner_died`.
                    unsafe { libc::pthread_mutex_consistent(self.mutex.get()) };
                    // A thread of the dead process may have kept it: it is ours now.
                    self.keeper.store(0, Ordering::SeqCst);
                    true
                }
                libc::ETIMEDOUT => return Ok(LockOutcome::TimedOut),
                libc::EINTR => continue,
                libc::EDEADLK => {
                    return Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        "this thread already holds the lock",
                    ));
                }
                other => return Err(io::Error::from_raw_os_error(other)),
            };
            return Ok(LockOutcome::Locked(Locked {
                mutex: self,
                owner_died,
                _not_send: PhantomData,
            }));
        }
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

/// A 32-bit word in shared memory that processes wait on and wake each other through
/// (`futex(2)`, the shared, not process-private, kind). See the [shared-memory docs](super).
#[repr(C)]
// The process-shared primitives build on it; until then only its tests use it.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Futex(AtomicU32);

// SAFETY: an atomic word: zero is valid, no pointer, changed only atomically.
unsafe impl Plain for Futex {}

#[cfg_attr(not(test), allow(dead_code))]
impl Futex {
    /// The word itself.
    pub(crate) fn word(&self) -> &AtomicU32 {
        &self.0
    }

    /// Sleeps while the word equals `expected`, until woken, a signal, or `deadline` (`None`:
    /// no limit). Returns `false` only when the deadline passed; `true` means "look again"
    /// (woken, the word had already changed, or a spurious wake-up).
    pub(crate) fn wait(&self, expected: u32, deadline: Option<Instant>) -> io::Result<bool> {
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(self.0.load(Ordering::SeqCst) != expected);
                }
                Some(libc::timespec {
                    tv_sec: left.as_secs() as libc::time_t,
                    tv_nsec: left.subsec_nanos() as libc::c_long,
                })
            }
        };
        let ts = timeout
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: FUTEX_WAIT reads the aligned u32 at the word's address (valid for the
        // mapping's life, which outlives `self`) and an optional timespec on our stack; it
        // writes no memory.
        let code = unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.0.as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                ts,
                std::ptr::null::<u32>(),
                0u32,
            )
        };
        if code == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(true),
            Some(libc::ETIMEDOUT) => Ok(false),
            _ => Err(err),
        }
    }

    /// Wakes up to `n` processes or threads sleeping in [`Futex::wait`]; returns how many.
    pub(crate) fn wake(&self, n: u32) -> usize {
        let n = n.min(i32::MAX as u32);
        // SAFETY: FUTEX_WAKE only uses the word's address as a key; no memory is read or
        // written.
        let woken = unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.0.as_ptr(),
                libc::FUTEX_WAKE,
                n,
                std::ptr::null::<libc::timespec>(),
                std::ptr::null::<u32>(),
                0u32,
            )
        };
        woken.max(0) as usize
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
    fn distance_to(&self, mutex: &RobustMutex) -> i64 {
        (mutex as *const RobustMutex as isize as i64) - (self as *const Self as isize as i64)
    }

    /// Binds the buffer to `mutex` (in the same region): from now on only its holder reaches
    /// the bytes. Binding again to the same mutex does nothing; to another one, panics.
    pub(crate) fn bind(&self, mutex: &RobustMutex) {
        let distance = self.distance_to(mutex);
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
            bound != 0 && bound == self.distance_to(guard.mutex),
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

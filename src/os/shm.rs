//! Shared memory between processes, and the synchronisation objects that live in it.
//!
//! A [`Shared<T>`] is a `memfd` mapped `MAP_SHARED`: every process that maps the same
//! descriptor sees the same bytes. Only layouts defined here may be shared ([`ShmLayout`]),
//! each made of atomics and of the two process-shared objects below, so that the rest of the
//! crate reaches shared memory only through safe methods:
//!
//! - [`RobustMutex`]: a `PTHREAD_PROCESS_SHARED`, `PTHREAD_MUTEX_ROBUST` mutex. When its holder
//!   dies, the kernel releases it and the next locker learns that the holder died
//!   ([`Locked::owner_died`]), so it can tell whether the data the mutex guards was left half
//!   done;
//! - [`SharedSemaphore`]: a process-shared POSIX semaphore (`sem_init` with `pshared = 1`).

use std::cell::UnsafeCell;
use std::io;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap};

/// A layout that may live in shared memory: `#[repr(C)]`, valid when all-zero except for the
/// parts [`ShmLayout::init`] sets up, and made only of atomics, plain integers and the
/// process-shared objects of this module.
///
/// # Safety
/// Implementors guarantee the properties above; only this module implements it.
pub(crate) unsafe trait ShmLayout: Sync {
    /// A value stored at the start of the region by [`ShmLayout::init`], checked when another
    /// process maps it.
    const MAGIC: u64;
    /// Sets up a zero-filled region; runs once, in the creating process, before any sharing.
    fn init(&self) -> io::Result<()>;
    /// The magic as stored in the region.
    fn magic(&self) -> u64;
}

/// A `T` in shared memory, created here or mapped from a descriptor another process sent.
pub(crate) struct Shared<T: ShmLayout> {
    fd: OwnedFd,
    ptr: NonNull<T>,
    len: NonZeroUsize,
    _type: PhantomData<T>,
}

// SAFETY: the mapping is plain memory reached only through `&T`, and `T: Sync` makes shared
// references safe to use from any thread.
unsafe impl<T: ShmLayout> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: ShmLayout> Sync for Shared<T> {}

impl<T: ShmLayout> Shared<T> {
    /// Creates a zero-filled region for a `T` and initialises it.
    pub(crate) fn create(name: &std::ffi::CStr) -> io::Result<Self> {
        let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC)?;
        let len = size_of::<T>().max(1);
        nix::unistd::ftruncate(&fd, len as i64)?;
        let shared = Self::map_fd(fd, len)?;
        shared.get().init()?;
        Ok(shared)
    }

    /// Maps a region another process created, after checking its size and magic.
    pub(crate) fn open(fd: OwnedFd) -> io::Result<Self> {
        let st = nix::sys::stat::fstat(fd.as_fd())?;
        if (st.st_size as u64) < size_of::<T>() as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "shared memory region is smaller than expected",
            ));
        }
        let shared = Self::map_fd(fd, size_of::<T>().max(1))?;
        if shared.get().magic() != T::MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "shared memory region does not hold what was expected",
            ));
        }
        Ok(shared)
    }

    fn map_fd(fd: OwnedFd, len: usize) -> io::Result<Self> {
        let len = NonZeroUsize::new(len).expect("len is at least 1");
        // SAFETY: a fresh shared mapping of a file we own, at an address the kernel chooses;
        // no existing memory is affected.
        let ptr = unsafe {
            mmap(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                fd.as_fd(),
                0,
            )?
        };
        Ok(Shared {
            fd,
            ptr: ptr.cast(),
            len,
            _type: PhantomData,
        })
    }

    /// The shared value.
    pub(crate) fn get(&self) -> &T {
        // SAFETY: the mapping is at least size_of::<T>() bytes, page-aligned (so aligned for
        // T), lives as long as `self`, and holds a valid T: zero-filled by ftruncate and set
        // up by `init` (ShmLayout's contract), or checked by magic when opened.
        unsafe { self.ptr.as_ref() }
    }

    /// The descriptor, to hand to another process.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<T: ShmLayout> Drop for Shared<T> {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map_fd`; no reference into it outlives
        // `self` because `get` borrows from `self`.
        let _ = unsafe { munmap(self.ptr.cast(), self.len.get()) };
    }
}

/// A process-shared robust mutex. See the [module docs](self).
#[repr(C)]
pub(crate) struct RobustMutex(UnsafeCell<libc::pthread_mutex_t>);

// SAFETY: a process-shared pthread mutex is built to be used concurrently from any thread of
// any process.
unsafe impl Sync for RobustMutex {}

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
    pub(super) mutex: &'a RobustMutex,
    owner_died: bool,
    _not_send: PhantomData<*const ()>,
}

impl Locked<'_> {
    /// Whether the previous holder died holding the mutex (`EOWNERDEAD`). The mutex has been
    /// marked consistent again; what it guarded may be half done.
    pub(crate) fn owner_died(&self) -> bool {
        self.owner_died
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: this thread holds the mutex (a `Locked` exists only after a successful lock
        // and is not Send).
        unsafe { libc::pthread_mutex_unlock(self.mutex.0.get()) };
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
    /// Initialises the mutex in place: process-shared and robust. Creator only, once.
    fn init(&self) -> io::Result<()> {
        // SAFETY: `attr` is initialised by pthread_mutexattr_init before use and destroyed
        // after; the mutex memory is ours (zero-filled, not yet shared or in use).
        unsafe {
            let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
            check(
                libc::pthread_mutexattr_init(attr.as_mut_ptr()),
                "mutexattr_init",
            )?;
            let result = check(
                libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED),
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
                    libc::pthread_mutex_init(self.0.get(), attr.as_ptr()),
                    "mutex_init",
                )
            });
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
            result
        }
    }

    /// Locks, waiting until `deadline` (`None`: no limit). A holder that died is reported on
    /// the guard, and the mutex made consistent again.
    pub(crate) fn lock(&self, deadline: Option<Instant>) -> io::Result<LockOutcome<'_>> {
        loop {
            let code = match deadline {
                // SAFETY: the mutex was initialised by the creator (ShmLayout::init) and lives
                // in a mapping that outlives `self`.
                None => unsafe { libc::pthread_mutex_lock(self.0.get()) },
                Some(d) => {
                    let at = realtime(d);
                    // SAFETY: as above; `at` is a valid timespec on our stack.
                    unsafe { libc::pthread_mutex_timedlock(self.0.get(), &at) }
                }
            };
            let owner_died = match code {
                0 => false,
                libc::EOWNERDEAD => {
                    // SAFETY: we hold the mutex (EOWNERDEAD means acquired) and mark it usable
                    // again, having told the caller through `owner_died`.
                    unsafe { libc::pthread_mutex_consistent(self.0.get()) };
                    true
                }
                libc::ETIMEDOUT => return Ok(LockOutcome::TimedOut),
                libc::EINTR => continue,
                other => {
                    return Err(io::Error::from_raw_os_error(other));
                }
            };
            return Ok(LockOutcome::Locked(Locked {
                mutex: self,
                owner_died,
                _not_send: PhantomData,
            }));
        }
    }
}

/// A process-shared counting semaphore. See the [module docs](self).
#[repr(C)]
pub(crate) struct SharedSemaphore(UnsafeCell<libc::sem_t>);

// SAFETY: a process-shared POSIX semaphore is built for concurrent use from any process.
unsafe impl Sync for SharedSemaphore {}

impl SharedSemaphore {
    /// Initialises the semaphore in place with `value`. Creator only, once.
    fn init(&self, value: u32) -> io::Result<()> {
        // SAFETY: the semaphore memory is ours, zero-filled and not yet shared.
        if unsafe { libc::sem_init(self.0.get(), 1, value) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Takes one unit, waiting until `deadline` (`None`: no limit). `Ok(false)` on timeout.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> io::Result<bool> {
        loop {
            let code = match deadline {
                // SAFETY: initialised by the creator; lives in a mapping that outlives `self`.
                None => unsafe { libc::sem_wait(self.0.get()) },
                Some(d) => {
                    let at = realtime(d);
                    // SAFETY: as above; `at` is a valid timespec on our stack.
                    unsafe { libc::sem_timedwait(self.0.get(), &at) }
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
    pub(crate) fn post(&self) {
        // SAFETY: initialised by the creator; sem_post is async-signal-safe and lock-free.
        unsafe { libc::sem_post(self.0.get()) };
    }
}

/// How many handles, across all processes, a queue keeps track of: room for `pi-master`'s
/// 1024 workers with their master's handles, and to spare.
pub(crate) const MAX_HOLDERS: usize = 4096;

/// The shared part of a [`crate::queue::Queue`]: its locks, counters and the table of
/// processes holding it. The items themselves travel through a pipe.
#[repr(C)]
pub(crate) struct QueueState {
    magic: AtomicU64,
    /// Held by a producer for the whole of one frame's write.
    pub(crate) write_lock: RobustMutex,
    /// Held by a consumer for the whole of one frame's read.
    pub(crate) read_lock: RobustMutex,
    /// Free places in a bounded queue.
    pub(crate) slots: SharedSemaphore,
    /// The bound, 0 for none.
    pub(crate) maxsize: AtomicU64,
    /// Items completely written, and completely read.
    pub(crate) puts: AtomicU64,
    /// Items completely read.
    pub(crate) gets: AtomicU64,
    /// The pid of the producer in the middle of writing a frame, or 0.
    pub(crate) writing: AtomicI32,
    /// The pid of the consumer in the middle of reading a frame, or 0.
    pub(crate) reading: AtomicI32,
    /// Nonzero once a producer or consumer died mid-frame: the stream is out of step.
    pub(crate) broken: AtomicU32,
    /// The pid that died mid-frame.
    pub(crate) broken_by: AtomicI32,
    /// Pids of the processes holding a handle; 0 is a free slot.
    pub(crate) holders: [AtomicI32; MAX_HOLDERS],
    /// Bytes a consumer read from the pipe beyond the item it took, left for the next one.
    pub(crate) ahead: ReadAhead,
}

/// Size of a queue's read-ahead buffer: one pipe's worth.
pub(crate) const AHEAD: usize = 64 * 1024;

/// A buffer in shared memory that lets a consumer read many small items from the pipe in one
/// system call: it reads what is there, takes its item, and leaves the rest here for the next
/// consumer, whichever process that is. Used only while holding the queue's read lock, which
/// every method demands as proof.
#[repr(C)]
pub(crate) struct ReadAhead {
    start: AtomicU32,
    end: AtomicU32,
    bytes: UnsafeCell<[u8; AHEAD]>,
}

// SAFETY: `bytes` is touched only through methods that take the read lock's guard, so one
// thread at a time, in whichever process holds the lock.
unsafe impl Sync for ReadAhead {}

impl ReadAhead {
    fn check(&self, state: &QueueState, guard: &Locked<'_>) {
        assert!(
            std::ptr::eq(guard.mutex, &state.read_lock) && std::ptr::eq(self, &state.ahead),
            "read-ahead used without its queue's read lock"
        );
    }

    /// Whether any bytes are waiting (a hint: read without the lock).
    pub(crate) fn has_bytes(&self) -> bool {
        self.end.load(std::sync::atomic::Ordering::Acquire)
            > self.start.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The bytes waiting, `start..end`.
    pub(crate) fn waiting<'a>(&'a self, state: &QueueState, guard: &'a Locked<'_>) -> &'a [u8] {
        self.check(state, guard);
        let (start, end) = (
            self.start.load(std::sync::atomic::Ordering::Acquire) as usize,
            self.end.load(std::sync::atomic::Ordering::Acquire) as usize,
        );
        let (start, end) = (start.min(AHEAD), end.min(AHEAD).max(start.min(AHEAD)));
        // SAFETY: the read lock is held (checked above), so no other thread or process writes
        // the buffer while this borrow, tied to the guard, lives; indices are clamped in bounds.
        unsafe { &(&*self.bytes.get())[start..end] }
    }

    /// Marks `n` waiting bytes as taken.
    pub(crate) fn consume(&self, state: &QueueState, guard: &Locked<'_>, n: usize) {
        self.check(state, guard);
        let start = self.start.load(std::sync::atomic::Ordering::Acquire) as usize;
        let end = self.end.load(std::sync::atomic::Ordering::Acquire) as usize;
        let start = (start + n).min(end);
        if start == end {
            // Empty: start over at the front.
            self.start.store(0, std::sync::atomic::Ordering::Release);
            self.end.store(0, std::sync::atomic::Ordering::Release);
        } else {
            self.start
                .store(start as u32, std::sync::atomic::Ordering::Release);
        }
    }

    /// Reads what the pipe has (without blocking) into the free space, after moving the waiting
    /// bytes to the front. `Ok(None)`: nothing to read now; `Ok(Some(0))`: end of stream. Takes
    /// the guard mutably, so no slice from [`ReadAhead::waiting`] can be alive meanwhile.
    pub(crate) fn fill(
        &self,
        state: &QueueState,
        guard: &mut Locked<'_>,
        fd: BorrowedFd<'_>,
    ) -> io::Result<Option<usize>> {
        self.check(state, guard);
        let start = (self.start.load(std::sync::atomic::Ordering::Acquire) as usize).min(AHEAD);
        let end =
            (self.end.load(std::sync::atomic::Ordering::Acquire) as usize).clamp(start, AHEAD);
        // SAFETY: the read lock is held (checked above): this thread is the only one touching
        // the buffer until it is released, and the borrow ends within this call.
        let bytes = unsafe { &mut *self.bytes.get() };
        let mut end = end;
        if start > 0 {
            bytes.copy_within(start..end, 0);
            end -= start;
            self.start.store(0, std::sync::atomic::Ordering::Release);
            self.end
                .store(end as u32, std::sync::atomic::Ordering::Release);
        }
        if end == AHEAD {
            return Err(io::Error::other("read-ahead buffer full"));
        }
        let got = super::read_nonblocking(fd, &mut bytes[end..])?;
        if let Some(n) = got {
            self.end
                .store((end + n) as u32, std::sync::atomic::Ordering::Release);
        }
        Ok(got)
    }
}

impl QueueState {
    /// Sets the bound; creator only, before sharing.
    pub(crate) fn set_bound(&self, maxsize: u32) -> io::Result<()> {
        self.slots.init(maxsize)?;
        self.maxsize
            .store(u64::from(maxsize), std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

// SAFETY: #[repr(C)], all-zero is a valid state for every atomic, and `init` initialises the
// two mutexes (the semaphore is initialised by `set_bound` before sharing, and used only when
// `maxsize` is nonzero).
unsafe impl ShmLayout for QueueState {
    const MAGIC: u64 = u64::from_le_bytes(*b"mprocQ01");
    fn init(&self) -> io::Result<()> {
        self.write_lock.init()?;
        self.read_lock.init()?;
        self.magic
            .store(Self::MAGIC, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
    fn magic(&self) -> u64 {
        self.magic.load(std::sync::atomic::Ordering::SeqCst)
    }
}

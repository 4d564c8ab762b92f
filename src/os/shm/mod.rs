//! Shared memory between processes, and the synchronisation objects that live in it.
//!
//! A [`Region<T>`] is a `memfd` mapped `MAP_SHARED`: every process that maps the same
//! descriptor sees the same bytes. Any [`Plain`] type may live there: a type that is valid
//! when all-zero, holds no pointer, and changes only through atomics or the process-shared
//! objects of this module. Plain are the integer atomics, arrays of plain types, the objects
//! below, and any struct declared with [`plain_struct!`], which checks that every field is
//! plain; so the rest of the runtime lays out its shared state (a queue's, a lock's) without
//! touching this module and without `unsafe`:
//!
//! - [`RobustMutex`]: a process-shared mutex on a futex that knows its holder's thread. When
//!   its holder dies, the next locker takes it over and learns that the holder died
//!   ([`Locked::owner_died`]), so it can tell whether the data the mutex guards was left half
//!   done;
//! - [`SharedSemaphore`]: a process-shared POSIX semaphore (`sem_init` with `pshared = 1`);
//! - [`Futex`]: a 32-bit word that processes wait on and wake each other through, sleeping in
//!   the kernel;
//! - [`GuardedBytes`]: a byte buffer readable and writable only while holding the
//!   [`RobustMutex`] it is bound to.
//!
//! All-zero memory is a valid, unlocked mutex and futex; the semaphore initialises itself in
//! place on first use.

use std::any::TypeId;
use std::hash::{Hash, Hasher};
use std::io;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicU8, AtomicU16, AtomicU32, AtomicU64, AtomicUsize,
    Ordering,
};

use nix::sys::memfd::{MFdFlags, memfd_create};

mod data;
mod futex;
mod mutex;
mod sync;

pub use data::SharedData;

pub(crate) use futex::Futex;
pub(crate) use mutex::{LockOutcome, Locked, RobustMutex, thread_id};
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap};
pub(crate) use sync::{GuardedBytes, SharedSemaphore};

/// A type that may live in memory shared between processes. See the [module docs](self).
///
/// # Safety
/// Implementors guarantee that all-zero bytes are a valid value, that the type holds no
/// pointer or reference (another process maps the memory elsewhere), and that it is `Sync`
/// with every change made through atomics or the process-shared objects of this module.
/// Structs get it from [`plain_struct!`], which checks every field.
pub(crate) unsafe trait Plain: Sync + 'static {}

// SAFETY: integer and boolean atomics are valid at zero, hold no pointer, and change only
// atomically.
unsafe impl Plain for AtomicBool {}
// SAFETY: as above.
unsafe impl Plain for AtomicU8 {}
// SAFETY: as above.
unsafe impl Plain for AtomicU16 {}
// SAFETY: as above.
unsafe impl Plain for AtomicU32 {}
// SAFETY: as above.
unsafe impl Plain for AtomicU64 {}
// SAFETY: as above.
unsafe impl Plain for AtomicI32 {}
// SAFETY: as above.
unsafe impl Plain for AtomicI64 {}
// SAFETY: as above.
unsafe impl Plain for AtomicUsize {}
// SAFETY: an array of plain values is plain: zero is valid for each, and no pointer appears.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

/// Declares a `#[repr(C)]` struct that may live in shared memory ([`Plain`]), checking at
/// compile time that every field is [`Plain`].
macro_rules! plain_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field : $ty ),*
        }

        // SAFETY: every field is Plain (the where clause fails to compile otherwise), so
        // all-zero is valid for each, no pointer appears, and changes go through atomics or
        // the process-shared objects; a #[repr(C)] struct of such fields is the same.
        #[allow(unsafe_code)]
        unsafe impl $crate::os::shm::Plain for $name where $( $ty: $crate::os::shm::Plain ),* {}
    };
}
pub(crate) use plain_struct;

/// What a region starts with: who made it and for which types, checked when it is opened.
#[repr(C)]
struct Header {
    magic: AtomicU64,
    fingerprint: AtomicU64,
}

const REGION_MAGIC: u64 = u64::from_le_bytes(*b"mprocSH2");

#[repr(C)]
struct Mapped<T> {
    header: Header,
    value: T,
}

/// A number standing for type `T` in this executable (the same in every process running the
/// same file, which the worker bootstrap checks).
fn fingerprint<T: 'static>() -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    TypeId::of::<T>().hash(&mut hasher);
    size_of::<T>().hash(&mut hasher);
    hasher.finish()
}

/// A `T` in shared memory, followed by `len` values of plain data `D` (none for a
/// [`Region`]), created here or mapped from a descriptor another process sent.
pub(crate) struct DataRegion<T: Plain, D: SharedData> {
    fd: OwnedFd,
    ptr: NonNull<Mapped<T>>,
    /// Bytes mapped.
    size: NonZeroUsize,
    /// Values of `D` after the `T`.
    len: usize,
    _type: PhantomData<(T, D)>,
}

/// A `T` in shared memory, with no data after it.
#[cfg(test)]
pub(crate) type Region<T> = DataRegion<T, u8>;

// SAFETY: the mapping is plain memory reached only through `&T` (`T: Plain`, so `Sync`) and
// through the data accessors, which are atomic or demand the region's lock.
unsafe impl<T: Plain, D: SharedData> Send for DataRegion<T, D> {}
// SAFETY: as above.
unsafe impl<T: Plain, D: SharedData> Sync for DataRegion<T, D> {}

#[cfg(test)]
impl<T: Plain> Region<T> {
    /// Creates a zero-filled region holding a `T` (all-zero is a valid `T`: [`Plain`]).
    /// `name` shows in `/proc/PID/fd` and `/proc/PID/maps`; nothing is created in any file
    /// system.
    pub(crate) fn create(name: &std::ffi::CStr) -> io::Result<Self> {
        Self::create_with_data(name, 0)
    }
}

impl<T: Plain, D: SharedData> DataRegion<T, D> {
    /// Where the data starts: right after the header and the `T` (whose alignment, at least
    /// that of the header's u64s, suits any `D`).
    const DATA_AT: usize = size_of::<Mapped<T>>();

    /// Creates a zero-filled region holding a `T` and `len` values of `D` (all-zero is valid
    /// for both).
    pub(crate) fn create_with_data(name: &std::ffi::CStr, len: usize) -> io::Result<Self> {
        let size = len
            .checked_mul(size_of::<D>())
            .and_then(|data| data.checked_add(Self::DATA_AT))
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "shared region too large")
            })?;
        let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC)?;
        nix::unistd::ftruncate(&fd, size as i64)?;
        let region = Self::map_fd(fd, size, len)?;
        let header = region.header();
        header
            .fingerprint
            .store(fingerprint::<(T, D)>(), Ordering::SeqCst);
        header.magic.store(REGION_MAGIC, Ordering::SeqCst);
        Ok(region)
    }

    /// Maps a region another process created, after checking that it holds a `T` and data of
    /// type `D`.
    pub(crate) fn open(fd: OwnedFd) -> io::Result<Self> {
        let st = nix::sys::stat::fstat(fd.as_fd())?;
        let size = usize::try_from(st.st_size).unwrap_or(0);
        let data = size.checked_sub(Self::DATA_AT);
        let len = match data {
            Some(bytes) if size_of::<D>() > 0 && bytes % size_of::<D>() == 0 => {
                bytes / size_of::<D>()
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("shared memory region of {size} bytes does not hold what was expected"),
                ));
            }
        };
        let region = Self::map_fd(fd, size, len)?;
        let header = region.header();
        if header.magic.load(Ordering::SeqCst) != REGION_MAGIC
            || header.fingerprint.load(Ordering::SeqCst) != fingerprint::<(T, D)>()
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "shared memory region does not hold what was expected",
            ));
        }
        Ok(region)
    }

    fn map_fd(fd: OwnedFd, size: usize, len: usize) -> io::Result<Self> {
        let size = NonZeroUsize::new(size).expect("a header makes every region non-empty");
        // SAFETY: a fresh shared mapping of a file we own, at an address the kernel chooses;
        // no existing memory is affected.
        let ptr = unsafe {
            mmap(
                None,
                size,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                fd.as_fd(),
                0,
            )?
        };
        Ok(DataRegion {
            fd,
            ptr: ptr.cast(),
            size,
            len,
            _type: PhantomData,
        })
    }

    fn mapped(&self) -> &Mapped<T> {
        // SAFETY: the mapping is at least size_of::<Mapped<T>>() bytes (set by `create`,
        // checked by `open`), page-aligned (so aligned for it), lives as long as `self`, and
        // holds a valid value: zero-filled by ftruncate, all-zero being valid for a Plain T
        // and for the header's atomics, and changed since only through atomics and the
        // process-shared objects (Plain's contract).
        unsafe { self.ptr.as_ref() }
    }

    fn header(&self) -> &Header {
        &self.mapped().header
    }

    /// The shared value.
    pub(crate) fn get(&self) -> &T {
        &self.mapped().value
    }

    /// The descriptor, to hand to another process.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// How many values of `D` follow the `T`.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The address of data value `i`, which must be below `len`.
    fn data_ptr(&self, i: usize) -> *mut D {
        assert!(
            i < self.len,
            "index {i} out of range for {} values",
            self.len
        );
        // SAFETY: DATA_AT + i * size_of::<D>() is inside the mapping (checked above against
        // `len`, which matches the mapped size), so the offset stays in the same allocation.
        unsafe {
            self.ptr
                .cast::<u8>()
                .as_ptr()
                .add(Self::DATA_AT)
                .cast::<D>()
                .add(i)
        }
    }

    /// Reads data value `i` (panics past `len`). Atomic piece by piece, so it is sound
    /// whoever else reads or writes meanwhile; a value wider than 8 bytes may mix two writes.
    pub(crate) fn load(&self, i: usize) -> D {
        data::atomic_load(self.data_ptr(i))
    }

    /// Writes data value `i` (panics past `len`), atomically piece by piece.
    pub(crate) fn store(&self, i: usize, value: D) {
        data::atomic_store(self.data_ptr(i), value)
    }

    /// All the data, for as long as `guard` is held (same rule as [`DataRegion::data_mut`]).
    pub(crate) fn data_ref<'a>(&'a self, guard: &'a Locked<'_>) -> &'a [D] {
        self.check_guard(guard);
        if self.len == 0 {
            return &[];
        }
        // SAFETY: as in `data_mut`: the region's mutex is held by this thread, borrowed for the
        // result's life (shared, so only other shared borrows through it can coexist).
        unsafe { std::slice::from_raw_parts(self.data_ptr(0), self.len) }
    }

    fn check_guard(&self, guard: &Locked<'_>) {
        let value = self.get() as *const T as usize;
        let mutex = guard.mutex_addr();
        assert!(
            mutex >= value && mutex + size_of::<RobustMutex>() <= value + size_of::<T>(),
            "shared data used without holding its region's mutex"
        );
    }

    /// All the data, mutably, for as long as `guard` is held. The guard must hold a mutex that
    /// lives in this region's `T` (panics otherwise): every process that reaches the data
    /// this way holds the same mutex, so no two of these borrows ever overlap.
    pub(crate) fn data_mut<'a>(&'a self, guard: &'a mut Locked<'_>) -> &'a mut [D] {
        self.check_guard(guard);
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: the data is `len` initialised values of D (zero-filled, all-zero being valid
        // SharedData, and written since only as whole values) inside the mapping; the mutex
        // in this region is held by this thread (a guard is not Send) and borrowed mutably for
        // the result's life, and every other path to the data either holds that mutex too
        // (this one) or is the atomic `load`/`store`, which the types built on this region
        // use only when they have no mutex.
        unsafe { std::slice::from_raw_parts_mut(self.data_ptr(0), self.len) }
    }
}

/// Bytes after the `T`, copied in and out without a lock: for a channel's rings
/// ([`crate::shm_channel`]), which hand each range of bytes to one process at a time through
/// their head and tail counters (a release store by the side that is done with a range, an
/// acquire load by the side that takes it over).
///
/// The bytes are plain `u8`, valid whatever they hold, and no reference to them outlives a
/// call. A peer that breaks the hand-over protocol (writes a range while we read it) can only
/// make us see wrong bytes, which the frame checks and the decoder then refuse; every access
/// is checked against the mapping's bounds first.
impl<T: Plain> DataRegion<T, u8> {
    /// The address of data bytes `at..at + len`, after checking they lie in the mapping.
    fn byte_range(&self, at: usize, len: usize) -> *mut u8 {
        let end = at.checked_add(len);
        assert!(
            end.is_some_and(|end| end <= self.len),
            "bytes {at}..{at}+{len} out of range for {} bytes",
            self.len
        );
        if len == 0 {
            return NonNull::<u8>::dangling().as_ptr();
        }
        self.data_ptr(at)
    }

    /// Copies `src` into the data bytes from `at` on.
    pub(crate) fn copy_into(&self, at: usize, src: &[u8]) {
        let dst = self.byte_range(at, src.len());
        // SAFETY: `dst..dst + len` lies in the mapping (checked) and `src` is our own memory,
        // so the two do not overlap; u8 has no alignment or validity requirement. The range
        // belongs to this process at this moment (the protocol above).
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) }
    }

    /// Copies the data bytes from `at` on into `dst`.
    pub(crate) fn copy_out(&self, at: usize, dst: &mut [u8]) {
        let src = self.byte_range(at, dst.len());
        // SAFETY: as in `copy_into`, the other way round.
        unsafe { std::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), dst.len()) }
    }

    /// Runs `f` on the data bytes `at..at + len`, to read them in place (decoding a message
    /// straight out of a ring).
    pub(crate) fn with_bytes<R>(&self, at: usize, len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        let ptr = self.byte_range(at, len);
        // SAFETY: the range lies in the mapping (checked), is initialised (zero-filled, then
        // written as bytes), and belongs to this process until `f` returns (the protocol
        // above); the slice does not outlive the call.
        f(unsafe { std::slice::from_raw_parts(ptr, len) })
    }

    /// Runs `f` on the data bytes `at..at + len`, to write them in place (encoding a message
    /// straight into a ring).
    pub(crate) fn with_bytes_mut<R>(
        &self,
        at: usize,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> R {
        let ptr = self.byte_range(at, len);
        // SAFETY: as in `with_bytes`; the range belongs to this process alone until `f`
        // returns, so no other slice over it exists in this process either (each call makes
        // its own, for its own range, and the channel's ends are not shared between threads).
        f(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
    }
}

impl<T: Plain, D: SharedData> Drop for DataRegion<T, D> {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map_fd`; no reference into it outlives
        // `self` because every accessor borrows from `self`.
        let _ = unsafe { munmap(self.ptr.cast(), self.size.get()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    plain_struct! {
        struct Pair {
            lock: RobustMutex,
            count: AtomicU64,
            wake: Futex,
            buf: GuardedBytes<16>,
        }
    }

    #[test]
    fn a_region_is_shared_between_two_mappings() {
        let a = Region::<Pair>::create(c"test").unwrap();
        let dup = a.fd().try_clone_to_owned().unwrap();
        let b = Region::<Pair>::open(dup).unwrap();
        a.get().count.store(42, Ordering::SeqCst);
        assert_eq!(b.get().count.load(Ordering::SeqCst), 42);
        let other = a.fd().try_clone_to_owned().unwrap();
        assert!(
            Region::<AtomicU64>::open(other).is_err(),
            "wrong type refused"
        );
    }

    #[test]
    fn guarded_bytes_need_their_mutex() {
        let r = Region::<Pair>::create(c"test").unwrap();
        let p = r.get();
        p.buf.bind(&p.lock);
        let LockOutcome::Locked(mut guard) = p.lock.lock(None).unwrap() else {
            panic!("no deadline, no timeout")
        };
        p.buf.get_mut(&mut guard)[0] = 7;
        assert_eq!(p.buf.get(&guard)[0], 7);
        assert!(
            p.lock.lock(None).is_err(),
            "relocking by the holder is an error"
        );
    }

    #[test]
    fn futex_wakes_a_sleeper_and_times_out() {
        let r = std::sync::Arc::new(Region::<Pair>::create(c"test").unwrap());
        let start = Instant::now();
        let timed_out = !r
            .get()
            .wake
            .wait(0, Some(start + Duration::from_millis(20)))
            .unwrap();
        assert!(timed_out && start.elapsed() >= Duration::from_millis(20));
        let r2 = std::sync::Arc::clone(&r);
        let sleeper = std::thread::spawn(move || {
            let f = &r2.get().wake;
            while f.word().load(Ordering::SeqCst) == 0 {
                f.wait(0, None).unwrap();
            }
        });
        std::thread::sleep(Duration::from_millis(10));
        r.get().wake.word().store(1, Ordering::SeqCst);
        r.get().wake.wake(1);
        sleeper.join().unwrap();
    }
}

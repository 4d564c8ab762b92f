//! Futexes: 32-bit words in shared memory that processes sleep on and wake each other
//! through (`futex(2)`, the shared kind: keyed by the memory, not by the process).

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use super::Plain;

/// Sleeps while `word` equals `expected`, until woken, a signal, or `deadline` (`None`: no
/// limit). Returns `false` only when the deadline passed; `true` means "look again" (woken,
/// the word had already changed, or a spurious wake-up).
pub(super) fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> io::Result<bool> {
    let timeout = match deadline {
        None => None,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(word.load(Ordering::SeqCst) != expected);
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
    // SAFETY: FUTEX_WAIT reads the aligned u32 at the word's address (valid for as long as
    // `word` is borrowed) and an optional timespec on our stack; it writes no memory.
    let code = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
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

/// Wakes up to `n` sleepers on `word`; returns how many.
pub(super) fn wake(word: &AtomicU32, n: u32) -> usize {
    let n = n.min(i32::MAX as u32);
    // SAFETY: FUTEX_WAKE only uses the word's address as a key; no memory is read or written.
    let woken = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            n,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    woken.max(0) as usize
}

/// A 32-bit word in shared memory that processes wait on and wake each other through. See
/// the [module docs](self).
#[repr(C)]
pub(crate) struct Futex(AtomicU32);

// SAFETY: an atomic word: zero is valid, no pointer, changed only atomically.
unsafe impl Plain for Futex {}

impl Futex {
    /// The word itself.
    pub(crate) fn word(&self) -> &AtomicU32 {
        &self.0
    }

    /// Sleeps while the word equals `expected`; see [`wait`].
    pub(crate) fn wait(&self, expected: u32, deadline: Option<Instant>) -> io::Result<bool> {
        wait(&self.0, expected, deadline)
    }

    /// Wakes up to `n` processes or threads sleeping in [`Futex::wait`]; returns how many.
    pub(crate) fn wake(&self, n: u32) -> usize {
        wake(&self.0, n)
    }
}

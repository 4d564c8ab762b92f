//! Plain data that may be shared between processes ([`SharedData`]: numbers, `bool`, and
//! fixed-size arrays of them), and reading and writing it atomically, piece by piece.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};

mod sealed {
    /// Implemented only for the types listed in this module.
    pub trait Sealed {}
}

/// A type whose values may live in memory shared between processes: the integers, `f32`,
/// `f64`, `bool`, and fixed-size arrays of these (`[f64; 3]`, `[[u8; 4]; 4]`).
///
/// Sealed: it cannot be implemented outside this crate. Each such type is valid when all
/// zero, holds no pointer (another process maps the memory elsewhere), and is copied in and
/// out whole.
///
/// # Safety
/// Implemented only here, for the types above; the properties listed are what the shared
/// memory code relies on.
pub unsafe trait SharedData: sealed::Sealed + Copy + Send + Sync + 'static {}

macro_rules! shared_data {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        // SAFETY: a number or bool: zero is a valid value, no pointer, copied whole.
        unsafe impl SharedData for $t {}
    )*};
}

shared_data!(
    u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, f32, f64, bool
);

impl<T: SharedData, const N: usize> sealed::Sealed for [T; N] {}
// SAFETY: an array of shared data is shared data: zero is valid for each element, and no
// pointer appears.
unsafe impl<T: SharedData, const N: usize> SharedData for [T; N] {}

/// Reads the `D` at `ptr` atomically in pieces of its alignment (at most 8 bytes).
///
/// `ptr` must point to a valid, aligned `D` that other threads or processes touch only
/// through [`atomic_load`] and [`atomic_store`] or while holding a lock that excludes this
/// call; the callers in this module's parent guarantee it.
pub(super) fn atomic_load<D: SharedData>(ptr: *mut D) -> D {
    let mut out = MaybeUninit::<D>::uninit();
    let dst = out.as_mut_ptr().cast::<u8>();
    let src = ptr.cast::<u8>();
    let (size, piece) = (size_of::<D>(), align_of::<D>().min(8));
    let mut at = 0;
    while at < size {
        // SAFETY: `src + at` is inside the D, aligned to `piece` (D's alignment, and `at` is
        // a multiple of it), and accessed only atomically by others (the contract above);
        // `dst + at` is inside our local MaybeUninit<D>.
        unsafe {
            match piece {
                8 => dst.add(at).cast::<u64>().write_unaligned(
                    AtomicU64::from_ptr(src.add(at).cast()).load(Ordering::Acquire),
                ),
                4 => dst.add(at).cast::<u32>().write_unaligned(
                    AtomicU32::from_ptr(src.add(at).cast()).load(Ordering::Acquire),
                ),
                2 => dst.add(at).cast::<u16>().write_unaligned(
                    AtomicU16::from_ptr(src.add(at).cast()).load(Ordering::Acquire),
                ),
                _ => *dst.add(at) = AtomicU8::from_ptr(src.add(at)).load(Ordering::Acquire),
            }
        }
        at += piece;
    }
    // SAFETY: every byte was copied. Every SharedData type is made of elements (numbers,
    // bools) whose size equals their alignment, so each piece copied holds whole elements of
    // valid values (written whole, or zero); even pieces of two different writes make a
    // valid D.
    unsafe { out.assume_init() }
}

/// Writes `value` at `ptr` atomically in pieces of its alignment; same contract as
/// [`atomic_load`].
pub(super) fn atomic_store<D: SharedData>(ptr: *mut D, value: D) {
    let src = (&value as *const D).cast::<u8>();
    let dst = ptr.cast::<u8>();
    let (size, piece) = (size_of::<D>(), align_of::<D>().min(8));
    let mut at = 0;
    while at < size {
        // SAFETY: as in `atomic_load`, with the roles of the two pointers exchanged.
        unsafe {
            match piece {
                8 => AtomicU64::from_ptr(dst.add(at).cast()).store(
                    src.add(at).cast::<u64>().read_unaligned(),
                    Ordering::Release,
                ),
                4 => AtomicU32::from_ptr(dst.add(at).cast()).store(
                    src.add(at).cast::<u32>().read_unaligned(),
                    Ordering::Release,
                ),
                2 => AtomicU16::from_ptr(dst.add(at).cast()).store(
                    src.add(at).cast::<u16>().read_unaligned(),
                    Ordering::Release,
                ),
                _ => AtomicU8::from_ptr(dst.add(at)).store(*src.add(at), Ordering::Release),
            }
        }
        at += piece;
    }
}

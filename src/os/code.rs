//! Code offsets: a function's place in the executable, as a distance that survives the
//! re-exec of the same file (address-space randomisation moves the image, not the distances
//! inside it). Only function pointers can be turned into offsets and back ([`FnPtr`], sealed).
#![allow(unsafe_code)]

mod sealed {
    /// Implemented only for the function-pointer types below.
    pub trait Sealed {}
}

/// A function-pointer type: the only kind of value [`code_offset`] and [`code_at`] accept.
/// Sealed: nothing outside this module can implement it, so no other type can be forged
/// from an offset.
pub(crate) trait FnPtr: Copy + sealed::Sealed {}

impl<A, R> sealed::Sealed for fn(A) -> R {}
impl<A, R> FnPtr for fn(A) -> R {}
impl<A, B, R> sealed::Sealed for fn(A, B) -> R {}
impl<A, B, R> FnPtr for fn(A, B) -> R {}

/// A function's place in the executable, as an offset from a fixed anchor in the same image.
/// Address-space layout randomisation moves the whole image, so the offset is the same in a
/// re-executed copy of the same file (checked with [`super::exe_identity`]).
pub(crate) fn code_offset<F: FnPtr>(f: F) -> usize {
    const { assert!(size_of::<F>() == size_of::<usize>()) };
    // SAFETY: F is pointer-sized (checked at compile time) and, being `FnPtr` (sealed), a
    // function pointer type; reading its bits as an address is what `f as usize` would do.
    let addr: usize = unsafe { std::mem::transmute_copy(&f) };
    addr.wrapping_sub(anchor as fn() as usize)
}

/// The function pointer of type `F` at `offset` from the anchor; the inverse of
/// [`code_offset`].
///
/// Crate-internal contract: `offset` came from `code_offset::<F>` with the same `F`, in a
/// process running the same executable file. The worker bootstrap checks the file identity
/// and the frame's magic and version before calling this, and both types are fixed by the
/// monomorphised entry point that receives them.
pub(crate) fn code_at<F: FnPtr>(offset: usize) -> F {
    const { assert!(size_of::<F>() == size_of::<usize>()) };
    let addr = (anchor as fn() as usize).wrapping_add(offset);
    // SAFETY: per the contract above, `addr` is the address of a function of type F in this
    // very image (same file, same offsets), so these bits are a valid value of type F.
    unsafe { std::mem::transmute_copy(&addr) }
}

#[inline(never)]
fn anchor() {}

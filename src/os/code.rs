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
/// [`code_offset`]. Refused (with why) when the address is not inside this executable's own
/// code, as mapped now: bytes from a pipe cannot send the worker to the heap, the stack or a
/// library.
///
/// Crate-internal contract: `offset` came from `code_offset::<F>` with the same `F`, in a
/// process running the same executable file. The worker bootstrap checks the file identity
/// and the frame's magic and version before calling this, and both types are fixed by the
/// monomorphised entry point that receives them.
pub(crate) fn code_at<F: FnPtr>(offset: usize) -> Result<F, String> {
    const { assert!(size_of::<F>() == size_of::<usize>()) };
    let addr = (anchor as fn() as usize).wrapping_add(offset);
    if !own_code()
        .iter()
        .any(|(start, end)| (*start..*end).contains(&addr))
    {
        return Err(format!(
            "the code offset {offset:#x} it was sent is outside this program's code"
        ));
    }
    // SAFETY: per the contract above, `addr` is the address of a function of type F in this
    // very image (same file, same offsets), so these bits are a valid value of type F; and it
    // lies inside this executable's own code, checked just above.
    Ok(unsafe { std::mem::transmute_copy(&addr) })
}

/// Reads this executable's code ranges now, so that processes forked from this one (the
/// forkserver's workers) inherit them instead of each reading `/proc/self/maps` again.
pub(crate) fn learn_own_code() {
    let _ = own_code();
}

/// The address ranges of this executable's own code (its executable mappings, from
/// `/proc/self/maps`), read once. Empty if they cannot be read, which refuses every offset.
fn own_code() -> &'static [(usize, usize)] {
    static RANGES: std::sync::OnceLock<Vec<(usize, usize)>> = std::sync::OnceLock::new();
    RANGES.get_or_init(|| {
        let anchor = anchor as fn() as usize;
        let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
            return Vec::new();
        };
        let mappings: Vec<(usize, usize, bool, &str)> = maps
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let (range, perms) = (fields.next()?, fields.next()?);
                let path = fields.nth(3).unwrap_or("");
                let (start, end) = range.split_once('-')?;
                let start = usize::from_str_radix(start, 16).ok()?;
                let end = usize::from_str_radix(end, 16).ok()?;
                Some((start, end, perms.contains('x'), path))
            })
            .collect();
        // The file the anchor function lives in is this executable.
        let Some(own) = mappings
            .iter()
            .find(|(start, end, _, _)| (*start..*end).contains(&anchor))
            .map(|m| m.3)
        else {
            return Vec::new();
        };
        mappings
            .iter()
            .filter(|(_, _, exec, path)| *exec && *path == own && !own.is_empty())
            .map(|(start, end, _, _)| (*start, *end))
            .collect()
    })
}

#[inline(never)]
fn anchor() {}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: u64) -> u64 {
        2 * x
    }

    #[test]
    fn an_offset_comes_back_as_its_function() {
        let f: fn(u64) -> u64 = code_at(code_offset(double as fn(u64) -> u64)).expect("own code");
        assert_eq!(f(21), 42);
    }

    #[test]
    fn an_offset_outside_this_programs_code_is_refused() {
        let heap = Box::new(0u64);
        let anchor = anchor as fn() as usize;
        for addr in [&*heap as *const u64 as usize, 0, 16, usize::MAX] {
            let offset = addr.wrapping_sub(anchor);
            let got = code_at::<fn(u64) -> u64>(offset);
            assert!(got.is_err(), "{addr:#x} was accepted");
        }
    }
}

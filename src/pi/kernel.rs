//! The midpoint-rule kernel: the sum of 4/(1+x²) over one block of indices.
//!
//! The work is cut into blocks whose size depends only on `steps` (see
//! [`super::partition::block_len`]), and a block is always summed the same way, whichever
//! process computes it: 16 logical lanes, index `start + k` going to lane `k % 16`, each lane
//! keeping its own compensated (TwoSum) running sum, the lanes folded in a fixed order at the
//! end. Each term is computed with plain IEEE operations and no fused multiply-add, from an
//! exact index: lane `l` counts its index as a float (`start + l`, then `+ 16` per turn), exact
//! below 2^53, so `x = (i + 0.5) * step` never depends on where a range began. Block sums are
//! then added exactly (see [`super::reduction`]), so the final pi does not depend on how blocks
//! were spread over processes.

/// Logical lanes per block; any implementation must reproduce this lane structure.
pub const LANES: usize = 16;

/// Error-free sum: `(s, e)` with `s = fl(a + b)` and `a + b = s + e` exactly.
#[inline(always)]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

/// The term of index `i` given as an exact float: 4 / (1 + x²) with x = (i + 0.5) · step.
#[inline(always)]
fn term(i: f64, step: f64) -> f64 {
    let x = (i + 0.5) * step;
    4.0 / (1.0 + x * x)
}

/// Sums the terms of indices `start .. start + len` as a pair `(hi, lo)` whose exact sum is
/// the block's compensated sum. Deterministic: the same block gives the same bits everywhere.
pub fn block_sum(start: u64, len: u64, step: f64) -> (f64, f64) {
    let mut sum = [0.0f64; LANES];
    let mut err = [0.0f64; LANES];
    let mut index = [0.0f64; LANES];
    for (l, i) in index.iter_mut().enumerate() {
        *i = (start + l as u64) as f64;
    }
    for _ in 0..len / LANES as u64 {
        for l in 0..LANES {
            let (s, e) = two_sum(sum[l], term(index[l], step));
            sum[l] = s;
            err[l] += e;
            index[l] += LANES as f64;
        }
    }
    for l in 0..(len % LANES as u64) as usize {
        let (s, e) = two_sum(sum[l], term(index[l], step));
        sum[l] = s;
        err[l] += e;
    }
    let mut hi = 0.0;
    let mut lo = 0.0;
    for l in 0..LANES {
        let (s, e) = two_sum(hi, sum[l]);
        hi = s;
        lo += e + err[l];
    }
    (hi, lo)
}

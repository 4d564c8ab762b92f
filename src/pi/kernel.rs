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
///
/// Runs the widest SIMD version this CPU supports (chosen once, at the first call): AVX2 (four
/// doubles per instruction) where available, else the x86-64 baseline SSE2 (two), else
/// portable code. All versions are the same Rust code compiled for different targets; Rust
/// never fuses a multiply and an add on its own, so every version performs the very same IEEE
/// operations and returns the very same bits.
pub fn block_sum(start: u64, len: u64, step: f64) -> (f64, f64) {
    if len < SMALL_BLOCK {
        // Too little work to be worth asking the CPU what it supports (CPUID is slow in a
        // virtual machine); the bits are the same either way.
        return lanes(start, len, step);
    }
    block_sum_dispatched(start, len, step)
}

/// Blocks shorter than this skip SIMD dispatch.
const SMALL_BLOCK: u64 = 256;

#[multiversion::multiversion(targets("x86_64+avx2+fma", "x86_64+avx"))]
fn block_sum_dispatched(start: u64, len: u64, step: f64) -> (f64, f64) {
    lanes(start, len, step)
}

/// [`block_sum`] compiled for the baseline target only, without run-time dispatch.
pub fn block_sum_portable(start: u64, len: u64, step: f64) -> (f64, f64) {
    lanes(start, len, step)
}

/// The name of the instruction set [`block_sum`] uses on this CPU.
pub fn simd_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return "avx2";
        }
        if std::arch::is_x86_feature_detected!("avx") {
            return "avx";
        }
        "sse2"
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        "portable"
    }
}

/// The lane structure: 16 independent compensated sums, laid out so the compiler turns each
/// turn of the loop into 16/W vector instructions of width W.
#[inline(always)]
fn lanes(start: u64, len: u64, step: f64) -> (f64, f64) {
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
    fold(&sum, &err)
}

/// Folds the lanes in a fixed order.
#[inline(always)]
fn fold(sum: &[f64; LANES], err: &[f64; LANES]) -> (f64, f64) {
    let mut hi = 0.0;
    let mut lo = 0.0;
    for l in 0..LANES {
        let (s, e) = two_sum(hi, sum[l]);
        hi = s;
        lo += e + err[l];
    }
    (hi, lo)
}

/// The same sum computed the slow, obvious way, one lane after another, for checking the fast
/// versions bit for bit.
pub fn block_sum_reference(start: u64, len: u64, step: f64) -> (f64, f64) {
    let mut sum = [0.0f64; LANES];
    let mut err = [0.0f64; LANES];
    for l in 0..LANES {
        let mut k = l as u64;
        while k < len {
            let (s, e) = two_sum(sum[l], term((start + k) as f64, step));
            sum[l] = s;
            err[l] += e;
            k += LANES as u64;
        }
    }
    fold(&sum, &err)
}

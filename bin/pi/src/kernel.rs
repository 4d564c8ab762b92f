//! The midpoint-rule kernel: the sum of 4/(1+x²) over one block of indices.
//!
//! The work is cut into blocks whose size depends only on `steps` (see
//! [`super::partition::block_len`]), and a block is always summed the same way, whichever
//! process computes it: 16 logical lanes, index `start + k` going to lane `k % 16`, each lane
//! keeping its own compensated (Fast2Sum) running sum, the lanes folded in a fixed order at the
//! end. Each term is computed with plain IEEE operations and no fused multiply-add, from an
//! exact midpoint: lane `l` counts `i + 0.5` as a float (`start + l + 0.5`, then `+ 16` per
//! turn), exact below 2^52, so `x = (i + 0.5) * step` never depends on where a range began and
//! no integer is converted inside the loop. Block sums are
//! then added exactly (see [`super::reduction`]), so the final pi does not depend on how blocks
//! were spread over processes.

/// Logical lanes per block; any implementation must reproduce this lane structure.
pub const LANES: usize = 16;

/// Error-free sum: `(s, e)` with `s = fl(a + b)` and `a + b = s + e` exactly, for any `a`, `b`.
#[inline(always)]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

/// Adds `t` to a lane's running sum `sum`, adding the rounding error to `err` exactly. This is
/// Fast2Sum (3 operations instead of TwoSum's 6), exact because `sum >= t > 0` or `sum == 0`:
/// every term is positive and a lane's terms shrink as x grows, so the running sum always
/// holds at least the term being added.
#[inline(always)]
fn accumulate(sum: &mut f64, err: &mut f64, t: f64) {
    let s = *sum + t;
    *err += t - (s - *sum);
    *sum = s;
}

/// The term at a midpoint counter `mid = i + 0.5` (exact): 4 / (1 + x²) with x = mid · step.
#[inline(always)]
fn term(mid: f64, step: f64) -> f64 {
    let x = mid * step;
    4.0 / (1.0 + x * x)
}

/// Sums the terms of indices `start .. start + len` as a pair `(hi, lo)` whose exact sum is
/// the block's compensated sum. Deterministic: the same block gives the same bits everywhere.
///
/// Runs the widest SIMD version this CPU supports (chosen once, at the first call): AVX-512
/// (eight doubles per instruction), AVX2 (four), AVX, else the x86-64 baseline SSE2 (two);
/// portable code on other architectures. All versions are the same Rust code compiled for different targets; Rust
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

#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512dq+avx512vl+avx2+fma",
    "x86_64+avx2+fma",
    "x86_64+avx"
))]
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
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512dq") && has!("avx512vl") && has!("avx2") && has!("fma") {
            return "avx512";
        }
        if has!("avx2") && has!("fma") {
            return "avx2";
        }
        if has!("avx") {
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
    let mut mid = [0.0f64; LANES];
    for (l, m) in mid.iter_mut().enumerate() {
        // Exact: start + l < 2^52, so the float holds the index and its half exactly.
        *m = (start + l as u64) as f64 + 0.5;
    }
    for _ in 0..len / LANES as u64 {
        for l in 0..LANES {
            accumulate(&mut sum[l], &mut err[l], term(mid[l], step));
            mid[l] += LANES as f64;
        }
    }
    for l in 0..(len % LANES as u64) as usize {
        accumulate(&mut sum[l], &mut err[l], term(mid[l], step));
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

/// The same sum computed the slow, obvious way, one lane after another and each index
/// converted on its own, for checking the fast versions bit for bit.
pub fn block_sum_reference(start: u64, len: u64, step: f64) -> (f64, f64) {
    let mut sum = [0.0f64; LANES];
    let mut err = [0.0f64; LANES];
    for l in 0..LANES {
        let mut k = l as u64;
        while k < len {
            accumulate(
                &mut sum[l],
                &mut err[l],
                term((start + k) as f64 + 0.5, step),
            );
            k += LANES as u64;
        }
    }
    fold(&sum, &err)
}

//! Pi by the midpoint rule: π = ∫₀¹ 4/(1+x²) dx ≈ (1/N) Σ 4/(1+xᵢ²), xᵢ = (i + ½)/N.
//!
//! This crate is the computation alone, with no processes in it: `pi-master` (in the apps
//! crate) and the course examples distribute it over the `multiproc` runtime.
//!
//! - [`kernel`]: the sum over one block of indices;
//! - [`partition`]: blocks, and contiguous block-aligned ranges per process;
//! - [`reduction`]: exact, order-independent combination of block sums;
//! - [`input`]: reading counts the way people write them (`1e8`, `100_000_000`).
//!
//! The same steps give the same bits for any number of processes.
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod input;
pub mod kernel;
pub mod partition;
pub mod reduction;

use std::ops::Range;

use reduction::FixedSum;

/// The width of one rectangle, `1/steps`, rounded once.
pub fn step_width(steps: u64) -> f64 {
    1.0 / steps as f64
}

/// The exact sum of the terms of a block-aligned index range (see [`partition::partition`]).
pub fn range_sum(steps: u64, range: &Range<u64>) -> FixedSum {
    let mut total = FixedSum::ZERO;
    for b in partition::blocks_of(steps, range) {
        add_block(steps, b, &mut total);
    }
    total
}

/// [`range_sum`] in slices of about `slice_len` indices (whole blocks), calling
/// `after_slice(done)` with the indices summed so far after each; an `Err` from it stops the
/// sum. The same blocks are summed either way, so the bits are those of [`range_sum`].
pub fn range_sum_in_slices<E>(
    steps: u64,
    range: &Range<u64>,
    slice_len: u64,
    mut after_slice: impl FnMut(u64) -> Result<(), E>,
) -> Result<FixedSum, E> {
    let blocks = partition::blocks_of(steps, range);
    let per_slice = (slice_len / partition::block_len(steps)).max(1);
    let mut total = FixedSum::ZERO;
    let mut b = blocks.start;
    while b < blocks.end {
        let upto = (b + per_slice).min(blocks.end);
        for block in b..upto {
            add_block(steps, block, &mut total);
        }
        b = upto;
        after_slice(partition::block_range(steps, upto - 1).end - range.start)?;
    }
    Ok(total)
}

/// Adds the exact sum of block `b` to `total`.
fn add_block(steps: u64, b: u64, total: &mut FixedSum) {
    let block = partition::block_range(steps, b);
    let (hi, lo) = kernel::block_sum(block.start, block.end - block.start, step_width(steps));
    total.add_f64(hi);
    total.add_f64(lo);
}

/// Turns the sum of all terms into pi: the sum divided by `steps`.
pub fn finish(steps: u64, total: FixedSum) -> f64 {
    total.divided_by(steps)
}

/// Pi computed in this process alone, for reference and for tests.
pub fn serial(steps: u64) -> f64 {
    finish(steps, range_sum(steps, &(0..steps)))
}

/// What the midpoint rule gives with exact arithmetic: π + 1/(12·steps²), with the next term
/// of the error below 2e-21 for steps ≥ 1000 (it falls as 1/steps⁴).
pub fn exact_midpoint_sum(steps: u64) -> f64 {
    // π as a double-double, so the sum is rounded once.
    const PI_LO: f64 = 1.2246467991473532e-16;
    let n = steps as f64;
    std::f64::consts::PI + (PI_LO + 1.0 / (12.0 * n * n))
}

/// The distance between `a` and `b` in units in the last place of `b`.
pub fn ulps_between(a: f64, b: f64) -> f64 {
    let ulp = f64::from_bits(b.abs().to_bits() + 1) - b.abs();
    (a - b) / ulp
}

//! Pi by the midpoint rule: π = ∫₀¹ 4/(1+x²) dx ≈ (1/N) Σ 4/(1+xᵢ²), xᵢ = (i + ½)/N.
//!
//! - [`kernel`]: the sum over one block of indices;
//! - [`partition`]: blocks, and contiguous block-aligned ranges per process;
//! - [`reduction`]: exact, order-independent combination of block sums;
//! - [`master`]: the distributed run behind `pi-master` (worker processes over pipes);
//! - [`report`]: what `pi-master` prints, for people and as JSON;
//! - [`console`]: `--verbose` narration and progress bars on stderr;
//! - [`sweep`]: speedup over several process counts, with Amdahl's law fitted and plotted;
//! - [`input`]: reading counts the way people write them.
//!
//! The same steps give the same bits for any number of processes.

pub mod compare;
pub mod console;
pub mod input;
pub mod kernel;
pub mod master;
pub mod partition;
pub mod reduction;
pub mod report;
pub mod sweep;

use std::ops::Range;

use reduction::FixedSum;

/// The width of one rectangle, `1/steps`, rounded once.
pub fn step_width(steps: u64) -> f64 {
    1.0 / steps as f64
}

/// The exact sum of the terms of a block-aligned index range (see [`partition::partition`]).
pub fn range_sum(steps: u64, range: &Range<u64>) -> FixedSum {
    let step = step_width(steps);
    let mut total = FixedSum::ZERO;
    for b in partition::blocks_of(steps, range) {
        let block = partition::block_range(steps, b);
        let (hi, lo) = kernel::block_sum(block.start, block.end - block.start, step);
        total.add_f64(hi);
        total.add_f64(lo);
    }
    total
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

//! Combining partial sums exactly, so the order of combination cannot change the answer.
//!
//! A [`FixedSum`] is a 128-bit two's-complement fixed-point number with 64 fractional bits.
//! Every block's `(hi, lo)` pair is converted to it (exactly, down to 2^-64, far below one ulp
//! of any sum we form) and integers add associatively: workers may add their blocks in any
//! grouping and the master may add the workers' totals in any order, and the bits come out the
//! same. The final division by `steps` happens once, in double-double arithmetic.

use serde::{Deserialize, Serialize};

const FRAC_BITS: i32 = 64;

/// An exact, order-independent accumulator of floating-point values. See the [module
/// docs](self).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedSum(i128);

impl FixedSum {
    /// Zero.
    pub const ZERO: FixedSum = FixedSum(0);

    /// Adds a finite `x` whose magnitude is below 2^62; its bits below 2^-64 are dropped
    /// (rounding toward zero), the same way on every machine.
    pub fn add_f64(&mut self, x: f64) {
        assert!(
            x.is_finite() && x.abs() < 2f64.powi(62),
            "value {x} out of range"
        );
        if x == 0.0 {
            return;
        }
        let bits = x.to_bits();
        let exp_field = ((bits >> 52) & 0x7ff) as i32;
        let frac = bits & ((1u64 << 52) - 1);
        let (mantissa, exp) = if exp_field == 0 {
            (frac, -1074)
        } else {
            (frac | (1u64 << 52), exp_field - 1075)
        };
        // x = ±mantissa · 2^exp; in fixed point that is mantissa · 2^(exp + FRAC_BITS).
        let shift = exp + FRAC_BITS;
        let magnitude: i128 = if shift >= 0 {
            (mantissa as i128) << shift
        } else if shift > -64 {
            (mantissa >> -shift) as i128
        } else {
            0
        };
        if x < 0.0 {
            self.0 -= magnitude;
        } else {
            self.0 += magnitude;
        }
    }

    /// The accumulator's 128 bits, to store it somewhere plain (shared memory).
    pub fn to_bits(self) -> i128 {
        self.0
    }

    /// The accumulator whose bits are `bits` (the inverse of [`FixedSum::to_bits`]).
    pub fn from_bits(bits: i128) -> FixedSum {
        FixedSum(bits)
    }

    /// Adds another accumulator.
    pub fn merge(&mut self, other: FixedSum) {
        self.0 += other.0;
    }

    /// The value as a double-double `(hi, lo)`: `hi` is the nearest double, `lo` the rest.
    pub fn to_f64x2(self) -> (f64, f64) {
        let scale = 2f64.powi(-FRAC_BITS);
        let hi = self.0 as f64;
        // `hi` is an integer-valued double of magnitude below 2^127, so this is exact.
        let rest = self.0 - hi as i128;
        (hi * scale, rest as f64 * scale)
    }

    /// The value divided by `n`, correctly enough rounded to be within half an ulp or so of the
    /// true quotient: `(hi + lo) / n` in double-double arithmetic.
    pub fn divided_by(self, n: u64) -> f64 {
        let (hi, lo) = self.to_f64x2();
        let n = n as f64;
        let q = hi / n;
        // r = hi - q·n exactly (fused), then the correction (r + lo) / n.
        let r = (-q).mul_add(n, hi);
        q + (r + lo) / n
    }
}

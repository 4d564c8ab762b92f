//! The pi kernel's versions agree bit for bit, and pi is within an ulp of the exact sum.

use multiproc_pi::kernel::{block_sum, block_sum_portable, block_sum_reference, simd_name};
use multiproc_pi::{exact_midpoint_sum, serial, ulps_between};
use proptest::prelude::*;

proptest! {
    #[test]
    fn simd_portable_and_reference_agree_bit_for_bit(
        start in prop_oneof![0u64..1_000_000, 0u64..(1u64 << 52) - 20_000],
        len in 0u64..20_000,
        steps in 1u64..(1u64 << 52),
    ) {
        let step = 1.0 / steps as f64;
        let fast = block_sum(start, len, step);
        let portable = block_sum_portable(start, len, step);
        let reference = block_sum_reference(start, len, step);
        prop_assert_eq!(fast.0.to_bits(), reference.0.to_bits(), "{} kernel, hi", simd_name());
        prop_assert_eq!(fast.1.to_bits(), reference.1.to_bits(), "{} kernel, lo", simd_name());
        prop_assert_eq!(portable.0.to_bits(), reference.0.to_bits());
        prop_assert_eq!(portable.1.to_bits(), reference.1.to_bits());
    }
}

#[test]
fn within_one_ulp_of_the_exact_midpoint_sum() {
    for steps in [
        1000u64,
        1001,
        1023,
        1024,
        1025,
        4097,
        99_991,
        1 << 20,
        3_000_017,
        16_777_259,
    ] {
        let pi = serial(steps);
        let ulps = ulps_between(pi, exact_midpoint_sum(steps));
        assert!(ulps.abs() <= 1.0, "steps {steps}: {ulps} ulp");
    }
}

#[test]
fn names_its_instruction_set() {
    assert!(["avx512", "avx2", "avx", "sse2", "portable"].contains(&simd_name()));
}

//! Properties of the pi decomposition: partitions, exact reduction, block sums.

use multiproc_pi::partition::{MAX_STEPS, block_count, block_len, partition, split};
use multiproc_pi::reduction::FixedSum;
use multiproc_pi::{kernel, range_sum, serial};
use proptest::prelude::*;

fn steps_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![
        1u64..5000,
        5000u64..100_000_000,
        100_000_000u64..=1_000_000_000_000,
        Just(MAX_STEPS)
    ]
}

proptest! {
    #[test]
    fn partition_covers_every_index_exactly_once(steps in steps_strategy(), procs in 1usize..=1024) {
        let ranges = partition(steps, procs);
        prop_assert_eq!(ranges.len(), procs);
        let mut next = 0;
        for r in &ranges {
            prop_assert_eq!(r.start, next);
            prop_assert!(r.end >= r.start);
            next = r.end;
        }
        prop_assert_eq!(next, steps);
    }

    #[test]
    fn ranges_are_whole_blocks_spread_evenly(steps in steps_strategy(), procs in 1usize..=1024) {
        let len = block_len(steps);
        let blocks: Vec<u64> = partition(steps, procs)
            .iter()
            .map(|r| {
                assert_eq!(r.start % len, 0, "range start not on a block boundary");
                r.end.div_ceil(len) - r.start / len
            })
            .collect();
        let most = *blocks.iter().max().unwrap();
        let least = *blocks.iter().min().unwrap();
        prop_assert!(most - least <= 1, "block counts {:?}", blocks);
        prop_assert_eq!(blocks.iter().sum::<u64>(), block_count(steps));
        // The longer ranges come first.
        prop_assert!(blocks.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn split_lengths_differ_by_at_most_one(n in 0u64..1_000_000_000_000, parts in 1usize..5000) {
        let ranges = split(n, parts);
        let lens: Vec<u64> = ranges.iter().map(|r| r.end - r.start).collect();
        prop_assert_eq!(lens.iter().sum::<u64>(), n);
        prop_assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1);
    }

    #[test]
    fn fixed_sum_does_not_depend_on_order(values in prop::collection::vec(-1e12f64..1e12, 0..200), cut in 0usize..200) {
        let mut forward = FixedSum::ZERO;
        for v in &values { forward.add_f64(*v); }
        let mut backward = FixedSum::ZERO;
        for v in values.iter().rev() { backward.add_f64(*v); }
        let cut = cut.min(values.len());
        let (mut left, mut right) = (FixedSum::ZERO, FixedSum::ZERO);
        for v in &values[..cut] { left.add_f64(*v); }
        for v in &values[cut..] { right.add_f64(*v); }
        right.merge(left);
        prop_assert_eq!(forward, backward);
        prop_assert_eq!(forward, right);
    }

    #[test]
    fn any_split_point_gives_the_same_bits(steps in 1u64..200_000, procs in 1usize..64) {
        let whole = range_sum(steps, &(0..steps));
        let mut parts = FixedSum::ZERO;
        for r in partition(steps, procs) {
            parts.merge(range_sum(steps, &r));
        }
        prop_assert_eq!(whole, parts);
    }
}

#[test]
fn fixed_sum_is_exact_for_representable_values() {
    let mut s = FixedSum::ZERO;
    for x in [1.0, 2f64.powi(-60), -0.5, 3.0e10, 2f64.powi(-64)] {
        s.add_f64(x);
    }
    let (hi, lo) = s.to_f64x2();
    assert_eq!(hi, 3.0e10 + 0.5);
    assert_eq!(lo, 2f64.powi(-60) + 2f64.powi(-64));
    // Below 2^-64 is dropped, the same way everywhere.
    let mut t = FixedSum::ZERO;
    t.add_f64(2f64.powi(-70));
    assert_eq!(t, FixedSum::ZERO);
}

#[test]
fn block_sum_matches_a_plain_sum() {
    let steps = 1000u64;
    let step = 1.0 / steps as f64;
    for (start, len) in [(0u64, 1u64), (0, 15), (3, 16), (17, 33), (100, 900)] {
        let (hi, lo) = kernel::block_sum(start, len, step);
        let plain: f64 = (start..start + len)
            .map(|i| {
                let x = (i as f64 + 0.5) * step;
                4.0 / (1.0 + x * x)
            })
            .sum();
        assert!(
            ((hi + lo) - plain).abs() <= 1e-13 * plain,
            "{start}+{len}: {hi}+{lo} vs {plain}"
        );
    }
}

#[test]
fn serial_pi_is_close() {
    let pi = serial(1_000_000);
    assert!((pi - std::f64::consts::PI).abs() < 1e-12, "{pi}");
}

#[test]
fn slices_give_the_same_bits_and_count_every_index() {
    for (steps, range, slice) in [
        (100_000_000u64, 0..50_003_968u64, 1u64 << 20),
        (10, 3..10, 1),
        (1_000_000, 0..1_000_000, 7_000_000),
    ] {
        let mut seen = Vec::new();
        let sliced = multiproc_pi::range_sum_in_slices::<()>(steps, &range, slice, |done| {
            seen.push(done);
            Ok(())
        })
        .unwrap();
        assert_eq!(sliced, range_sum(steps, &range));
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        assert_eq!(seen.last().copied(), Some(range.end - range.start));
    }
}

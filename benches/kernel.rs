//! The pi kernel: nanoseconds per step for one block, dispatched (SIMD) and portable.
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use multiproc_pi::kernel::{block_sum, block_sum_portable, simd_name};
use std::hint::black_box;

fn kernel(c: &mut Criterion) {
    let len = 16_384u64;
    let step = 1.0 / 1e9;
    let mut group = c.benchmark_group("kernel");
    group.throughput(Throughput::Elements(len));
    group.bench_function(format!("block_sum ({})", simd_name()), |b| {
        b.iter(|| block_sum(black_box(123 * len), len, step))
    });
    group.bench_function("block_sum_portable (baseline target)", |b| {
        b.iter(|| block_sum_portable(black_box(123 * len), len, step))
    });
    group.finish();
}

criterion_group!(benches, kernel);
criterion_main!(benches);

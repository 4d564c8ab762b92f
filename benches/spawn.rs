//! Starting and joining N worker processes that do nothing: the runtime's own cost.
//! Its own `main` calls `multiproc::init!(nothing)` first, since the workers are this bench binary.
use std::time::Duration;

use criterion::Criterion;
use multiproc::{Process, StartMethod};

fn nothing(_: ()) {}

fn spawn(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_and_join");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    for (method, n) in [1usize, 8, 64]
        .into_iter()
        .flat_map(|n| StartMethod::ALL.map(|m| (m, n)))
    {
        group.bench_function(format!("{n} workers, {method}"), |b| {
            b.iter(|| {
                let mut procs: Vec<Process> = (0..n)
                    .map(|_| Process::new(nothing, ()).with_start_method(method))
                    .collect();
                for p in &mut procs {
                    p.start().expect("start");
                }
                for p in &mut procs {
                    assert_eq!(p.join().expect("join"), 0);
                }
            })
        });
    }
    group.finish();
}

fn main() {
    multiproc::init!(nothing);
    let mut c = Criterion::default().configure_from_args();
    spawn(&mut c);
    c.final_summary();
}

//! `ipc-bench pool`: what a `Pool` costs: `map` of a million tiny tasks, `imap_unordered` one
//! task per chunk, `apply` one task at a time, and a pool of 8 started, used and joined.

use std::io::{self, Write};
use std::time::Instant;

use multiproc::pool::Pool;
use serde::Serialize;

use super::Result;
use crate::stats::median_by;

multiproc::targets!(pub(super) static TARGETS = [square]);

/// One measurement, as `ipc-bench pool --json` prints it.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum PoolRecord {
    /// `map` of tiny tasks with the default chunk size, 2 workers.
    Map {
        /// Always `map`.
        what: &'static str,
        /// Tasks mapped.
        tasks: u64,
        /// Tasks per second.
        tasks_per_second: f64,
    },
    /// `imap_unordered` with one task per chunk, 2 workers.
    ImapUnordered {
        /// Always `imap_unordered`.
        what: &'static str,
        /// Always 1.
        chunksize: u64,
        /// Tasks run.
        tasks: u64,
        /// Tasks per second.
        tasks_per_second: f64,
    },
    /// `apply`, one task at a time: the round trip.
    Apply {
        /// Always `apply`.
        what: &'static str,
        /// Tasks timed.
        tasks: u64,
        /// Microseconds per task.
        us_per_task: f64,
    },
    /// A pool created, used for one tiny `map`, closed and joined.
    Start {
        /// Always `start`.
        what: &'static str,
        /// Worker processes.
        procs: u64,
        /// Milliseconds from creation to join.
        ms: f64,
    },
}

impl PoolRecord {
    fn figure(&self) -> f64 {
        match self {
            PoolRecord::Map {
                tasks_per_second, ..
            }
            | PoolRecord::ImapUnordered {
                tasks_per_second, ..
            } => *tasks_per_second,
            PoolRecord::Apply { us_per_task, .. } => *us_per_task,
            PoolRecord::Start { ms, .. } => *ms,
        }
    }
}

fn square(x: u64) -> u64 {
    x.wrapping_mul(x)
}

/// Measures each case `repeat` times, in turns, and keeps the medians; `scale` multiplies the
/// number of tasks.
pub fn measure(repeat: usize, scale: f64) -> Result<Vec<PoolRecord>> {
    let n = |base: f64| ((base * scale).round() as u64).max(1);
    let mut runs: Vec<Vec<PoolRecord>> = vec![Vec::new(); 4];
    for _ in 0..repeat {
        let pool = Pool::new(2)?;
        let tasks = n(1_000_000.0);
        let clock = Instant::now();
        let out = pool.map(square, 0..tasks)?;
        let seconds = clock.elapsed().as_secs_f64();
        if out.len() as u64 != tasks {
            return Err(rust_i18n::t!("bench.results_lost", call = "map")
                .into_owned()
                .into());
        }
        runs[0].push(PoolRecord::Map {
            what: "map",
            tasks,
            tasks_per_second: tasks as f64 / seconds,
        });

        let tasks = n(100_000.0);
        let clock = Instant::now();
        let got = pool.imap_unordered(square, 0..tasks, 1)?.count() as u64;
        let seconds = clock.elapsed().as_secs_f64();
        if got != tasks {
            return Err(rust_i18n::t!("bench.results_lost", call = "imap_unordered")
                .into_owned()
                .into());
        }
        runs[1].push(PoolRecord::ImapUnordered {
            what: "imap_unordered",
            chunksize: 1,
            tasks,
            tasks_per_second: tasks as f64 / seconds,
        });

        let tasks = n(5_000.0);
        pool.apply(square, 1)?;
        let clock = Instant::now();
        for i in 0..tasks {
            pool.apply(square, i)?;
        }
        runs[2].push(PoolRecord::Apply {
            what: "apply",
            tasks,
            us_per_task: clock.elapsed().as_secs_f64() * 1e6 / tasks as f64,
        });
        drop(pool);

        let clock = Instant::now();
        let pool = Pool::new(8)?;
        pool.map(square, 0..8u64)?;
        pool.close();
        pool.join()?;
        runs[3].push(PoolRecord::Start {
            what: "start",
            procs: 8,
            ms: clock.elapsed().as_secs_f64() * 1e3,
        });
    }
    Ok(runs
        .into_iter()
        .filter_map(|r| median_by(r, PoolRecord::figure))
        .collect())
}

/// Writes the records as a table.
pub fn write_table(out: &mut dyn Write, records: &[PoolRecord]) -> io::Result<()> {
    writeln!(out, "{}", rust_i18n::t!("benchpool.title"))?;
    writeln!(out)?;
    for r in records {
        match r {
            PoolRecord::Map {
                tasks,
                tasks_per_second,
                ..
            } => writeln!(
                out,
                "  map             {:>10.2} {}",
                tasks_per_second / 1e6,
                rust_i18n::t!("benchpool.map", tasks = tasks)
            )?,
            PoolRecord::ImapUnordered {
                tasks,
                tasks_per_second,
                ..
            } => writeln!(
                out,
                "  imap_unordered  {:>10.1} {}",
                tasks_per_second / 1e3,
                rust_i18n::t!("benchpool.imap", tasks = tasks)
            )?,
            PoolRecord::Apply { us_per_task, .. } => writeln!(
                out,
                "  apply           {us_per_task:>10.1} {}",
                rust_i18n::t!("benchpool.apply")
            )?,
            PoolRecord::Start { procs, ms, .. } => writeln!(
                out,
                "  start           {ms:>10.1} {}",
                rust_i18n::t!("benchpool.start", procs = procs)
            )?,
        }
    }
    if let Some(note) = crate::text::debug_build_note(&rust_i18n::t!("report.debug_bench")) {
        writeln!(out, "\n({note})")?;
    }
    Ok(())
}

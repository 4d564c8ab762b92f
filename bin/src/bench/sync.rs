//! `ipc-bench sync`: what the synchronisation primitives cost, measured between real
//! processes: an uncontended `Lock`, two processes adding to a `Value` under its lock, a
//! `Barrier` round between two processes, and an `Event` ping-pong.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use multiproc::sync::{Barrier, Event, Lock, Semaphore};
use multiproc::{Process, Value};
use serde::Serialize;

use super::Result;
use crate::stats::median_by;

multiproc::targets!(pub(super) static TARGETS = [add, wait_rounds, answer]);

/// One measurement, as `ipc-bench sync --json` prints it.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum SyncRecord {
    /// An uncontended `Lock` acquire and release, in one process.
    Lock {
        /// Always `lock`.
        primitive: &'static str,
        /// Nanoseconds per acquire-and-release.
        ns_per_op: f64,
        /// How many were timed.
        operations: u64,
    },
    /// Processes each adding 1 to a shared `Value` under its lock.
    Counter {
        /// Always `counter`.
        primitive: &'static str,
        /// How many processes add at once.
        processes: u32,
        /// Increments per second, all processes together.
        increments_per_second: f64,
        /// Increments in all.
        increments: u64,
    },
    /// Rounds of a `Barrier` between processes.
    Barrier {
        /// Always `barrier`.
        primitive: &'static str,
        /// Parties (processes).
        parties: u32,
        /// Microseconds per round.
        us_per_round: f64,
        /// Rounds timed.
        rounds: u64,
    },
    /// An `Event` set by one process and answered by another, and back.
    Event {
        /// Always `event`.
        primitive: &'static str,
        /// Microseconds per round trip.
        us_per_round_trip: f64,
        /// Round trips timed.
        round_trips: u64,
    },
}

impl SyncRecord {
    /// The figure medians are taken over (smaller is better for all but the counter).
    fn figure(&self) -> f64 {
        match self {
            SyncRecord::Lock { ns_per_op, .. } => *ns_per_op,
            SyncRecord::Counter {
                increments_per_second,
                ..
            } => *increments_per_second,
            SyncRecord::Barrier { us_per_round, .. } => *us_per_round,
            SyncRecord::Event {
                us_per_round_trip, ..
            } => *us_per_round_trip,
        }
    }
}

/// Measures every primitive `repeat` times, in turns, and keeps the median of each; `scale`
/// multiplies the work of each measurement (1: about a second in all).
pub fn measure(repeat: usize, scale: f64) -> Result<Vec<SyncRecord>> {
    let n = |base: f64| ((base * scale).round() as u64).max(1);
    let mut runs: Vec<Vec<SyncRecord>> = vec![Vec::new(); 4];
    for _ in 0..repeat {
        runs[0].push(lock(n(2_000_000.0))?);
        runs[1].push(counter(2, n(200_000.0))?);
        runs[2].push(barrier(n(20_000.0))?);
        runs[3].push(event(n(20_000.0))?);
    }
    Ok(runs
        .into_iter()
        .filter_map(|r| median_by(r, SyncRecord::figure))
        .collect())
}

fn lock(operations: u64) -> Result<SyncRecord> {
    let lock = Lock::new()?;
    for _ in 0..1000 {
        drop(lock.acquire()?);
    }
    let clock = Instant::now();
    for _ in 0..operations {
        drop(lock.acquire()?);
    }
    Ok(SyncRecord::Lock {
        primitive: "lock",
        ns_per_op: clock.elapsed().as_nanos() as f64 / operations as f64,
        operations,
    })
}

fn add((go, done, value, times): (Event, Semaphore, Value<u64>, u64)) -> multiproc::Result<()> {
    go.wait()?;
    for _ in 0..times {
        *value.get_lock()? += 1;
    }
    done.release()
}

fn counter(processes: u32, each: u64) -> Result<SyncRecord> {
    let (go, done, value) = (Event::new()?, Semaphore::new(0)?, Value::new(0u64)?);
    let mut children = Vec::new();
    for _ in 0..processes {
        let args = (go.try_clone()?, done.try_clone()?, value.try_clone()?, each);
        let mut p = Process::new(add, args).with_name("adder");
        p.start()?;
        children.push(p);
    }
    let clock = Instant::now();
    go.set();
    for _ in 0..processes {
        done.acquire_timeout(Duration::from_secs(600))?.forget();
    }
    let seconds = clock.elapsed().as_secs_f64();
    join_all(&mut children)?;
    let increments = each * u64::from(processes);
    let got = value.get()?;
    if got != increments {
        return Err(
            rust_i18n::t!("bench.counter_wrong", got = got, expected = increments)
                .into_owned()
                .into(),
        );
    }
    Ok(SyncRecord::Counter {
        primitive: "counter",
        processes,
        increments_per_second: increments as f64 / seconds,
        increments,
    })
}

fn wait_rounds((barrier, rounds): (Barrier, u64)) -> multiproc::Result<()> {
    for _ in 0..rounds {
        barrier.wait()?;
    }
    Ok(())
}

fn barrier(rounds: u64) -> Result<SyncRecord> {
    let barrier = Barrier::new(2)?;
    let mut child =
        Process::new(wait_rounds, (barrier.try_clone()?, rounds + 1)).with_name("party");
    child.start()?;
    barrier.wait()?; // the child is surely running
    let clock = Instant::now();
    for _ in 0..rounds {
        barrier.wait()?;
    }
    let seconds = clock.elapsed().as_secs_f64();
    join_all(std::slice::from_mut(&mut child))?;
    Ok(SyncRecord::Barrier {
        primitive: "barrier",
        parties: 2,
        us_per_round: seconds * 1e6 / rounds as f64,
        rounds,
    })
}

fn answer((ping, pong, rounds): (Event, Event, u64)) -> multiproc::Result<()> {
    for _ in 0..rounds {
        ping.wait()?;
        ping.clear();
        pong.set();
    }
    Ok(())
}

fn event(round_trips: u64) -> Result<SyncRecord> {
    let (ping, pong) = (Event::new()?, Event::new()?);
    let args = (ping.try_clone()?, pong.try_clone()?, round_trips + 1);
    let mut child = Process::new(answer, args).with_name("answerer");
    child.start()?;
    let round = || -> multiproc::Result<()> {
        ping.set();
        pong.wait()?;
        pong.clear();
        Ok(())
    };
    round()?; // the child is surely running
    let clock = Instant::now();
    for _ in 0..round_trips {
        round()?;
    }
    let seconds = clock.elapsed().as_secs_f64();
    join_all(std::slice::from_mut(&mut child))?;
    Ok(SyncRecord::Event {
        primitive: "event",
        us_per_round_trip: seconds * 1e6 / round_trips as f64,
        round_trips,
    })
}

fn join_all(children: &mut [Process]) -> Result<()> {
    for p in children {
        let code = p.join()?;
        if code != 0 {
            return Err(super::child_failed(p.name(), code, p.failure()));
        }
    }
    Ok(())
}

/// Writes the records as a table.
pub fn write_table(out: &mut dyn Write, records: &[SyncRecord]) -> io::Result<()> {
    writeln!(out, "{}", rust_i18n::t!("benchsync.title"))?;
    writeln!(out)?;
    for r in records {
        match r {
            SyncRecord::Lock { ns_per_op, .. } => writeln!(
                out,
                "  lock      {ns_per_op:>10.1} {}",
                rust_i18n::t!("benchsync.lock")
            )?,
            SyncRecord::Counter {
                processes,
                increments_per_second,
                ..
            } => writeln!(
                out,
                "  counter   {:>10.2} {}",
                increments_per_second / 1e6,
                rust_i18n::t!("benchsync.counter", processes = processes)
            )?,
            SyncRecord::Barrier {
                parties,
                us_per_round,
                ..
            } => writeln!(
                out,
                "  barrier   {us_per_round:>10.2} {}",
                rust_i18n::t!("benchsync.barrier", parties = parties)
            )?,
            SyncRecord::Event {
                us_per_round_trip, ..
            } => writeln!(
                out,
                "  event     {us_per_round_trip:>10.2} {}",
                rust_i18n::t!("benchsync.event")
            )?,
        }
    }
    if let Some(note) = crate::text::debug_build_note(&rust_i18n::t!("report.debug_bench")) {
        writeln!(out, "\n({note})")?;
    }
    Ok(())
}

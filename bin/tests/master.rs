//! The pi master as a library: runs in-process (this binary re-executes itself for every
//! worker, so it has its own `main` that calls `multiproc::init(&multiproc_apps::TARGETS)` first).

#[path = "../../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::{Test, check, run_trials};
use libtest_mimic::Failed;
use multiproc_apps::master::{Config, Event, Ipc, Plan, RunError, run};

fn main() {
    multiproc::init(&multiproc_apps::TARGETS);
    let tests: Vec<(&str, Test)> = vec![
        (
            "workers_report_progress_without_changing_bits",
            workers_report_progress_without_changing_bits,
        ),
        ("a_plan_is_checked_once", a_plan_is_checked_once),
        (
            "plans_cover_every_index_in_every_mode",
            plans_cover_every_index_in_every_mode,
        ),
    ];
    run_trials(tests, Duration::from_secs(60));
}

fn config(ipc: Ipc, procs: usize, steps: u64, chunks: Option<u64>) -> Config {
    Config {
        procs,
        steps,
        ipc,
        chunks,
        progress: false,
        timeout: None,
        retries: 0,
    }
}

fn workers_report_progress_without_changing_bits() -> Result<(), Failed> {
    let steps = 60_000_000;
    // A pool's tasks report nothing until they finish: pool mode has no progress.
    for ipc in Ipc::ALL.into_iter().filter(|i| *i != Ipc::Pool) {
        let mut config = config(ipc, 2, steps, Some(2));
        config.progress = true;
        let mut reports: Vec<(usize, u64)> = Vec::new();
        let with = run(&Plan::new(&config)?, &mut |e| {
            if let Event::Progress { index, done } = e {
                reports.push((*index, *done));
            }
        })?;
        config.progress = false;
        let without = run(&Plan::new(&config)?, &mut |_| {})?;
        check(
            with.pi.to_bits() == without.pi.to_bits(),
            "progress changes nothing in the result",
        )?;
        for index in 0..2 {
            let mine: Vec<_> = reports.iter().filter(|r| r.0 == index).collect();
            check(
                !mine.is_empty(),
                format!("{ipc}: worker {index} reported progress: {reports:?}"),
            )?;
            check(
                mine.windows(2).all(|w| w[0].1 < w[1].1) && mine.iter().all(|r| r.1 <= steps),
                format!("{ipc}: progress grows: {mine:?}"),
            )?;
        }
    }
    Ok(())
}

fn a_plan_is_checked_once() -> Result<(), Failed> {
    for (bad, needle) in [
        (
            config(Ipc::Pipe, 0, 100, None),
            "1 to 1024 worker processes",
        ),
        (
            config(Ipc::Pipe, 1025, 100, None),
            "1 to 1024 worker processes",
        ),
        (config(Ipc::Pipe, 2, 0, None), "steps"),
        (config(Ipc::Queue, 2, 1 << 53, None), "steps"),
        (config(Ipc::Queue, 2, 100, Some(0)), "--chunks"),
        (
            config(Ipc::Queue, 2, 1 << 40, Some(10_000_000_000_000_000_000)),
            "--chunks",
        ),
    ] {
        match Plan::new(&bad) {
            Err(RunError::Invalid(why)) => check(why.contains(needle), why.clone())?,
            other => return Err(format!("{bad:?} was not refused: {other:?}").into()),
        }
    }
    Ok(())
}

fn plans_cover_every_index_in_every_mode() -> Result<(), Failed> {
    for (ipc, procs, steps, chunks) in [
        (Ipc::Pipe, 4, 10, None),
        (Ipc::Pipe, 3, 1_000_003, None),
        (Ipc::Shm, 2, 999, None),
        (Ipc::ShmChannel, 3, 1_000_003, None),
        (Ipc::Mpi, 3, 1_000_003, None),
        (Ipc::Queue, 2, 1_000_000, Some(7)),
        (Ipc::Queue, 2, 10, Some(1000)),
    ] {
        let plan = Plan::new(&config(ipc, procs, steps, chunks))?;
        let ranges = plan.ranges();
        check(ranges.first().map(|r| r.start) == Some(0), "starts at 0")?;
        check(ranges.last().map(|r| r.end) == Some(steps), "ends at steps")?;
        check(
            ranges.windows(2).all(|w| w[0].end == w[1].start),
            format!("{ipc}: contiguous: {ranges:?}"),
        )?;
        match ipc {
            Ipc::Pipe | Ipc::Shm | Ipc::ShmChannel | Ipc::Mpi => check(
                plan.per_worker().map(|v| v.len()) == Some(procs),
                "one range per worker",
            )?,
            Ipc::Queue | Ipc::Pool => check(
                plan.config().chunks == Some(ranges.len() as u64) && plan.per_worker().is_none(),
                "the chunk count used is recorded",
            )?,
        }
    }
    Ok(())
}

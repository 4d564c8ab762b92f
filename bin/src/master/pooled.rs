//! Pool mode: the range cut into chunks (as in queue mode) and mapped over a
//! `multiproc::pool::Pool`; the pool hands chunks to its workers, replaces one that dies, and
//! reports which worker computed which chunk.

use crate::lang::Said;
use std::ops::Range;
use std::time::{Duration, Instant};

use multiproc::pool::{Pool, PoolError, TaskError};
use multiproc::signals::SignalWatch;
use multiproc_pi::reduction::FixedSum;

use super::driver::{Retries, interrupted};
use super::plan::Plan;
use super::worker::{Partial, compute_partial};
use super::{Event, Run, RunError, Traffic, WorkerRun};

multiproc::targets!(pub(super) static TARGETS = [speak, pool_chunk]);

/// How often the master looks at the signals while the pool works.
const LOOK_EVERY: Duration = Duration::from_millis(20);

/// The pool's initializer: each worker says what it says in the master's language.
fn speak(language: String) {
    crate::lang::set(&language);
}

/// The pool's task: one chunk's partial sum, and the pid of the worker that computed it.
fn pool_chunk((steps, range): (u64, Range<u64>)) -> Result<(u32, Partial), String> {
    Ok((std::process::id(), compute_partial(steps, range)?))
}

/// The index of worker `pid`, numbering workers in the order they appear.
fn index_of(pids: &mut Vec<u32>, pid: u32) -> usize {
    match pids.iter().position(|p| *p == pid) {
        Some(i) => i,
        None => {
            pids.push(pid);
            pids.len() - 1
        }
    }
}

/// The error of a chunk whose task failed (not its worker): the run fails naming it.
fn task_failed(
    pids: &mut Vec<u32>,
    range: Option<Range<u64>>,
    why: impl Fn() -> String,
) -> RunError {
    RunError::Worker {
        index: index_of(pids, 0),
        pid: None,
        range,
        cause: Said::new(|| rust_i18n::t!("cause.chunk_failed", why = why()).into_owned()),
    }
}

pub(super) fn run(
    plan: &Plan,
    watch: &SignalWatch,
    observe: &mut dyn FnMut(&Event),
) -> Result<Run, RunError> {
    let clock = Instant::now();
    let config = plan.config();
    let steps = config.steps;
    let mut builder = Pool::builder()
        .processes(config.procs)
        .initializer(speak, rust_i18n::locale().to_string());
    if let Some(limit) = config.timeout {
        builder = builder.task_timeout(limit);
    }
    let mut pool = builder.build()?;
    let mut pids = pool.pids();
    for (index, pid) in pids.iter().enumerate() {
        observe(&Event::Spawned { index, pid: *pid });
    }
    let chunks = plan.ranges().to_vec();
    let mut retries = Retries::new(config.retries);
    let mut outcomes: Vec<Option<(u32, Partial)>> = vec![None; chunks.len()];
    // Chunks to map in this round: all at first, then those lost and retried.
    let mut todo: Vec<usize> = (0..chunks.len()).collect();
    let stop = |pool: &mut Pool, observe: &mut dyn FnMut(&Event)| {
        observe(&Event::Stopping {
            reason: rust_i18n::t!("narrate.stopping_pool").into_owned(),
        });
        pool.terminate();
    };
    while !todo.is_empty() {
        let tasks: Vec<(u64, Range<u64>)> =
            todo.iter().map(|&c| (steps, chunks[c].clone())).collect();
        // Each chunk's result as it comes in (so progress and --verbose see it at once).
        let mut results = pool.imap_unordered(pool_chunk, tasks, 1)?;
        observe(&Event::Mapped { chunks: todo.len() });
        let mut again = Vec::new();
        loop {
            let (at, outcome) = match results.next_timeout(LOOK_EVERY) {
                Ok(Some(next)) => next,
                Ok(None) => break,
                Err(PoolError::Timeout) => {
                    if let Some(signal) = interrupted(watch) {
                        stop(&mut pool, observe);
                        return Err(RunError::Interrupted { signal });
                    }
                    continue;
                }
                Err(e) => return Err(RunError::Failed(crate::lang::pool_error(&e))),
            };
            let chunk = todo[at];
            let range = Some(chunks[chunk].clone());
            let (pid, cause) = match outcome {
                Ok(Ok((pid, partial))) => {
                    observe(&Event::Received {
                        index: index_of(&mut pids, pid),
                        pid,
                        range: chunks[chunk].clone(),
                        partial: multiproc_pi::finish(steps, partial.sum),
                        compute_seconds: partial.compute_seconds,
                    });
                    outcomes[chunk] = Some((pid, partial));
                    continue;
                }
                Err(TaskError::WorkerDied { pid, how, exitcode }) => (
                    pid,
                    Said::new(|| {
                        format!(
                            "{} {}",
                            exitcode.map_or_else(
                                || how.clone(),
                                |code| crate::lang::describe_exit(code, None)
                            ),
                            rust_i18n::t!("cause.before_chunk_result")
                        )
                    }),
                ),
                Err(TaskError::TimedOut { pid, after_ms }) => (
                    pid,
                    Said::new(|| {
                        rust_i18n::t!(
                            "fault.pool_timed_out",
                            seconds = config.timeout.map_or(0.0, |t| t.as_secs_f64()),
                            ms = after_ms
                        )
                        .into_owned()
                    }),
                ),
                // The task itself failed: computing it again would fail the same way.
                Ok(Err(why)) => {
                    stop(&mut pool, observe);
                    return Err(task_failed(&mut pids, range, || why.clone()));
                }
                Err(other) => {
                    stop(&mut pool, observe);
                    return Err(task_failed(&mut pids, range, || {
                        crate::lang::task_error(&other)
                    }));
                }
            };
            let index = index_of(&mut pids, pid);
            let lost = RunError::Worker {
                index,
                pid: Some(pid).filter(|p| *p > 0),
                range,
                cause,
            };
            // More chunks lost than retries left fails the run at once, as in the other
            // modes (with no retries, the first).
            match retries.take(lost, observe) {
                Ok(_) => again.push(chunk),
                Err(e) => {
                    stop(&mut pool, observe);
                    return Err(e);
                }
            }
        }
        todo = again;
    }
    let outcomes: Vec<(u32, Partial)> = outcomes.into_iter().flatten().collect();
    if outcomes.len() != chunks.len() {
        return Err(RunError::Failed(
            rust_i18n::t!("fault.pool_lost_chunks").into_owned(),
        ));
    }
    pool.close();
    pool.join()?;

    let mut runs: Vec<(Vec<Range<u64>>, FixedSum, f64, u64)> = Vec::new();
    let mut total = FixedSum::ZERO;
    for (range, (pid, partial)) in chunks.iter().zip(outcomes) {
        let index = index_of(&mut pids, pid);
        if runs.len() <= index {
            runs.resize(index + 1, (Vec::new(), FixedSum::ZERO, 0.0, 0));
        }
        let run = &mut runs[index];
        run.0.push(range.clone());
        run.1.merge(partial.sum);
        run.2 += partial.compute_seconds;
        run.3 = run.3.max(partial.peak_rss_kib);
        total.merge(partial.sum);
    }
    runs.resize(pids.len(), (Vec::new(), FixedSum::ZERO, 0.0, 0));
    let workers = runs
        .into_iter()
        .enumerate()
        .map(
            |(index, (ranges, sum, compute_seconds, peak_rss_kib))| WorkerRun {
                index,
                pid: pids[index],
                ranges,
                partial_sum: multiproc_pi::finish(steps, sum),
                compute_seconds,
                exitcode: 0,
                peak_rss_kib,
                host: None,
            },
        )
        .collect();
    Ok(Run {
        config: config.clone(),
        pi: multiproc_pi::finish(steps, total),
        wall_seconds: clock.elapsed().as_secs_f64(),
        master_pid: std::process::id(),
        workers,
        // The pool's own pipes are not counted.
        traffic: Traffic::default(),
        retries: retries.log,
    })
}

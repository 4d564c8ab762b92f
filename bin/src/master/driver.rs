//! Running a plan: start the workers (one way for every mode), let the mode's loop hand out
//! the work and collect the results, stop everyone if anything goes wrong, and assemble the
//! finished run.

use crate::lang::Said;
use std::ops::Range;
use std::time::Instant;

use multiproc::signals::{SIGHUP, SIGINT, SIGTERM, SignalWatch};
use multiproc::{Process, limits};
use multiproc_pi::reduction::FixedSum;

use super::plan::Plan;
use super::watch::Worker;
use super::worker::{Channel, WorkerArgs, worker_main};
use super::{Event, Ipc, Retry, Run, RunError, pipes, pooled, queued, shm, shutdown};

/// Runs `plan`, reporting each step to `observe`. Every worker is reaped before this returns,
/// whatever happened.
pub fn run(plan: &Plan, observe: &mut dyn FnMut(&Event)) -> Result<Run, RunError> {
    let watch = SignalWatch::new(&[SIGINT, SIGTERM, SIGHUP]).map_err(|e| {
        RunError::Failed(rust_i18n::t!("fault.cannot_watch_signals", error = e).into_owned())
    })?;
    check_limits(plan.config().procs as u64, plan.config().ipc == Ipc::Pool)?;
    if plan.config().ipc == Ipc::Pool {
        return pooled::run(plan, &watch, observe);
    }
    let clock = Instant::now();
    let mut workers: Vec<Worker> = Vec::with_capacity(plan.config().procs);
    let mut retries = Retries::new(plan.config().retries);
    let outcome = match plan.config().ipc {
        Ipc::Pipe => {
            pipes::drive::<multiproc::Connection>(plan, &watch, &mut workers, &mut retries, observe)
        }
        Ipc::ShmChannel => pipes::drive::<multiproc::ShmConnection>(
            plan,
            &watch,
            &mut workers,
            &mut retries,
            observe,
        ),
        Ipc::Queue => queued::drive(plan, &watch, &mut workers, &mut retries, observe),
        Ipc::Shm => shm::drive(plan, &watch, &mut workers, &mut retries, observe),
        Ipc::Pool => unreachable!("pool mode runs on its own, above"),
        Ipc::Mpi => {
            return Err(RunError::Invalid(
                "--ipc mpi runs as the ranks of an mpiexec job (see master::mpi), not here".into(),
            ));
        }
    };
    let traffic = match outcome {
        Ok(traffic) => traffic,
        Err(e) => {
            // Whatever went wrong, no worker outlives the run.
            shutdown::stop_all(&mut workers, &watch, observe);
            return Err(e);
        }
    };
    let steps = plan.config().steps;
    let mut total = FixedSum::ZERO;
    let runs = workers
        .iter()
        .map(|w| {
            let (run, sum) = w.summary(steps);
            total.merge(sum);
            run
        })
        .collect();
    Ok(Run {
        config: plan.config().clone(),
        pi: multiproc_pi::finish(steps, total),
        wall_seconds: clock.elapsed().as_secs_f64(),
        master_pid: std::process::id(),
        workers: runs,
        traffic,
        retries: retries.log,
    })
}

/// Checks, before any worker starts, that the descriptor and process limits leave room for
/// `procs` workers (raising the soft descriptor limit when the hard one allows), so that a
/// run that cannot fit says so up front, naming the limit and the `ulimit` to give.
fn check_limits(procs: u64, pooled: bool) -> Result<(), RunError> {
    // Every mode holds at most a process and a duplex pipe per worker (the pool's too).
    let per_worker = limits::DESCRIPTORS_PER_PROCESS + limits::DESCRIPTORS_PER_CONNECTION;
    let fail = |e: multiproc::Error| {
        RunError::Failed(
            rust_i18n::t!(
                "error.cannot_start",
                procs = procs,
                why = crate::lang::runtime_error(&e)
            )
            .into_owned(),
        )
    };
    limits::ensure_descriptors(procs * per_worker).map_err(fail)?;
    // Threads count against `ulimit -u` as processes do: the runtime's, the pool's, and the
    // thread that writes this program's stderr.
    let threads = limits::runtime_processes_to_come()
        + u64::from(pooled) * limits::THREADS_PER_POOL
        + u64::from(!crate::stderr::writer_started());
    limits::ensure_processes(procs + threads).map_err(fail)
}

/// The first termination signal that arrived, if any.
pub(super) fn interrupted(watch: &SignalWatch) -> Option<i32> {
    watch.take().first().copied()
}

/// Starts worker `index` on `channel`, unless a signal came first; the way every mode starts
/// its workers. The worker is added to `workers` once it runs.
pub(super) fn start_worker(
    plan: &Plan,
    index: usize,
    channel: Channel,
    watch: &SignalWatch,
    workers: &mut Vec<Worker>,
    observe: &mut dyn FnMut(&Event),
) -> Result<(), RunError> {
    let process = spawn(plan, index, channel, watch, observe)?;
    workers.push(Worker::new(index, process));
    Ok(())
}

/// Starts a new process for worker `index`, which was lost (and reaped): it keeps what the
/// lost one finished, and has no work until it is given some.
pub(super) fn restart_worker(
    plan: &Plan,
    index: usize,
    channel: Channel,
    watch: &SignalWatch,
    workers: &mut [Worker],
    observe: &mut dyn FnMut(&Event),
) -> Result<(), RunError> {
    let process = spawn(plan, index, channel, watch, observe)?;
    workers[index].renew(process);
    Ok(())
}

fn spawn(
    plan: &Plan,
    index: usize,
    channel: Channel,
    watch: &SignalWatch,
    observe: &mut dyn FnMut(&Event),
) -> Result<Process, RunError> {
    if let Some(signal) = interrupted(watch) {
        return Err(RunError::Interrupted { signal });
    }
    let config = plan.config();
    let args = WorkerArgs {
        index,
        steps: config.steps,
        progress: config.progress,
        channel,
        language: rust_i18n::locale().to_string(),
    };
    let mut process = Process::new(worker_main, args).with_name(format!("pi-worker-{index}"));
    process.start().map_err(|e| RunError::Worker {
        index,
        pid: None,
        range: plan.per_worker().map(|_| plan.ranges()[index].clone()),
        cause: Said::new(|| {
            rust_i18n::t!("cause.not_started", error = crate::lang::runtime_error(&e)).into_owned()
        }),
    })?;
    observe(&Event::Spawned {
        index,
        pid: process.pid().unwrap_or(0),
    });
    Ok(process)
}

/// What is left of `--retries`, and what was retried.
pub(super) struct Retries {
    allowed: u32,
    used: u32,
    /// Every retry so far, in order.
    pub(super) log: Vec<Retry>,
}

impl Retries {
    pub(super) fn new(allowed: u32) -> Retries {
        Retries {
            allowed,
            used: 0,
            log: Vec::new(),
        }
    }

    /// Retries not used yet.
    pub(super) fn left(&self) -> u32 {
        self.allowed - self.used
    }

    /// Takes a lost worker (the error that describes it, once it is reaped): when a retry is
    /// left, records and announces it and gives back the worker's index and its unfinished
    /// range, to be computed again by a new worker; otherwise the error stands. A worker that
    /// never started is not retried (the next would fail the same way).
    pub(super) fn take(
        &mut self,
        lost: RunError,
        observe: &mut dyn FnMut(&Event),
    ) -> Result<(usize, Option<Range<u64>>), RunError> {
        match lost {
            RunError::Worker {
                index,
                pid: Some(pid),
                range,
                cause,
            } if self.used < self.allowed => {
                self.used += 1;
                let retry = Retry {
                    index,
                    pid: Some(pid),
                    range: range.clone(),
                    cause,
                };
                observe(&Event::Retrying {
                    retry: retry.clone(),
                    attempt: self.used,
                    allowed: self.allowed,
                });
                self.log.push(retry);
                Ok((index, range))
            }
            other => Err(other),
        }
    }
}

//! Pipe mode: one duplex pipe per worker, a static split of the range.
//!
//! The master sends worker `i` the `i`-th range of [`partition::partition`] and a stop
//! message, then waits on every pipe at once. A worker's pipe ending before its result is its
//! death, seen at once.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::{Config, Event, Partial, RunError, Traffic, Worker, compute, interrupted};
use crate::connection::{Connection, Waitable, pipe, wait};
use crate::error::Error;
use crate::pi::partition;
use crate::process::Process;
use crate::signals::SignalWatch;

/// Master → worker.
#[derive(Serialize, Deserialize, Debug)]
enum ToWorker {
    /// Sum the terms of `range` (block-aligned) for a problem of `steps` steps.
    Compute {
        steps: u64,
        range: Range<u64>,
        progress: bool,
    },
    /// No more work.
    Stop,
}

/// Worker → master.
#[derive(Serialize, Deserialize, Debug)]
enum FromWorker {
    /// `done` indices of the current range are computed.
    Progress { done: u64 },
    /// The sum of a whole range.
    Partial { range: Range<u64>, partial: Partial },
}

#[derive(Serialize, Deserialize)]
struct PipeWorkerArgs {
    index: usize,
    conn: Connection,
}

/// A pipe worker: computes the ranges it is sent until told to stop.
fn pipe_worker(args: PipeWorkerArgs) -> Result<(), Error> {
    let mut conn = args.conn;
    loop {
        match conn.recv::<ToWorker>() {
            Ok(ToWorker::Compute {
                steps,
                range,
                progress,
            }) => {
                let partial = compute(steps, range.clone(), progress, &mut |done| {
                    conn.send(&FromWorker::Progress { done })
                })?;
                conn.send(&FromWorker::Partial { range, partial })?;
            }
            Ok(ToWorker::Stop) => return Ok(()),
            Err(e) if e.is_closed() => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

pub(super) fn drive(
    config: &Config,
    watch: &SignalWatch,
    workers: &mut Vec<Worker>,
    observe: &mut dyn FnMut(&Event),
) -> Result<Traffic, RunError> {
    let ranges = partition::partition(config.steps, config.procs);
    let mut conns: Vec<Connection> = Vec::with_capacity(ranges.len());
    for (index, range) in ranges.iter().enumerate() {
        if let Some(signal) = interrupted(watch) {
            return Err(RunError::Interrupted { signal });
        }
        let spawn_error = |cause: String| RunError::Worker {
            index,
            pid: None,
            range: Some(range.clone()),
            cause,
        };
        let (conn, theirs) =
            pipe().map_err(|e| spawn_error(format!("could not be started: {e}")))?;
        let mut process = Process::new(
            pipe_worker,
            PipeWorkerArgs {
                index,
                conn: theirs,
            },
        )
        .with_name(format!("pi-worker-{index}"));
        process
            .start()
            .map_err(|e| spawn_error(format!("could not be started: {e}")))?;
        let mut worker = Worker::new(index, process);
        worker.current = Some(range.clone());
        observe(&Event::Spawned {
            index,
            pid: worker.pid(),
        });
        workers.push(worker);
        conns.push(conn);
    }

    for (w, conn) in workers.iter_mut().zip(conns.iter_mut()) {
        let range = w.current.clone().expect("set at spawn");
        let task = ToWorker::Compute {
            steps: config.steps,
            range: range.clone(),
            progress: config.progress,
        };
        if conn
            .send(&task)
            .and_then(|()| conn.send(&ToWorker::Stop))
            .is_err()
        {
            // It died before reading its range; say how.
            return Err(w.lost(observe, "before reading its range"));
        }
        observe(&Event::Sent {
            index: w.index,
            range,
        });
    }

    let mut pending = workers.len();
    while pending > 0 {
        let waiting: Vec<usize> = (0..workers.len())
            .filter(|&i| workers[i].current.is_some())
            .collect();
        let mut objects: Vec<&dyn Waitable> = vec![watch];
        objects.extend(waiting.iter().map(|&i| &conns[i] as &dyn Waitable));
        let ready = wait(&objects, None)?;
        for slot in ready {
            if slot == 0 {
                if let Some(signal) = interrupted(watch) {
                    return Err(RunError::Interrupted { signal });
                }
                continue;
            }
            let i = waiting[slot - 1];
            let w = &mut workers[i];
            match conns[i].recv::<FromWorker>() {
                Ok(FromWorker::Progress { done }) => w.progress(done, observe),
                Ok(FromWorker::Partial { range, partial })
                    if Some(&range) == w.current.as_ref() =>
                {
                    w.finished(config.steps, range, partial, observe);
                    pending -= 1;
                }
                Ok(other) => {
                    return Err(RunError::Worker {
                        index: w.index,
                        pid: Some(w.pid()),
                        range: w.current.clone(),
                        cause: format!("sent a result for the wrong range: {other:?}"),
                    });
                }
                Err(_) => return Err(w.lost(observe, "before sending its result")),
            }
        }
    }

    for w in workers.iter_mut() {
        w.reap(observe)?;
    }
    let mut traffic = Traffic::default();
    for c in &conns {
        let s = c.stats();
        traffic.messages += s.messages_sent + s.messages_received;
        traffic.bytes += s.bytes_sent + s.bytes_received;
    }
    Ok(traffic)
}

//! Pipe mode: one duplex pipe per worker, a static split of the range; and the same over a
//! shared-memory channel per worker (`--ipc shm-channel`).
//!
//! The master sends worker `i` the `i`-th range of the plan and a stop message, then waits on
//! every link at once. A worker's link ending before its result is its death, seen at once;
//! under `--retries` a new worker takes its place and its range.

use multiproc::connection::ConnectionStats;
use multiproc::{Connection, ShmConnection, Waitable, pipe, wait};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::driver::{Retries, interrupted, restart_worker, start_worker};
use super::plan::Plan;
use super::watch::{Worker, overdue, wait_for};
use super::worker::{Channel, Report, Task};
use super::{Event, RunError, Traffic, Via};
use multiproc::signals::SignalWatch;

/// What the mode needs of the link to a worker: a pipe ([`Connection`]) or a shared-memory
/// channel ([`ShmConnection`]), which have the same API.
pub(super) trait Link: Waitable + Sized {
    /// A new pair: the master's end, and the worker's as it travels in its arguments.
    fn pair() -> multiproc::Result<(Self, Channel)>;
    /// Sends one message.
    fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> multiproc::Result<()>;
    /// Receives one message.
    fn recv<T: DeserializeOwned>(&mut self) -> multiproc::Result<T>;
    /// What crossed it.
    fn stats(&self) -> ConnectionStats;
    /// What it is, for the narration.
    const VIA: Via;
}

impl Link for Connection {
    const VIA: Via = Via::Pipe;
    fn pair() -> multiproc::Result<(Self, Channel)> {
        let (mine, theirs) = pipe()?;
        Ok((mine, Channel::Pipe(theirs)))
    }
    fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> multiproc::Result<()> {
        Connection::send(self, value)
    }
    fn recv<T: DeserializeOwned>(&mut self) -> multiproc::Result<T> {
        Connection::recv(self)
    }
    fn stats(&self) -> ConnectionStats {
        Connection::stats(self)
    }
}

/// Rings for a worker's channel: its messages are a few dozen bytes.
const WORKER_RING: usize = 16 * 1024;

impl Link for ShmConnection {
    const VIA: Via = Via::ShmChannel;
    fn pair() -> multiproc::Result<(Self, Channel)> {
        let (mine, theirs) = multiproc::shm_channel::shm_pipe_with_ring(WORKER_RING)?;
        Ok((mine, Channel::ShmRing(theirs)))
    }
    fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> multiproc::Result<()> {
        ShmConnection::send(self, value)
    }
    fn recv<T: DeserializeOwned>(&mut self) -> multiproc::Result<T> {
        ShmConnection::recv(self)
    }
    fn stats(&self) -> ConnectionStats {
        ShmConnection::stats(self)
    }
}

pub(super) fn drive<L: Link>(
    plan: &Plan,
    watch: &SignalWatch,
    workers: &mut Vec<Worker>,
    retries: &mut Retries,
    observe: &mut dyn FnMut(&Event),
) -> Result<Traffic, RunError> {
    let mut conns: Vec<L> = Vec::with_capacity(plan.ranges().len());
    // Links of lost workers, kept for their counts.
    let mut retired: Vec<L> = Vec::new();
    // Each worker is sent its range as soon as it runs, so the first ones compute while the
    // last ones are being started.
    for (index, range) in plan.ranges().iter().enumerate() {
        let (conn, theirs) = L::pair()?;
        start_worker(plan, index, theirs, watch, workers, observe)?;
        workers[index].assign(range.clone());
        conns.push(conn);
        if let Err(lost) = send_range(&mut workers[index], &mut conns[index], observe) {
            replace(
                plan,
                watch,
                workers,
                &mut conns,
                &mut retired,
                lost,
                retries,
                observe,
            )?;
        }
    }

    let steps = plan.config().steps;
    let timeout = plan.config().timeout;
    let mut pending = workers.len();
    while pending > 0 {
        let waiting: Vec<usize> = (0..workers.len())
            .filter(|&i| workers[i].current().is_some())
            .collect();
        let mut objects: Vec<&dyn Waitable> = vec![watch];
        objects.extend(waiting.iter().map(|&i| &conns[i] as &dyn Waitable));
        let ready = wait(&objects, wait_for(workers, timeout, None))?;
        let mut lost = Vec::new();
        for slot in ready {
            if slot == 0 {
                if let Some(signal) = interrupted(watch) {
                    return Err(RunError::Interrupted { signal });
                }
                continue;
            }
            let i = waiting[slot - 1];
            let w = &mut workers[i];
            match conns[i].recv::<Report>() {
                Ok(report) => match w.report(steps, report, observe) {
                    Ok(true) => pending -= 1,
                    Ok(false) => {}
                    // A report that makes no sense: the worker is stopped, and lost.
                    Err(e @ RunError::Worker { .. }) => lost.push(w.misbehaved(e, observe)),
                    Err(e) => return Err(e),
                },
                // End of stream (clean or mid-message) is its death; anything else is
                // garbage from a live worker.
                Err(e) if e.is_closed() || e.is_truncated() => {
                    lost.push(w.lost(observe, "cause.before_result"))
                }
                Err(e) => lost.push(w.sent_garbage(&e, observe)),
            }
        }
        // What arrived is taken first: a result in time is never judged late.
        if let Some(late) = overdue(workers, timeout, observe) {
            lost.push(late);
        }
        for gone in lost {
            replace(
                plan,
                watch,
                workers,
                &mut conns,
                &mut retired,
                gone,
                retries,
                observe,
            )?;
        }
    }

    for w in workers.iter_mut() {
        w.reap(observe)?;
    }
    let mut traffic = Traffic::default();
    for c in conns.iter().chain(&retired) {
        let s = c.stats();
        traffic.messages += s.messages_sent + s.messages_received;
        traffic.bytes += s.bytes_sent + s.bytes_received;
    }
    Ok(traffic)
}

/// Sends a worker its range and the stop message; a worker that is gone already is
/// described (and reaped).
fn send_range<L: Link>(
    w: &mut Worker,
    conn: &mut L,
    observe: &mut dyn FnMut(&Event),
) -> Result<(), RunError> {
    let Some(range) = w.current().cloned() else {
        return Ok(());
    };
    let task: Task = Some(range.clone());
    if conn
        .send(&task)
        .and_then(|()| conn.send(&None::<Task>))
        .is_err()
    {
        // It died before reading its range; say how.
        return Err(w.lost(observe, "cause.before_range"));
    }
    observe(&Event::Sent {
        index: w.index,
        range,
        via: L::VIA,
    });
    Ok(())
}

/// Retries a lost worker: a new worker in its place, on a new pipe, given its range again; a
/// replacement that is lost at once uses the next retry, until none is left (then the loss
/// stands as the run's error).
#[allow(clippy::too_many_arguments)]
fn replace<L: Link>(
    plan: &Plan,
    watch: &SignalWatch,
    workers: &mut [Worker],
    conns: &mut [L],
    retired: &mut Vec<L>,
    mut lost: RunError,
    retries: &mut Retries,
    observe: &mut dyn FnMut(&Event),
) -> Result<(), RunError> {
    loop {
        let (index, range) = retries.take(lost, observe)?;
        let Some(again) = range else {
            return Ok(());
        };
        let (conn, theirs) = L::pair()?;
        restart_worker(plan, index, theirs, watch, workers, observe)?;
        retired.push(std::mem::replace(&mut conns[index], conn));
        workers[index].assign(again);
        match send_range(&mut workers[index], &mut conns[index], observe) {
            Ok(()) => return Ok(()),
            Err(again) => lost = again,
        }
    }
}

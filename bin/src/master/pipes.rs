//! Pipe mode: one duplex pipe per worker, a static split of the range.
//!
//! The master sends worker `i` the `i`-th range of the plan and a stop message, then waits on
//! every pipe at once. A worker's pipe ending before its result is its death, seen at once.

use multiproc::{Connection, Waitable, pipe, wait};

use super::driver::{interrupted, start_worker};
use super::plan::Plan;
use super::watch::{Worker, overdue, wait_for};
use super::worker::{Channel, Report, Task};
use super::{Event, RunError, Traffic};
use multiproc::signals::SignalWatch;

pub(super) fn drive(
    plan: &Plan,
    watch: &SignalWatch,
    workers: &mut Vec<Worker>,
    observe: &mut dyn FnMut(&Event),
) -> Result<Traffic, RunError> {
    let mut conns: Vec<Connection> = Vec::with_capacity(plan.ranges().len());
    for (index, range) in plan.ranges().iter().enumerate() {
        let (conn, theirs) = pipe()?;
        start_worker(plan, index, Channel::Pipe(theirs), watch, workers, observe)?;
        workers[index].assign(range.clone());
        conns.push(conn);
    }

    for (w, conn) in workers.iter_mut().zip(conns.iter_mut()) {
        let Some(range) = w.current().cloned() else {
            continue;
        };
        let task: Task = Some(range.clone());
        if conn
            .send(&task)
            .and_then(|()| conn.send(&None::<Task>))
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
                Ok(report) => {
                    if w.report(steps, report, observe)? {
                        pending -= 1;
                    }
                }
                Err(_) => return Err(w.lost(observe, "before sending its result")),
            }
        }
        // What arrived is taken first: a result in time is never judged late.
        if let Some(late) = overdue(workers, timeout, observe) {
            return Err(late);
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

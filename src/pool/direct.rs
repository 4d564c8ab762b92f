//! `apply` on an idle pool without the pool's thread in between: the caller borrows an idle
//! worker's connection from the shared state, sends the task and reads the result itself
//! (two wake-ups per task instead of four), then hands the worker back: parked again when
//! healthy, to the pool's thread when it must be retired, killed or reaped.

use std::time::Instant;

use serde::de::DeserializeOwned;

use super::results::finish_one;
use super::state::ReturnedState::{Dead, Healthy, Retire, TooSlow};
use super::state::{Parked, Returned, ReturnedState};
use super::task::{BytesRef, Done, Task, TaskError, ToWorker};
use super::{Pool, PoolError};

impl Pool {
    /// An idle worker for the caller to use directly, if there is one and nothing waits in
    /// the queue (a direct task must not overtake queued ones).
    pub(super) fn borrow_idle(&self) -> Option<Parked> {
        let mut s = self.inner.lock();
        if s.closed || s.terminate || s.finished || !s.queue.is_empty() {
            return None;
        }
        let worker = s.idle.pop()?;
        s.borrowed.push(worker.id);
        Some(worker)
    }

    /// Runs one task on a borrowed worker and hands the worker back.
    pub(super) fn run_on<R: DeserializeOwned>(
        &self,
        mut worker: Parked,
        task: Task,
        args: &[u8],
    ) -> std::result::Result<R, PoolError> {
        let started = Instant::now();
        let msg = ToWorker::Run {
            task,
            args: BytesRef(args),
        };
        let reply = worker.conn.send(&msg).and_then(|()| {
            let left = self
                .task_timeout
                .map(|t| t.saturating_sub(started.elapsed()));
            if worker.conn.poll(left)? {
                worker.conn.recv::<Done>().map(Some)
            } else {
                Ok(None)
            }
        });
        let (id, pid) = (worker.id, worker.pid);
        let output = match reply {
            Ok(Some(done)) => {
                worker.done += 1;
                let retire = self.maxtasksperchild.is_some_and(|n| worker.done >= n);
                self.hand_back(worker, if retire { Retire } else { Healthy });
                done.output.map(|b| b.0).map_err(TaskError::Codec)
            }
            Ok(None) => {
                self.hand_back(worker, TooSlow);
                let after_ms = started.elapsed().as_millis() as u64;
                Err(TaskError::TimedOut { pid, after_ms })
            }
            Err(_) => {
                self.hand_back(worker, Dead);
                Err(self.death_of(id))
            }
        };
        let mut once = Some((0, output));
        finish_one::<R>(&[1], &mut || once.take())
    }

    /// Gives a borrowed worker back: parked again when healthy, else to the pool's thread.
    fn hand_back(&self, worker: Parked, state: ReturnedState) {
        let mut s = self.inner.lock();
        if s.finished {
            // The pool was terminated meanwhile: the worker was killed and reaped.
            s.borrowed.retain(|&id| id != worker.id);
            return;
        }
        if state == Healthy {
            s.borrowed.retain(|&id| id != worker.id);
            s.idle.push(worker);
            let wake = !s.queue.is_empty() || s.closed;
            drop(s);
            if wake {
                self.inner.wake();
            }
        } else {
            s.returned.push(Returned { worker, state });
            drop(s);
            self.inner.wake();
        }
    }

    /// How a borrowed worker that broke ended, once the pool's thread has reaped it.
    fn death_of(&self, id: u64) -> TaskError {
        let mut s = self.inner.lock();
        loop {
            if let Some((pid, how, exitcode)) = s.deaths.remove(&id) {
                return TaskError::WorkerDied { pid, how, exitcode };
            }
            if s.finished {
                return TaskError::Cancelled;
            }
            s = self.inner.wait_changed(s);
        }
    }
}

//! The pool's own thread: it starts the workers, hands them chunks (at most [`PREFETCH`] each,
//! so a worker never waits for its next chunk), collects their results, and replaces a worker
//! that died, timed out or did its `maxtasksperchild`. Callers talk to it through [`Inner`]:
//! they queue chunks and wait on the condition variable for results.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::task::{Bytes, BytesRef, Done, Initializer, TaskError, ToWorker, WorkerArgs, worker};
use crate::connection::{Connection, pipe};
use crate::error::Result;
use crate::os;
use crate::process::Process;
use crate::supervise::{Reaped, describe_exit, join_or_kill};
use crate::wait::{Waitable, wait};

/// Chunks handed to one worker at a time: the one it runs and the next few, so that a worker
/// never waits for its next chunk, even when chunks take microseconds.
const PREFETCH: usize = 16;

/// Bytes of chunks that may wait in a worker's pipe, unread: less than the kernel's pipe
/// buffer, so that handing out a chunk never blocks the pool's thread while the worker is
/// itself blocked sending a result back (the deadlock two processes can make with pipes).
const PIPE_ROOM: usize = 48 * 1024;

/// How the pool was set up.
#[derive(Clone, Debug)]
pub(super) struct Config {
    pub(super) processes: usize,
    pub(super) initializer: Option<Initializer>,
    pub(super) maxtasksperchild: Option<usize>,
    pub(super) task_timeout: Option<Duration>,
}

/// One chunk waiting to be run.
#[derive(Clone, Debug)]
pub(super) struct Chunk {
    pub(super) job: u64,
    pub(super) slot: usize,
    pub(super) trampoline: usize,
    pub(super) func: usize,
    pub(super) args: Vec<u8>,
}

/// The results of one call (`map`, `apply_async`, ...): one per chunk, as they arrive.
#[derive(Debug, Default)]
pub(super) struct Job {
    pub(super) results: Vec<Option<std::result::Result<Vec<u8>, TaskError>>>,
    /// Chunk slots in the order they finished.
    pub(super) order: Vec<usize>,
    pub(super) remaining: usize,
    /// When the caller stops waiting: its running chunks are killed.
    pub(super) deadline: Option<Instant>,
}

/// What the callers and the pool thread share.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) queue: VecDeque<Chunk>,
    pub(super) jobs: HashMap<u64, Job>,
    pub(super) next_job: u64,
    pub(super) closed: bool,
    pub(super) terminate: bool,
    /// The pool thread has stopped: no result will come any more.
    pub(super) finished: bool,
    /// The workers' pids, now.
    pub(super) pids: Vec<u32>,
    /// Set once the first workers are started (or could not be).
    pub(super) started: Option<std::result::Result<(), String>>,
}

/// The shared half of a pool.
#[derive(Debug)]
pub(super) struct Inner {
    pub(super) state: Mutex<State>,
    pub(super) changed: Condvar,
    wake: OwnedFd,
}

impl Inner {
    pub(super) fn new() -> Result<(Inner, OwnedFd)> {
        let (read, write) =
            os::pipe_nonblocking().map_err(|e| crate::Error::io("cannot create a pipe", e))?;
        Ok((
            Inner {
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
                wake: write,
            },
            read,
        ))
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the pool thread to look at the state again.
    pub(super) fn wake(&self) {
        let _ = os::write_nonblocking(self.wake.as_fd(), &[1]);
    }
}

struct Worker {
    process: Process,
    conn: Connection,
    /// Chunks sent, oldest (running) first, with when it started running.
    inflight: VecDeque<(Chunk, Option<Instant>)>,
    done: usize,
    stopping: bool,
}

/// The pool thread's body.
pub(super) fn run(inner: &Inner, wake: OwnedFd, config: Config) {
    let mut workers: Vec<Worker> = Vec::new();
    let mut start_error = None;
    for _ in 0..config.processes {
        match start(&config) {
            Ok(w) => workers.push(w),
            Err(e) => {
                start_error = Some(e.to_string());
                break;
            }
        }
    }
    {
        let mut s = inner.lock();
        s.pids = workers.iter().filter_map(|w| w.process.pid()).collect();
        s.started = Some(start_error.clone().map_or(Ok(()), Err));
        if start_error.is_some() {
            s.terminate = true;
        }
        inner.changed.notify_all();
    }
    loop {
        let timeout = {
            let mut s = inner.lock();
            if s.terminate {
                break;
            }
            // Expiry first: the chunks a killed worker had go back to the queue, and assign
            // hands them out before the thread sleeps.
            expire(&mut s, &mut workers, &config, inner);
            assign(&mut s, &mut workers);
            if s.closed && s.queue.is_empty() && workers.iter().all(|w| w.inflight.is_empty()) {
                break;
            }
            next_deadline(&s, &workers, &config)
                .map(|d| d.saturating_duration_since(Instant::now()))
        };
        let wake_fd = WakeFd(&wake);
        let mut objects: Vec<&dyn Waitable> = vec![&wake_fd];
        for w in &workers {
            objects.push(&w.conn);
            objects.push(&w.process);
        }
        let ready = wait(&objects, timeout).unwrap_or_default();
        drop(objects);
        let mut sink = [0u8; 64];
        while matches!(os::read_nonblocking(wake.as_fd(), &mut sink), Ok(Some(n)) if n > 0) {}
        let mut gone = Vec::new();
        for slot in ready.into_iter().filter(|&s| s > 0) {
            let i = (slot - 1) / 2;
            if gone.contains(&i) {
                continue;
            }
            let w = &mut workers[i];
            if slot % 2 == 1 || w.conn.has_buffered() {
                // Everything already read from its pipe, then what more is there now.
                loop {
                    match w.conn.recv::<Done>() {
                        Ok(done) => finish_chunk(inner, w, done, &config),
                        Err(_) => {
                            gone.push(i);
                            break;
                        }
                    }
                    if w.inflight.is_empty() || !w.conn.poll(Some(Duration::ZERO)).unwrap_or(false)
                    {
                        break;
                    }
                }
            } else if !w.process.is_alive() || w.process.exitcode().is_some() {
                gone.push(i);
            }
        }
        gone.sort_unstable();
        for &i in gone.iter().rev() {
            let w = workers.remove(i);
            lost(inner, w, &config, &mut workers);
        }
    }
    shut_down(inner, workers);
}

/// Starts one worker.
fn start(config: &Config) -> Result<Worker> {
    let (mine, theirs) = pipe()?;
    let mut process = Process::new(
        worker,
        WorkerArgs {
            conn: theirs,
            initializer: config.initializer.clone(),
        },
    )
    .with_name("pool-worker");
    process.start()?;
    Ok(Worker {
        process,
        conn: mine,
        inflight: VecDeque::new(),
        done: 0,
        stopping: false,
    })
}

/// Hands queued chunks to workers with room.
fn assign(s: &mut State, workers: &mut [Worker]) {
    for w in workers.iter_mut().filter(|w| !w.stopping) {
        while w.inflight.len() < PREFETCH {
            let Some(next) = s.queue.front() else {
                return;
            };
            // An idle worker reads whatever it is sent; a busy one only later, so what waits
            // for it must fit in its pipe.
            let waiting: usize = w.inflight.iter().map(|(c, _)| c.args.len() + 64).sum();
            if !w.inflight.is_empty() && waiting + next.args.len() + 64 > PIPE_ROOM {
                break;
            }
            let chunk = s.queue.pop_front().expect("just seen");
            let msg = ToWorker::Run {
                trampoline: chunk.trampoline,
                func: chunk.func,
                args: BytesRef(&chunk.args),
            };
            if w.conn.send(&msg).is_err() {
                // Its death is seen on its pipe; the chunk goes back for another.
                s.queue.push_front(chunk);
                w.stopping = true;
                break;
            }
            let started = w.inflight.is_empty().then(Instant::now);
            w.inflight.push_back((chunk, started));
        }
    }
}

/// Records a worker's result for its oldest chunk.
fn finish_chunk(inner: &Inner, w: &mut Worker, done: Done, config: &Config) {
    let Some((chunk, _)) = w.inflight.pop_front() else {
        return;
    };
    if let Some((_, started)) = w.inflight.front_mut() {
        *started = Some(Instant::now());
    }
    let output = done.output.map(|b| b.0).map_err(TaskError::Codec);
    let mut s = inner.lock();
    record(&mut s, &chunk, output);
    w.done += 1;
    if config.maxtasksperchild.is_some_and(|n| w.done >= n) && !w.stopping {
        w.stopping = true;
        // Its prefetched chunks go back to the queue; it exits once told to stop.
        while let Some((c, _)) = w.inflight.pop_back() {
            s.queue.push_front(c);
        }
        let _ = w.conn.send(&ToWorker::<Bytes>::Stop);
    }
    inner.changed.notify_all();
}

fn record(s: &mut State, chunk: &Chunk, output: std::result::Result<Vec<u8>, TaskError>) {
    if let Some(job) = s.jobs.get_mut(&chunk.job)
        && job.results[chunk.slot].is_none()
    {
        job.results[chunk.slot] = Some(output);
        job.order.push(chunk.slot);
        job.remaining -= 1;
    }
}

/// A worker is gone: its running chunk fails (unless it was told to stop), the others go back
/// to the queue, and a new worker takes its place while there is work or the pool is open.
fn lost(inner: &Inner, mut w: Worker, config: &Config, workers: &mut Vec<Worker>) {
    let pid = w.process.pid().unwrap_or(0);
    let how = match join_or_kill(&mut w.process, Duration::from_secs(1)) {
        Ok(Reaped::Exited(code)) | Ok(Reaped::Killed(code)) => {
            describe_exit(code, w.process.failure())
        }
        Err(e) => format!("could not be waited for ({e})"),
    };
    let mut s = inner.lock();
    if let Some((chunk, _)) = w.inflight.pop_front() {
        record(&mut s, &chunk, Err(TaskError::WorkerDied { pid, how }));
    }
    while let Some((c, _)) = w.inflight.pop_back() {
        s.queue.push_front(c);
    }
    replace(&mut s, workers, config);
    inner.changed.notify_all();
}

/// Starts a worker in place of one that left, unless the pool is winding down.
fn replace(s: &mut State, workers: &mut Vec<Worker>, config: &Config) {
    if s.terminate || (s.closed && s.queue.is_empty()) {
        s.pids = workers.iter().filter_map(|w| w.process.pid()).collect();
        return;
    }
    if let Ok(w) = start(config) {
        workers.push(w);
    }
    s.pids = workers.iter().filter_map(|w| w.process.pid()).collect();
}

/// Kills workers whose running chunk is past the task timeout or its caller's deadline.
fn expire(s: &mut State, workers: &mut Vec<Worker>, config: &Config, inner: &Inner) {
    let now = Instant::now();
    let mut i = 0;
    while i < workers.len() {
        let late = workers[i].inflight.front().and_then(|(chunk, started)| {
            let started = (*started)?;
            let by_task = config.task_timeout.is_some_and(|t| now >= started + t);
            let by_caller = s
                .jobs
                .get(&chunk.job)
                .and_then(|j| j.deadline)
                .is_some_and(|d| now >= d);
            (by_task || by_caller).then_some(started)
        });
        let Some(started) = late else {
            i += 1;
            continue;
        };
        let mut w = workers.remove(i);
        let pid = w.process.pid().unwrap_or(0);
        let _ = w.process.kill();
        let _ = w.process.join();
        if let Some((chunk, _)) = w.inflight.pop_front() {
            let after_ms = now.duration_since(started).as_millis() as u64;
            record(s, &chunk, Err(TaskError::TimedOut { pid, after_ms }));
        }
        while let Some((c, _)) = w.inflight.pop_back() {
            s.queue.push_front(c);
        }
        replace(s, workers, config);
        inner.changed.notify_all();
    }
}

/// When the pool thread must look again without being woken: the next timeout.
fn next_deadline(s: &State, workers: &[Worker], config: &Config) -> Option<Instant> {
    workers
        .iter()
        .filter_map(|w| {
            let (chunk, started) = w.inflight.front()?;
            let by_task = config.task_timeout.zip(*started).map(|(t, s)| s + t);
            let by_caller = s.jobs.get(&chunk.job).and_then(|j| j.deadline);
            by_task.into_iter().chain(by_caller).min()
        })
        .min()
}

/// Stops every worker: politely when the work is done, at once when terminated; every chunk
/// still queued or running then fails as cancelled.
fn shut_down(inner: &Inner, mut workers: Vec<Worker>) {
    let terminate = inner.lock().terminate;
    for w in &mut workers {
        if terminate {
            let _ = w.process.kill();
        } else {
            let _ = w.conn.send(&ToWorker::<Bytes>::Stop);
        }
    }
    for w in &mut workers {
        let _ = join_or_kill(&mut w.process, Duration::from_secs(1));
    }
    let mut s = inner.lock();
    let queued: Vec<Chunk> = s.queue.drain(..).collect();
    for chunk in queued.iter().chain(
        workers
            .iter()
            .flat_map(|w| w.inflight.iter().map(|(c, _)| c)),
    ) {
        record(&mut s, chunk, Err(TaskError::Cancelled));
    }
    s.pids.clear();
    s.finished = true;
    inner.changed.notify_all();
}

/// The wake pipe's read end, as something to wait on.
struct WakeFd<'a>(&'a OwnedFd);

impl Waitable for WakeFd<'_> {
    fn wait_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        Some(self.0.as_fd())
    }
}

//! The pool's own thread: it starts the workers, hands them chunks (at most [`PREFETCH`] each,
//! so a worker never waits for its next chunk), collects their results, and replaces a worker
//! that died, timed out or did its `maxtasksperchild`. Callers talk to it through [`Inner`]:
//! they queue chunks and wait on the condition variable for results.
//!
//! An idle worker's connection is parked in the shared state, so that a synchronous `apply`
//! can borrow it and run its task directly (see `direct`). While a worker is parked the pool
//! thread watches only its process; while it is borrowed, not at all: the caller hands it
//! back, healthy or not, through the state's `returned` list.

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use super::state::{Chunk, ChunkResult, Config, Inner, Parked, ReturnedState, State};
use super::task::{Bytes, BytesRef, Done, TaskError, ToWorker, WorkerArgs, worker};
use crate::connection::{Connection, pipe};
use crate::error::Result;
use crate::os;
use crate::process::Process;
use crate::supervise::{Reaped, describe_exit, join_or_kill};
use crate::wait::{Waitable, wait};

/// Chunks handed to one worker at a time when its chunks are quick: the one it runs and the
/// next few, so that a worker never waits for its next chunk, even when chunks take
/// microseconds.
const PREFETCH: usize = 16;

/// Chunks handed to a worker whose chunks are slow, or not yet timed: the one it runs and the
/// next. Deeper would tie long chunks to one worker while another sits idle (with 8 chunks
/// and 2 workers, the first would take all 8).
const PREFETCH_SLOW: usize = 2;

/// A chunk quicker than this makes its worker's prefetch deep.
const QUICK_CHUNK: Duration = Duration::from_micros(200);

/// Bytes of chunks that may wait in a worker's pipe, unread: less than the kernel's pipe
/// buffer, so that handing out a chunk never blocks the pool's thread while the worker is
/// itself blocked sending a result back (the deadlock two processes can make with pipes).
const PIPE_ROOM: usize = 48 * 1024;

struct Worker {
    id: u64,
    process: Process,
    /// `None` while parked in the shared state or borrowed by a caller.
    conn: Option<Connection>,
    /// Chunks sent, oldest (running) first, with when it started running.
    inflight: VecDeque<(Chunk, Option<Instant>)>,
    done: usize,
    stopping: bool,
    /// How long its last chunk ran (for how many chunks to hand it ahead).
    last_chunk: Option<Duration>,
}

impl Worker {
    /// How many chunks it may hold: many when its chunks are quick, two otherwise.
    fn depth(&self) -> usize {
        match self.last_chunk {
            Some(t) if t < QUICK_CHUNK => PREFETCH,
            _ => PREFETCH_SLOW,
        }
    }
}

/// The pool thread's body.
pub(super) fn run(inner: &Inner, wake: OwnedFd, config: Config) {
    let mut workers: Vec<Worker> = Vec::new();
    let mut next_id = 0;
    let mut start_error = None;
    for index in 0..config.processes {
        match start(&config, &mut next_id) {
            Ok(w) => workers.push(w),
            Err(e) => {
                let n = config.processes;
                start_error = Some(format!(
                    "worker {index} (of {n}) did not start, and the {index} started were \
                     stopped: {e}"
                ));
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
        let (timeout, watch) = {
            let mut s = inner.lock();
            if s.terminate {
                break;
            }
            take_back(&mut s, &mut workers, &config, &mut next_id);
            // Expiry first: the chunks a killed worker had go back to the queue, and assign
            // hands them out before the thread sleeps.
            expire(&mut s, &mut workers, &config, &mut next_id);
            assign(&mut s, &mut workers);
            park(&mut s, &mut workers);
            inner.changed.notify_all();
            if s.closed
                && s.submitting == 0
                && s.queue.is_empty()
                && s.borrowed.is_empty()
                && s.returned.is_empty()
                && workers.iter().all(|w| w.inflight.is_empty())
            {
                break;
            }
            // What to watch of each worker: its pipe while it has chunks from this thread,
            // its process unless a caller has it.
            let watch: Vec<(bool, bool)> = workers
                .iter()
                .map(|w| (w.conn.is_some(), !s.borrowed.contains(&w.id)))
                .collect();
            let timeout = next_deadline(&s, &workers, &config)
                .map(|d| d.saturating_duration_since(Instant::now()));
            (timeout, watch)
        };
        let wake_fd = WakeFd(&wake);
        let mut objects: Vec<&dyn Waitable> = vec![&wake_fd];
        // Which worker, and whether its pipe (or its process), each object is.
        let mut what = vec![(usize::MAX, false)];
        for (i, (w, &(pipe, process))) in workers.iter().zip(&watch).enumerate() {
            if let (true, Some(conn)) = (pipe, &w.conn) {
                objects.push(conn);
                what.push((i, true));
            }
            if process {
                objects.push(&w.process);
                what.push((i, false));
            }
        }
        let ready = wait(&objects, timeout).unwrap_or_default();
        drop(objects);
        if ready.contains(&0) {
            let mut sink = [0u8; 64];
            while matches!(os::read_nonblocking(wake.as_fd(), &mut sink), Ok(Some(n)) if n > 0) {}
        }
        let mut gone = Vec::new();
        for slot in ready.into_iter().filter(|&s| s > 0) {
            let (i, pipe) = what[slot];
            if gone.contains(&i) {
                continue;
            }
            let w = &mut workers[i];
            let Some(conn) = w.conn.as_mut() else {
                // Parked (its pipe is in the shared state) or borrowed: only its death is
                // news, and only when it is parked (a borrower finds out itself).
                if !w.process.is_alive() && unpark(&mut inner.lock(), w) {
                    gone.push(i);
                }
                continue;
            };
            if pipe || conn.has_buffered() {
                // Everything already read from its pipe, then what more is there now.
                while let Some(conn) = w.conn.as_mut() {
                    match conn.recv::<Done>() {
                        Ok(done) => finish_chunk(inner, w, done, &config),
                        Err(_) => {
                            gone.push(i);
                            break;
                        }
                    }
                    let more = w.conn.as_ref().is_some_and(|c| {
                        !w.inflight.is_empty() && c.poll(Some(Duration::ZERO)).unwrap_or(false)
                    });
                    if !more {
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
            lost(inner, w, &config, &mut workers, &mut next_id);
        }
    }
    shut_down(inner, workers);
}

/// Starts one worker.
fn start(config: &Config, next_id: &mut u64) -> Result<Worker> {
    let (mine, theirs) = pipe()?;
    let mut process = Process::new(
        worker,
        WorkerArgs {
            conn: theirs,
            initializer: config.initializer.clone(),
        },
    )
    .with_name("pool-worker")
    .with_start_method(config.start_method);
    process.start()?;
    *next_id += 1;
    Ok(Worker {
        id: *next_id,
        process,
        conn: Some(mine),
        inflight: VecDeque::new(),
        done: 0,
        stopping: false,
        last_chunk: None,
    })
}

/// Takes a parked worker's connection back from the shared state; false when a caller has
/// it.
fn unpark(s: &mut State, w: &mut Worker) -> bool {
    if w.conn.is_some() {
        return true;
    }
    let Some(at) = s.idle.iter().position(|p| p.id == w.id) else {
        return false;
    };
    let parked = s.idle.swap_remove(at);
    w.conn = Some(parked.conn);
    w.done = parked.done;
    true
}

/// Parks the connections of idle workers where callers can borrow them.
fn park(s: &mut State, workers: &mut [Worker]) {
    for w in workers
        .iter_mut()
        .filter(|w| w.inflight.is_empty() && !w.stopping)
    {
        if let (Some(conn), Some(pid)) = (w.conn.take(), w.process.pid()) {
            s.idle.push(Parked {
                id: w.id,
                pid,
                conn,
                done: w.done,
            });
        }
    }
}

/// Takes in the workers callers handed back: healthy ones are parked again by the caller
/// itself and never come here; the others are stopped or reaped and replaced.
fn take_back(s: &mut State, workers: &mut Vec<Worker>, config: &Config, next_id: &mut u64) {
    for back in std::mem::take(&mut s.returned) {
        s.borrowed.retain(|&id| id != back.worker.id);
        let Some(at) = workers.iter().position(|w| w.id == back.worker.id) else {
            continue;
        };
        let w = &mut workers[at];
        w.done = back.worker.done;
        w.conn = Some(back.worker.conn);
        match back.state {
            ReturnedState::Healthy => {}
            ReturnedState::Retire => {
                w.stopping = true;
                if let Some(conn) = w.conn.as_mut() {
                    let _ = conn.send(&ToWorker::<Bytes>::Stop);
                }
            }
            ReturnedState::Dead | ReturnedState::TooSlow => {
                let mut w = workers.remove(at);
                let pid = w.process.pid().unwrap_or(0);
                if back.state == ReturnedState::TooSlow {
                    let _ = w.process.kill();
                }
                let (how, exitcode) = reap(&mut w);
                // The borrower of a worker that broke waits to say how it ended.
                if back.state == ReturnedState::Dead {
                    s.deaths.insert(w.id, (pid, how, exitcode));
                }
                replace(s, workers, config, next_id);
            }
        }
    }
}

/// Waits for a worker that is gone (or killed), and says how it ended.
fn reap(w: &mut Worker) -> (String, Option<i32>) {
    match join_or_kill(&mut w.process, Duration::from_secs(1)) {
        Ok(Reaped::Exited(code)) | Ok(Reaped::Killed(code)) => {
            (describe_exit(code, w.process.failure()), Some(code))
        }
        Err(e) => (format!("could not be waited for ({e})"), None),
    }
}

/// Hands queued chunks to workers with room (taking parked ones back to do so): first one
/// at a time round the workers until each holds [`PREFETCH_SLOW`] (so that chunks spread
/// over the workers instead of filling the first), then deeper to those whose chunks are
/// quick.
fn assign(s: &mut State, workers: &mut [Worker]) {
    loop {
        let mut gave = false;
        for w in workers.iter_mut() {
            if w.inflight.len() < PREFETCH_SLOW {
                match give(s, w) {
                    Some(true) => gave = true,
                    Some(false) => {}
                    None => return,
                }
            }
        }
        if !gave {
            break;
        }
    }
    for w in workers.iter_mut() {
        while w.inflight.len() < w.depth() {
            match give(s, w) {
                Some(true) => {}
                Some(false) => break,
                None => return,
            }
        }
    }
}

/// Sends the next queued chunk to `w`: whether it went (`None`: the queue is empty).
fn give(s: &mut State, w: &mut Worker) -> Option<bool> {
    let next = s.queue.front()?;
    if w.stopping {
        return Some(false);
    }
    // An idle worker reads whatever it is sent; a busy one only later, so what waits for it
    // must fit in its pipe.
    let waiting: usize = w.inflight.iter().map(|(c, _)| c.args.len() + 64).sum();
    if !w.inflight.is_empty() && waiting + next.args.len() + 64 > PIPE_ROOM {
        return Some(false);
    }
    if !unpark(s, w) {
        return Some(false);
    }
    let chunk = s.queue.pop_front()?;
    let msg = ToWorker::Run {
        task: chunk.task,
        args: BytesRef(&chunk.args),
    };
    if w.conn.as_mut().is_none_or(|c| c.send(&msg).is_err()) {
        // Its death is seen on its pipe; the chunk goes back for another.
        s.queue.push_front(chunk);
        w.stopping = true;
        return Some(false);
    }
    let started = w.inflight.is_empty().then(Instant::now);
    w.inflight.push_back((chunk, started));
    Some(true)
}

/// Records a worker's result for its oldest chunk.
fn finish_chunk(inner: &Inner, w: &mut Worker, done: Done, config: &Config) {
    let Some((chunk, started)) = w.inflight.pop_front() else {
        return;
    };
    let now = Instant::now();
    w.last_chunk = started.map(|t| now.duration_since(t));
    if let Some((_, started)) = w.inflight.front_mut() {
        *started = Some(now);
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
        if let Some(conn) = w.conn.as_mut() {
            let _ = conn.send(&ToWorker::<Bytes>::Stop);
        }
    }
    // The callers are woken once for every result read in this round, at the top of the loop.
}

fn record(s: &mut State, chunk: &Chunk, output: std::result::Result<Vec<u8>, TaskError>) {
    if let Some(job) = s.jobs.get_mut(&chunk.job)
        && matches!(job.results[chunk.slot], ChunkResult::Pending)
    {
        job.results[chunk.slot] = ChunkResult::Ready(output);
        job.order.push(chunk.slot);
        job.remaining -= 1;
        if job.abandoned && job.remaining == 0 {
            s.jobs.remove(&chunk.job);
        }
    }
}

/// A worker is gone: its running chunk fails (unless it was told to stop), the others go back
/// to the queue, and a new worker takes its place while there is work or the pool is open.
fn lost(
    inner: &Inner,
    mut w: Worker,
    config: &Config,
    workers: &mut Vec<Worker>,
    next_id: &mut u64,
) {
    let pid = w.process.pid().unwrap_or(0);
    let (how, exitcode) = reap(&mut w);
    let mut s = inner.lock();
    if let Some((chunk, _)) = w.inflight.pop_front() {
        record(
            &mut s,
            &chunk,
            Err(TaskError::WorkerDied { pid, how, exitcode }),
        );
    }
    while let Some((c, _)) = w.inflight.pop_back() {
        s.queue.push_front(c);
    }
    replace(&mut s, workers, config, next_id);
    inner.changed.notify_all();
}

/// Starts a worker in place of one that left, unless the pool is winding down.
fn replace(s: &mut State, workers: &mut Vec<Worker>, config: &Config, next_id: &mut u64) {
    if s.terminate || (s.closed && s.submitting == 0 && s.queue.is_empty()) {
        s.pids = workers.iter().filter_map(|w| w.process.pid()).collect();
        return;
    }
    if let Ok(w) = start(config, next_id) {
        workers.push(w);
    }
    s.pids = workers.iter().filter_map(|w| w.process.pid()).collect();
}

/// Kills workers whose running chunk is past the task timeout or whose caller gave up.
fn expire(s: &mut State, workers: &mut Vec<Worker>, config: &Config, next_id: &mut u64) {
    let now = Instant::now();
    let mut i = 0;
    while i < workers.len() {
        let late = workers[i].inflight.front().and_then(|(chunk, started)| {
            let started = (*started)?;
            let by_task = config.task_timeout.is_some_and(|t| now >= started + t);
            // A chunk whose caller gave up (its job is gone) is not worth finishing.
            let by_caller = !s.jobs.contains_key(&chunk.job);
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
        replace(s, workers, config, next_id);
    }
}

/// When the pool thread must look again without being woken: the next timeout.
fn next_deadline(s: &State, workers: &[Worker], config: &Config) -> Option<Instant> {
    workers
        .iter()
        .filter_map(|w| {
            let (chunk, started) = w.inflight.front()?;
            let by_task = config.task_timeout.zip(*started).map(|(t, s)| s + t);
            let by_caller = (!s.jobs.contains_key(&chunk.job)).then(Instant::now);
            by_task.into_iter().chain(by_caller).min()
        })
        .min()
}

/// Stops every worker: politely when the work is done, at once when terminated; every chunk
/// still queued or running then fails as cancelled. Workers a caller has borrowed are killed
/// too (the caller sees its pipe close, and the pool finished).
fn shut_down(inner: &Inner, mut workers: Vec<Worker>) {
    let terminate = {
        let mut s = inner.lock();
        for w in &mut workers {
            unpark(&mut s, w);
        }
        s.terminate
    };
    for w in &mut workers {
        match w.conn.as_mut() {
            Some(conn) if !terminate => {
                let _ = conn.send(&ToWorker::<Bytes>::Stop);
            }
            _ => {
                let _ = w.process.kill();
            }
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
    s.idle.clear();
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

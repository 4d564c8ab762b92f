//! `Queue<T>`: a first-in, first-out queue that any number of processes put into and take from.
//!
//! Like Python's `multiprocessing.Queue`, it is "implemented with pipes and locks". A queue is
//! handed to a child like any other argument of a [`crate::Process`]; every handle, in any
//! process, puts into and takes from the same queue.
//!
//! # Design
//! - **Items** travel through one anonymous pipe as frames: a 4-byte length, then the bincode
//!   encoding (see [`crate::codec`]). A frame has any size up to the frame limit (256 MiB by
//!   default), far past `PIPE_BUF` and the 64 KiB pipe buffer.
//! - **Writers are serialised** by a process-shared robust mutex in shared memory (a `memfd`
//!   every holder maps): a producer holds it for the whole of one frame, so frames never
//!   interleave, whatever their size.
//! - **Readers are serialised** by a second such mutex: a consumer holds it while it takes
//!   exactly one frame. To take small items without a system call each, the lock holder reads
//!   whatever the pipe holds (up to 64 KiB) into a read-ahead buffer in the shared memory,
//!   takes its own item from the front, and leaves the rest there for the next consumer, in
//!   whichever process; a frame bigger than that buffer is read straight from the pipe. Either
//!   way every item is taken exactly once, in order.
//! - **What is atomic** is one item: it is in the queue entirely or not at all, for every
//!   other process. `qsize` counts items completely put minus items completely taken, and is
//!   approximate while others work, as in Python.
//! - **A bound** (`Queue::bounded`) is a process-shared semaphore of free places: `put` takes
//!   one (blocking while the queue is full), `get` gives one back.
//! - **No waiting for ever on a queue nobody else holds**: both pipe ends are non-blocking,
//!   and every wait is cut into slices of 100 ms. Between slices the waiter checks that the
//!   queue is not broken and that some other handle, in a live process, still holds the
//!   queue (handles register their process in a table in the shared memory; a child's entry is
//!   filled in by its parent at spawn). When none is left, a `get` on an empty queue ends with
//!   [`Error::is_closed`], and a `put` into a full one with an error, instead of hanging.
//!
//! # When a process dies
//! A process that dies between items harms no one: a mutex it held is released by the kernel
//! and the next locker carries on. A process that dies *in the middle of* an item cannot be
//! undone: a producer killed mid-write leaves part of a frame in the pipe, and a consumer
//! killed inside a `read` (or while taking a large item) has taken bytes that belong to the
//! stream. A consumer killed while copying a small item out of the read-ahead buffer harms no
//! one: the item stays there until someone takes it. The next process to lock (or a reader waiting for
//! the rest of the frame) notices, marks the queue broken, and from then on every call on
//! every handle fails with a message naming the process that died. Items already taken are
//! unaffected. Small items are read and written in one system call each, so the window is
//! tiny; large ones take longer.

use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bootstrap::handover;
use crate::codec::{self, HEADER_LEN};
use crate::connection::Waitable;
use crate::error::{Error, Result};
use crate::os::shm::{AHEAD, LockOutcome, Locked, MAX_HOLDERS, QueueState, RobustMutex, Shared};
use crate::os::{self, FdKind};

/// How long any wait lasts before the waiter looks around (broken queue, holders gone).
const SLICE: Duration = Duration::from_millis(100);
/// Payloads are read into an allocation grown as bytes arrive, from this size up.
const FIRST_PAYLOAD_CHUNK: usize = 1 << 20;

/// Why writing an item stopped, and whether any of it reached the pipe.
enum WriteFailure {
    BeforeFirstByte(Error),
    MidItem(Error),
}

impl WriteFailure {
    fn into_error(self) -> Error {
        match self {
            WriteFailure::BeforeFirstByte(e) | WriteFailure::MidItem(e) => e,
        }
    }
}

/// Counts of what one handle moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// Items this handle put.
    pub items_put: u64,
    /// Frame bytes (headers included) this handle put.
    pub bytes_put: u64,
    /// Items this handle took.
    pub items_got: u64,
    /// Frame bytes (headers included) this handle took.
    pub bytes_got: u64,
}

#[derive(Default)]
struct Counters {
    items_put: AtomicU64,
    bytes_put: AtomicU64,
    items_got: AtomicU64,
    bytes_got: AtomicU64,
}

/// A queue of `T`s shared between processes. See the [module docs](self).
pub struct Queue<T> {
    reader: Option<OwnedFd>,
    writer: Option<OwnedFd>,
    shared: Arc<Shared<QueueState>>,
    slot: Option<usize>,
    max_frame: usize,
    counters: Counters,
    _items: PhantomData<fn(T) -> T>,
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize())
            .field("closed", &self.reader.is_none())
            .finish()
    }
}

fn my_pid() -> i32 {
    std::process::id() as i32
}

/// Puts `pid` in a free slot of the holder table.
fn register(state: &QueueState, pid: i32) -> Result<usize> {
    for _ in 0..2 {
        for (i, holder) in state.holders.iter().enumerate() {
            if holder
                .compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return Ok(i);
            }
        }
        // Full: forget holders that have exited, then try once more.
        for holder in &state.holders {
            let p = holder.load(Ordering::SeqCst);
            if p != 0 && !os::process_running(p) {
                let _ = holder.compare_exchange(p, 0, Ordering::SeqCst, Ordering::SeqCst);
            }
        }
    }
    Err(Error::state(format!(
        "a queue can be held by at most {MAX_HOLDERS} handles at once"
    )))
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A new, unbounded queue.
    pub fn new() -> Result<Queue<T>> {
        Self::create(0)
    }

    /// A new queue holding at most `maxsize` items: `put` blocks while it is full.
    pub fn bounded(maxsize: usize) -> Result<Queue<T>> {
        if maxsize == 0 || maxsize > u32::MAX as usize / 2 {
            return Err(Error::state(format!(
                "a queue's bound must be between 1 and {}, not {maxsize}",
                u32::MAX / 2
            )));
        }
        Self::create(maxsize as u32)
    }

    fn create(maxsize: u32) -> Result<Queue<T>> {
        let shared = Shared::<QueueState>::create(c"multiproc-queue")
            .map_err(|e| Error::io("cannot create the queue's shared memory", e))?;
        if maxsize > 0 {
            shared
                .get()
                .set_bound(maxsize)
                .map_err(|e| Error::io("cannot create the queue's semaphore", e))?;
        }
        let (reader, writer) =
            os::pipe_nonblocking().map_err(|e| Error::io("cannot create the queue's pipe", e))?;
        let slot = register(shared.get(), my_pid())?;
        Ok(Queue {
            reader: Some(reader),
            writer: Some(writer),
            shared: Arc::new(shared),
            slot: Some(slot),
            max_frame: codec::DEFAULT_MAX_FRAME,
            counters: Counters::default(),
            _items: PhantomData,
        })
    }

    /// Another handle on the same queue, for another thread of this process.
    pub fn try_clone(&self) -> Result<Queue<T>> {
        let (reader, writer) = self.fds()?;
        let dup = |fd: BorrowedFd<'_>| {
            fd.try_clone_to_owned()
                .map_err(|e| Error::io("cannot duplicate the queue's pipe", e))
        };
        Ok(Queue {
            reader: Some(dup(reader)?),
            writer: Some(dup(writer)?),
            shared: Arc::clone(&self.shared),
            slot: Some(register(self.state(), my_pid())?),
            max_frame: self.max_frame,
            counters: Counters::default(),
            _items: PhantomData,
        })
    }

    /// Puts one item, waiting while a bounded queue is full.
    pub fn put(&self, item: &T) -> Result<()> {
        self.put_until(item, None)
    }

    /// Puts one item, waiting at most `timeout` for room ([`Error::is_timeout`] then).
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<()> {
        self.put_until(item, Some(Instant::now() + timeout))
    }

    /// Takes the oldest item, waiting for one. Fails with [`Error::is_closed`] when the queue
    /// is empty and no other handle in a live process holds it any more.
    pub fn get(&self) -> Result<T> {
        self.get_until(None)
    }

    /// Takes the oldest item, waiting at most `timeout` ([`Error::is_timeout`] then).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_until(Some(Instant::now() + timeout))
    }

    /// Takes the oldest item if one is there now (Python's `get_nowait`).
    pub fn try_get(&self) -> Result<Option<T>> {
        match self.get_until(Some(Instant::now())) {
            Ok(item) => Ok(Some(item)),
            Err(e) if e.is_timeout() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl<T> Queue<T> {
    fn state(&self) -> &QueueState {
        self.shared.get()
    }

    fn fds(&self) -> Result<(BorrowedFd<'_>, BorrowedFd<'_>)> {
        match (&self.reader, &self.writer) {
            (Some(r), Some(w)) => Ok((r.as_fd(), w.as_fd())),
            _ => Err(Error::state("this queue handle was closed")),
        }
    }

    /// The number of items in the queue: put completely and not yet taken. Approximate while
    /// other processes are putting or taking.
    pub fn qsize(&self) -> usize {
        let s = self.state();
        let gets = s.gets.load(Ordering::SeqCst);
        let puts = s.puts.load(Ordering::SeqCst);
        puts.saturating_sub(gets) as usize
    }

    /// Whether [`Queue::qsize`] is 0.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// The bound given to [`Queue::bounded`], if any.
    pub fn maxsize(&self) -> Option<usize> {
        match self.state().maxsize.load(Ordering::SeqCst) {
            0 => None,
            n => Some(n as usize),
        }
    }

    /// Sets the largest item, in encoded bytes, this handle puts or takes (default 256 MiB, at
    /// most 1 GiB). A bigger incoming item is skipped whole and reported
    /// ([`Error::is_too_large`]); the queue stays usable.
    pub fn set_max_frame(&mut self, bytes: usize) {
        self.max_frame = bytes.min(codec::MAX_FRAME_LIMIT);
    }

    /// What this handle has put and taken so far.
    pub fn stats(&self) -> QueueStats {
        QueueStats {
            items_put: self.counters.items_put.load(Ordering::Relaxed),
            bytes_put: self.counters.bytes_put.load(Ordering::Relaxed),
            items_got: self.counters.items_got.load(Ordering::Relaxed),
            bytes_got: self.counters.bytes_got.load(Ordering::Relaxed),
        }
    }

    /// Closes this handle: no more puts or gets through it. Other handles, here and in other
    /// processes, are unaffected; when every other handle is gone too, their `get` on an empty
    /// queue reports end of stream.
    pub fn close(&mut self) {
        self.reader = None;
        self.writer = None;
        if let Some(slot) = self.slot.take() {
            self.state().holders[slot].store(0, Ordering::SeqCst);
        }
    }

    /// Fails if some process died in the middle of an item (see the module docs).
    fn check_broken(&self) -> Result<()> {
        let s = self.state();
        match s.broken.load(Ordering::SeqCst) {
            0 => Ok(()),
            1 => Err(Error::state(format!(
                "the queue is broken: a producer (pid {}) died in the middle of putting an item",
                s.broken_by.load(Ordering::SeqCst)
            ))),
            _ => Err(Error::state(format!(
                "the queue is broken: a consumer (pid {}) died in the middle of taking an item",
                s.broken_by.load(Ordering::SeqCst)
            ))),
        }
    }

    fn mark_broken(&self, by_producer: bool, pid: i32) -> Error {
        let s = self.state();
        s.broken_by.store(pid, Ordering::SeqCst);
        s.broken
            .store(if by_producer { 1 } else { 2 }, Ordering::SeqCst);
        self.check_broken().expect_err("just marked broken")
    }

    /// Whether a handle other than this one is held by a running process. Entries of exited
    /// processes are cleared on the way.
    fn others_alive(&self) -> bool {
        for (i, holder) in self.state().holders.iter().enumerate() {
            if Some(i) == self.slot {
                continue;
            }
            let pid = holder.load(Ordering::SeqCst);
            if pid == 0 {
                continue;
            }
            if os::process_running(pid) {
                return true;
            }
            let _ = holder.compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst);
        }
        false
    }

    /// Locks `mutex`, waiting until `deadline`, in slices between which the queue is checked.
    fn lock<'a>(&self, mutex: &'a RobustMutex, deadline: Option<Instant>) -> Result<Locked<'a>> {
        loop {
            let slice = Instant::now() + SLICE;
            let until = deadline.map_or(slice, |d| d.min(slice));
            match mutex
                .lock(Some(until))
                .map_err(|e| Error::io("cannot lock the queue", e))?
            {
                LockOutcome::Locked(guard) => return Ok(guard),
                LockOutcome::TimedOut => {
                    self.check_broken()?;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(Error::timeout());
                    }
                }
            }
        }
    }

    fn put_until(&self, item: &T, deadline: Option<Instant>) -> Result<()>
    where
        T: Serialize,
    {
        let (_, writer) = self.fds()?;
        self.check_broken()?;
        let mut frame = Vec::new();
        codec::encode_frame(item, self.max_frame, &mut frame)?;
        let s = self.state();
        let bounded = s.maxsize.load(Ordering::SeqCst) > 0;
        if bounded {
            self.take_place(deadline)?;
        }
        let result = self.write_frame(writer, &frame, deadline);
        if result.is_err() && bounded {
            s.slots.post();
        }
        result?;
        self.counters.items_put.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_put
            .fetch_add(frame.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Waits for a free place in a bounded queue.
    fn take_place(&self, deadline: Option<Instant>) -> Result<()> {
        loop {
            let slice = Instant::now() + SLICE;
            let until = deadline.map_or(slice, |d| d.min(slice));
            if self
                .state()
                .slots
                .wait(Some(until))
                .map_err(|e| Error::io("cannot wait for room in the queue", e))?
            {
                return Ok(());
            }
            self.check_broken()?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::timeout());
            }
            if !self.others_alive() {
                return Err(Error::state(
                    "the queue is full and no other process holds it any more to take from it",
                ));
            }
        }
    }

    fn write_frame(
        &self,
        writer: BorrowedFd<'_>,
        frame: &[u8],
        deadline: Option<Instant>,
    ) -> Result<()> {
        let s = self.state();
        let guard = self.lock(&s.write_lock, deadline)?;
        let interrupted = s.writing.load(Ordering::SeqCst);
        if guard.owner_died() && interrupted != 0 {
            return Err(self.mark_broken(true, interrupted));
        }
        // Marked before the first byte: a death anywhere inside the item, even inside its
        // first `write`, is then seen by everyone as a producer dying mid-item.
        s.writing.store(my_pid(), Ordering::SeqCst);
        let result = self.write_all_of(writer, frame, deadline);
        match &result {
            Ok(()) => {
                s.puts.fetch_add(1, Ordering::SeqCst);
                s.writing.store(0, Ordering::SeqCst);
            }
            // Nothing of the item went in: the stream is still in step.
            Err(WriteFailure::BeforeFirstByte(_)) => s.writing.store(0, Ordering::SeqCst),
            // Part of it went in and the rest never will: the stream is out of step for all.
            Err(WriteFailure::MidItem(_)) => {
                self.mark_broken(true, my_pid());
            }
        }
        drop(guard);
        result.map_err(WriteFailure::into_error)
    }

    /// Writes the whole frame, waiting for room as needed.
    fn write_all_of(
        &self,
        writer: BorrowedFd<'_>,
        frame: &[u8],
        deadline: Option<Instant>,
    ) -> std::result::Result<(), WriteFailure> {
        let mut written = 0;
        let fail = |written: usize, e: Error| {
            if written == 0 {
                WriteFailure::BeforeFirstByte(e)
            } else {
                WriteFailure::MidItem(e)
            }
        };
        while written < frame.len() {
            let n = os::write_nonblocking(writer, &frame[written..])
                .map_err(|e| fail(written, Error::io("cannot put into the queue", e)))?;
            #[cfg(feature = "fault-injection")]
            if n > 0 && written + n < frame.len() {
                // Right where a SIGKILL during the `write` would take effect.
                crate::fault::reached(crate::fault::FaultPoint::QueueItemPartlyWritten);
            }
            if n > 0 {
                written += n;
                continue;
            }
            // The pipe is full: wait for a reader, looking around between slices. Before the
            // first byte the caller's deadline applies; after it the frame must be finished.
            if !os::wait_writable(writer, SLICE)
                .map_err(|e| fail(written, Error::io("poll failed", e)))?
            {
                self.check_broken().map_err(|e| fail(written, e))?;
                if written == 0 && deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(WriteFailure::BeforeFirstByte(Error::timeout()));
                }
                if !self.others_alive() {
                    return Err(fail(
                        written,
                        Error::state(
                            "the queue's pipe is full and no other process holds the queue any more to take from it",
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn get_until(&self, deadline: Option<Instant>) -> Result<T>
    where
        T: DeserializeOwned,
    {
        let (reader, _) = self.fds()?;
        self.check_broken()?;
        let payload = self.read_frame(reader, deadline)?;
        codec::decode_payload(&payload)
    }

    /// Takes exactly one frame under the read lock and returns its payload.
    ///
    /// Small frames come through the shared read-ahead buffer: one `read` brings in whatever
    /// the pipe holds, this consumer takes its item, and the rest waits there for the next
    /// consumer, in this process or another. A frame bigger than that buffer is read straight
    /// from the pipe into its own allocation.
    fn read_frame(&self, reader: BorrowedFd<'_>, deadline: Option<Instant>) -> Result<Vec<u8>> {
        let s = self.state();
        let mut guard = self.lock(&s.read_lock, deadline)?;
        let interrupted = s.reading.load(Ordering::SeqCst);
        if guard.owner_died() && interrupted != 0 {
            return Err(self.mark_broken(false, interrupted));
        }
        let io_err = |e| Error::io("cannot take from the queue", e);
        let len = loop {
            let waiting = s.ahead.waiting(s, &guard);
            if waiting.len() >= HEADER_LEN {
                let header: [u8; HEADER_LEN] =
                    waiting[..HEADER_LEN].try_into().expect("HEADER_LEN bytes");
                let len = codec::frame_len(header);
                if HEADER_LEN + len > AHEAD {
                    break len;
                }
                if waiting.len() >= HEADER_LEN + len {
                    let payload = (len <= self.max_frame)
                        .then(|| waiting[HEADER_LEN..HEADER_LEN + len].to_vec());
                    s.ahead.consume(s, &guard, HEADER_LEN + len);
                    self.took(guard, len);
                    return payload.ok_or_else(|| Error::too_large(len as u64, self.max_frame));
                }
            }
            let partial = !waiting.is_empty();
            // A death inside the read would lose bytes of the stream: say so while in it.
            s.reading.store(my_pid(), Ordering::SeqCst);
            let got = s.ahead.fill(s, &mut guard, reader).map_err(io_err);
            s.reading.store(0, Ordering::SeqCst);
            match got? {
                Some(0) if partial => return Err(Error::truncated(HEADER_LEN + 1, 0)),
                Some(0) => return Err(Error::closed()),
                Some(_) => {}
                None if partial => self.wait_rest_of_frame(reader)?,
                None => self.wait_for_item(reader, deadline)?,
            }
        };

        // A frame bigger than the read-ahead buffer: every byte waiting there is its start.
        s.reading.store(my_pid(), Ordering::SeqCst);
        let too_large = len > self.max_frame;
        let mut payload = Vec::with_capacity(if too_large {
            0
        } else {
            len.min(FIRST_PAYLOAD_CHUNK)
        });
        let waiting = s.ahead.waiting(s, &guard);
        let mut got = waiting.len() - HEADER_LEN;
        if !too_large {
            payload.extend_from_slice(&waiting[HEADER_LEN..]);
        }
        let taken = waiting.len();
        s.ahead.consume(s, &guard, taken);
        // A frame over our limit is read and dropped, so the queue stays in step for others.
        let mut sink = [0u8; 64 * 1024];
        while got < len {
            let buf: &mut [u8] = if too_large {
                let n = (len - got).min(sink.len());
                &mut sink[..n]
            } else {
                if payload.len() == got {
                    let grow = got.max(FIRST_PAYLOAD_CHUNK).min(len - got);
                    payload.resize(got + grow, 0);
                }
                &mut payload[got..]
            };
            match os::read_nonblocking(reader, buf).map_err(io_err)? {
                Some(0) => return Err(Error::truncated(HEADER_LEN + len, HEADER_LEN + got)),
                Some(n) => got += n,
                None => self.wait_rest_of_frame(reader)?,
            }
        }
        s.reading.store(0, Ordering::SeqCst);
        self.took(guard, len);
        if too_large {
            return Err(Error::too_large(len as u64, self.max_frame));
        }
        Ok(payload)
    }

    /// Bookkeeping once an item of `len` payload bytes is taken: counts, a free place in a
    /// bounded queue, and the read lock released.
    fn took(&self, guard: Locked<'_>, len: usize) {
        let s = self.state();
        s.gets.fetch_add(1, Ordering::SeqCst);
        if s.maxsize.load(Ordering::SeqCst) > 0 {
            s.slots.post();
        }
        drop(guard);
        self.counters.items_got.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_got
            .fetch_add((HEADER_LEN + len) as u64, Ordering::Relaxed);
    }

    /// Nothing to read yet: wait for an item until the deadline, in slices.
    fn wait_for_item(&self, reader: BorrowedFd<'_>, deadline: Option<Instant>) -> Result<()> {
        let slice = Instant::now() + SLICE;
        let until = deadline.map_or(slice, |d| d.min(slice));
        let wait = until.saturating_duration_since(Instant::now());
        if os::wait_readable(&[reader], Some(wait)).map_err(|e| Error::io("poll failed", e))?[0] {
            return Ok(());
        }
        self.check_broken()?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::timeout());
        }
        if !self.others_alive() {
            return Err(Error::closed());
        }
        Ok(())
    }

    /// Part of a frame has arrived: the producer is still writing it. Wait, and make sure it
    /// is still alive to finish.
    fn wait_rest_of_frame(&self, reader: BorrowedFd<'_>) -> Result<()> {
        if os::wait_readable(&[reader], Some(SLICE)).map_err(|e| Error::io("poll failed", e))?[0] {
            return Ok(());
        }
        self.check_broken()?;
        let writer = self.state().writing.load(Ordering::SeqCst);
        if writer != 0 && !os::process_running(writer) {
            return Err(self.mark_broken(true, writer));
        }
        Ok(())
    }
}

impl<T> Drop for Queue<T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T> Waitable for Queue<T> {
    /// Readable when an item (or part of one) is in the pipe.
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        self.reader.as_ref().map(|fd| fd.as_fd())
    }
    /// Items already read ahead from the pipe by some consumer are ready too.
    fn ready_now(&self) -> bool {
        self.reader.is_some() && self.state().ahead.has_bytes()
    }
}

/// How a queue travels inside a process's arguments.
#[derive(Serialize, Deserialize)]
struct HandedQueue {
    reader: u32,
    writer: u32,
    shared: u32,
    slot: u32,
    max_frame: u64,
}

impl<T> Serialize for Queue<T> {
    /// Only possible while a [`crate::Process`] packs its arguments: the child gets its own
    /// descriptors and a place in the holder table, filled with its pid when it is spawned.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let (reader, writer) = self.fds().map_err(S::Error::custom)?;
        let reader = handover::export(reader, FdKind::Read).map_err(S::Error::custom)?;
        let writer = handover::export(writer, FdKind::Write).map_err(S::Error::custom)?;
        let shared =
            handover::export(self.shared.fd(), FdKind::Memory).map_err(S::Error::custom)?;
        // Held in the parent's name until the child's pid is known.
        let slot = register(self.state(), my_pid()).map_err(S::Error::custom)?;
        let table = Arc::clone(&self.shared);
        handover::on_spawn(Box::new(move |pid| {
            let holder = &table.get().holders[slot];
            holder.store(pid.map_or(0, |p| p as i32), Ordering::SeqCst);
        }));
        HandedQueue {
            reader,
            writer,
            shared,
            slot: slot as u32,
            max_frame: self.max_frame as u64,
        }
        .serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    /// Only possible in a worker unpacking its arguments.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let wire = HandedQueue::deserialize(deserializer)?;
        let reader = handover::import(wire.reader, FdKind::Read).map_err(D::Error::custom)?;
        let writer = handover::import(wire.writer, FdKind::Write).map_err(D::Error::custom)?;
        let fd = handover::import(wire.shared, FdKind::Memory).map_err(D::Error::custom)?;
        let shared = Shared::<QueueState>::open(fd)
            .map_err(|e| D::Error::custom(format!("cannot map the queue's shared memory: {e}")))?;
        let slot = wire.slot as usize;
        if slot >= MAX_HOLDERS {
            return Err(D::Error::custom("queue holder slot out of range"));
        }
        shared.get().holders[slot].store(my_pid(), Ordering::SeqCst);
        Ok(Queue {
            reader: Some(reader),
            writer: Some(writer),
            shared: Arc::new(shared),
            slot: Some(slot),
            max_frame: usize::try_from(wire.max_frame)
                .unwrap_or(usize::MAX)
                .min(codec::MAX_FRAME_LIMIT),
            counters: Counters::default(),
            _items: PhantomData,
        })
    }
}

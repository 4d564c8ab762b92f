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

mod frames;
mod state;

use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec;
use crate::error::{Error, Result};
use crate::handover;
use crate::holders::Handle;
use crate::os::{self, FdKind};
use crate::shared::SharedMem;
use crate::wait::Waitable;
use state::QueueState;

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
///
/// ```rust,standalone_crate
/// use multiproc::{Process, Queue};
///
/// /// Takes numbers until `None`, putting each square on the results queue.
/// fn squarer((tasks, results): (Queue<Option<u64>>, Queue<u64>)) -> multiproc::Result<()> {
///     while let Some(n) = tasks.get()? {
///         results.put(&(n * n))?;
///     }
///     Ok(())
/// }
///
/// fn main() -> multiproc::Result<()> {
///     multiproc::init!(squarer);
///     let tasks = Queue::new()?;
///     let results = Queue::new()?;
///     let mut workers = Vec::new();
///     for _ in 0..2 {
///         let mut p = Process::new(squarer, (tasks.try_clone()?, results.try_clone()?));
///         p.start()?;
///         workers.push(p);
///     }
///     for n in 1..=6 {
///         tasks.put(&Some(n))?;
///     }
///     for _ in &workers {
///         tasks.put(&None)?;
///     }
///     // Whichever worker took which number, every square comes back once.
///     let mut squares: Vec<u64> = (0..6).map(|_| results.get()).collect::<Result<_, _>>()?;
///     squares.sort();
///     assert_eq!(squares, [1, 4, 9, 16, 25, 36]);
///     for p in &mut workers {
///         assert_eq!(p.join()?, 0);
///     }
///     Ok(())
/// }
/// ```
pub struct Queue<T> {
    reader: Option<OwnedFd>,
    writer: Option<OwnedFd>,
    shared: Handle<QueueState>,
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

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A new, unbounded queue.
    pub fn new() -> Result<Queue<T>> {
        Self::create(0)
    }

    /// A new queue holding at most `maxsize` items: `put` blocks while it is full.
    pub fn bounded(maxsize: usize) -> Result<Queue<T>> {
        if maxsize == 0 || maxsize > u32::MAX as usize / 2 {
            return Err(Error::invalid_argument(format!(
                "a queue's bound must be between 1 and {}, not {maxsize}",
                u32::MAX / 2
            )));
        }
        Self::create(maxsize as u32)
    }

    fn create(maxsize: u32) -> Result<Queue<T>> {
        let shared = SharedMem::<QueueState>::new(c"multiproc-queue")?;
        shared
            .set_up(maxsize)
            .map_err(|e| Error::io("cannot create the queue's semaphore", e))?;
        let (reader, writer) =
            os::pipe_nonblocking().map_err(|e| Error::io("cannot create the queue's pipe", e))?;
        Ok(Queue {
            reader: Some(reader),
            writer: Some(writer),
            shared: Handle::new(shared)?,
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
            shared: self.shared.try_clone()?,
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
        &self.shared
    }

    fn fds(&self) -> Result<(BorrowedFd<'_>, BorrowedFd<'_>)> {
        match (&self.reader, &self.writer) {
            (Some(r), Some(w)) => Ok((r.as_fd(), w.as_fd())),
            _ => Err(Error::misuse("this queue handle was closed")),
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
        self.shared.close();
    }

    fn put_until(&self, item: &T, deadline: Option<Instant>) -> Result<()>
    where
        T: Serialize,
    {
        let (_, writer) = self.fds()?;
        self.state().check_broken()?;
        let mut frame = Vec::new();
        codec::encode_frame(item, self.max_frame, &mut frame)?;
        let s = self.state();
        let bounded = s.maxsize.load(Ordering::SeqCst) > 0;
        if bounded {
            self.take_place(deadline)?;
        }
        let result = self.write_frame(writer, &frame, deadline);
        if result.is_err() && bounded {
            // The place taken goes back; posting fails only past any bound's count.
            let _ = s.slots.post();
        }
        result?;
        self.counters.items_put.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_put
            .fetch_add(frame.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn get_until(&self, deadline: Option<Instant>) -> Result<T>
    where
        T: DeserializeOwned,
    {
        let (reader, _) = self.fds()?;
        self.state().check_broken()?;
        let payload = self.read_frame(reader, deadline)?;
        codec::decode_payload(&payload)
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
        self.reader.is_some() && self.state().has_read_ahead()
    }
}

/// How a queue travels inside a process's arguments (`H`: its shared state's handle, owned
/// when received, borrowed when sent).
#[derive(Serialize, Deserialize)]
struct HandedQueue<H> {
    reader: u32,
    writer: u32,
    shared: H,
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
        HandedQueue {
            reader,
            writer,
            shared: &self.shared,
            max_frame: self.max_frame as u64,
        }
        .serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    /// Only possible in a worker unpacking its arguments.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let wire = HandedQueue::<Handle<QueueState>>::deserialize(deserializer)?;
        let reader = handover::import(wire.reader, FdKind::Read).map_err(D::Error::custom)?;
        let writer = handover::import(wire.writer, FdKind::Write).map_err(D::Error::custom)?;
        Ok(Queue {
            reader: Some(reader),
            writer: Some(writer),
            shared: wire.shared,
            max_frame: usize::try_from(wire.max_frame)
                .unwrap_or(usize::MAX)
                .min(codec::MAX_FRAME_LIMIT),
            counters: Counters::default(),
            _items: PhantomData,
        })
    }
}

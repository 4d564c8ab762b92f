//! Moving one item through a queue's pipe: writing a whole frame under the write lock,
//! taking exactly one under the read lock, and every wait in between, in slices between which
//! the waiter looks around (is the queue broken, has the deadline passed, does anyone else
//! still hold it).

use std::os::fd::BorrowedFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Queue;
use super::state::{AHEAD, BROKEN_BY_CONSUMER, BROKEN_BY_PRODUCER};
use crate::codec::{self, HEADER_LEN};
use crate::error::{Error, Result};
use crate::holders::{HasHolders, my_pid};
use crate::os;
use crate::os::shm::{LockOutcome, Locked, RobustMutex};

/// How long any wait lasts before the waiter looks around (broken queue, holders gone).
const SLICE: Duration = Duration::from_millis(100);

/// What a wait does when no other live process holds the queue any more.
#[derive(Clone, Copy)]
enum Alone {
    /// Fails with end of stream: nobody is left to put an item.
    Closed,
    /// Fails: nobody is left to make room.
    Orphaned(&'static str),
    /// Keeps waiting (the caller watches something else).
    Wait,
}

/// Why writing an item stopped, and whether any of it reached the pipe.
enum WriteFailure {
    BeforeFirstByte(Error),
    MidItem(Error),
}

impl<T> Queue<T> {
    /// Waits until `attempt(until)` gives a value, calling it with the end of each slice (never
    /// past `deadline`); between slices fails if the queue is broken, the deadline passed, or
    /// (per `alone`) nobody else holds the queue.
    fn wait_for<R>(
        &self,
        deadline: Option<Instant>,
        alone: Alone,
        mut attempt: impl FnMut(Instant) -> Result<Option<R>>,
    ) -> Result<R> {
        loop {
            let slice = Instant::now() + SLICE;
            if let Some(value) = attempt(deadline.map_or(slice, |d| d.min(slice)))? {
                return Ok(value);
            }
            self.state().check_broken()?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::timeout());
            }
            match alone {
                Alone::Wait => {}
                _ if self.state().holders().others_alive(self.shared.slot()) => {}
                Alone::Closed => return Err(Error::closed()),
                Alone::Orphaned(what) => return Err(Error::orphaned(what)),
            }
        }
    }

    /// Locks `mutex`, waiting until `deadline`.
    fn lock<'a>(&self, mutex: &'a RobustMutex, deadline: Option<Instant>) -> Result<Locked<'a>> {
        self.wait_for(deadline, Alone::Wait, |until| {
            match mutex
                .lock(Some(until))
                .map_err(|e| Error::io("cannot lock the queue", e))?
            {
                LockOutcome::Locked(guard) => Ok(Some(guard)),
                LockOutcome::TimedOut => Ok(None),
            }
        })
    }

    /// Waits for a free place in a bounded queue.
    pub(super) fn take_place(&self, deadline: Option<Instant>) -> Result<()> {
        let full = "the queue is full and no other process holds it any more to take from it";
        self.wait_for(deadline, Alone::Orphaned(full), |until| {
            let got = self
                .state()
                .slots
                .wait(Some(until))
                .map_err(|e| Error::io("cannot wait for room in the queue", e))?;
            Ok(got.then_some(()))
        })
    }

    /// Writes one whole frame under the write lock.
    pub(super) fn write_frame(
        &self,
        writer: BorrowedFd<'_>,
        frame: &[u8],
        deadline: Option<Instant>,
    ) -> Result<()> {
        let s = self.state();
        let guard = self.lock(&s.write_lock, deadline)?;
        let interrupted = s.writing.load(Ordering::SeqCst);
        if guard.owner_died() && interrupted != 0 {
            return Err(s.mark_broken(BROKEN_BY_PRODUCER, interrupted));
        }
        // Marked before the first byte: a death anywhere inside the item, even inside its
        // first `write`, is then seen by everyone as a producer dying mid-item.
        s.writing.store(my_pid(), Ordering::SeqCst);
        #[cfg(feature = "fault-injection")]
        crate::fault::reached(crate::fault::FaultPoint::QueueItemMarked);
        let result = self.write_all_of(writer, frame, deadline);
        #[cfg(feature = "fault-injection")]
        if result.is_ok() {
            crate::fault::reached(crate::fault::FaultPoint::QueueItemWritten);
        }
        let result = match result {
            Ok(()) => {
                s.puts.fetch_add(1, Ordering::SeqCst);
                s.writing.store(0, Ordering::SeqCst);
                Ok(())
            }
            // Nothing of the item went in: the stream is still in step.
            Err(WriteFailure::BeforeFirstByte(e)) => {
                s.writing.store(0, Ordering::SeqCst);
                Err(e)
            }
            // Part of it went in and the rest never will: the stream is out of step for all.
            Err(WriteFailure::MidItem(e)) => {
                s.mark_broken(BROKEN_BY_PRODUCER, my_pid());
                Err(e)
            }
        };
        drop(guard);
        result
    }

    /// Writes the whole frame, waiting for room as needed: before the first byte until the
    /// caller's deadline, after it until the frame is finished.
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
            // The pipe is full: wait for a reader to make room.
            let full = "the queue's pipe is full and no other process holds the queue any more to take from it";
            let until = if written == 0 { deadline } else { None };
            self.wait_for(until, Alone::Orphaned(full), |until| {
                os::wait_writable(writer, until.saturating_duration_since(Instant::now()))
                    .map(|room| room.then_some(()))
                    .map_err(|e| Error::io("poll failed", e))
            })
            .map_err(|e| fail(written, e))?;
        }
        Ok(())
    }

    /// Takes exactly one frame under the read lock and returns its payload.
    ///
    /// Small frames come through the shared read-ahead buffer: one `read` brings in whatever
    /// the pipe holds, this consumer takes its item, and the rest waits there for the next
    /// consumer, in this process or another. A frame bigger than that buffer is read straight
    /// from the pipe into its own allocation.
    pub(super) fn read_frame(
        &self,
        reader: BorrowedFd<'_>,
        deadline: Option<Instant>,
    ) -> Result<Vec<u8>> {
        let s = self.state();
        let mut guard = self.lock(&s.read_lock, deadline)?;
        let interrupted = s.reading.load(Ordering::SeqCst);
        if guard.owner_died() && interrupted != 0 {
            return Err(s.mark_broken(BROKEN_BY_CONSUMER, interrupted));
        }
        let io_err = |e| Error::io("cannot take from the queue", e);
        let len = loop {
            let waiting = s.read_ahead(&guard);
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
                    s.consume_read_ahead(&guard, HEADER_LEN + len);
                    self.took(guard, len);
                    return payload.ok_or_else(|| Error::too_large(len as u64, self.max_frame));
                }
            }
            let partial = !waiting.is_empty();
            // A death inside the read would lose bytes of the stream: say so while in it.
            s.reading.store(my_pid(), Ordering::SeqCst);
            let got = s.fill_read_ahead(&mut guard, reader).map_err(io_err);
            s.reading.store(0, Ordering::SeqCst);
            match got? {
                Some(0) if partial => return Err(Error::truncated(HEADER_LEN + 1, 0)),
                Some(0) => return Err(Error::closed()),
                Some(_) => {}
                None if partial => self.wait_rest_of_frame(reader)?,
                None => self.wait_readable(reader, deadline, Alone::Closed)?,
            }
        };

        // A frame bigger than the read-ahead buffer: every byte waiting there is its start.
        s.reading.store(my_pid(), Ordering::SeqCst);
        let too_large = len > self.max_frame;
        let waiting = s.read_ahead(&guard);
        let mut got = waiting.len() - HEADER_LEN;
        let mut payload = Vec::new();
        if !too_large {
            codec::payload_room(&mut payload, 0, len)[..got]
                .copy_from_slice(&waiting[HEADER_LEN..]);
        }
        let taken = waiting.len();
        s.consume_read_ahead(&guard, taken);
        // A frame over our limit is read and dropped, so the queue stays in step for others.
        let mut sink = [0u8; 64 * 1024];
        while got < len {
            let buf: &mut [u8] = if too_large {
                let n = (len - got).min(sink.len());
                &mut sink[..n]
            } else {
                codec::payload_room(&mut payload, got, len)
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
        payload.truncate(len);
        Ok(payload)
    }

    /// Bookkeeping once an item of `len` payload bytes is taken: counts, a free place in a
    /// bounded queue, and the read lock released.
    fn took(&self, guard: Locked<'_>, len: usize) {
        let s = self.state();
        s.gets.fetch_add(1, Ordering::SeqCst);
        if s.maxsize.load(Ordering::SeqCst) > 0 {
            // Posting fails only if the count would overflow, far past any bound.
            let _ = s.slots.post();
        }
        drop(guard);
        self.counters.items_got.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_got
            .fetch_add((HEADER_LEN + len) as u64, Ordering::Relaxed);
    }

    /// Waits until the pipe has something to read.
    fn wait_readable(
        &self,
        reader: BorrowedFd<'_>,
        deadline: Option<Instant>,
        alone: Alone,
    ) -> Result<()> {
        self.wait_for(deadline, alone, |until| {
            let left = until.saturating_duration_since(Instant::now());
            let ready = os::wait_readable(&[reader], Some(left))
                .map_err(|e| Error::io("poll failed", e))?[0];
            Ok(ready.then_some(()))
        })
    }

    /// Part of a frame has arrived: the producer is still writing it. Wait for more, and make
    /// sure the producer is still alive to finish.
    fn wait_rest_of_frame(&self, reader: BorrowedFd<'_>) -> Result<()> {
        self.wait_for(None, Alone::Wait, |until| {
            let left = until.saturating_duration_since(Instant::now());
            if os::wait_readable(&[reader], Some(left)).map_err(|e| Error::io("poll failed", e))?[0]
            {
                return Ok(Some(()));
            }
            let s = self.state();
            let writer = s.writing.load(Ordering::SeqCst);
            if writer != 0 && !os::process_running(writer) {
                return Err(s.mark_broken(BROKEN_BY_PRODUCER, writer));
            }
            Ok(None)
        })
    }
}

//! The shared half of a [`super::Queue`]: its locks, counters, the table of processes holding
//! it, and the read-ahead buffer, all in one region of shared memory.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::holders::{HasHolders, Holders};
use crate::os::read_nonblocking;
use crate::os::shm::{GuardedBytes, Locked, RobustMutex, SharedSemaphore, plain_struct};

/// Size of a queue's read-ahead buffer: one pipe's worth.
pub(super) const AHEAD: usize = 64 * 1024;

/// What `broken` holds once a process died mid-item.
pub(super) const BROKEN_BY_PRODUCER: u32 = 1;
/// As above, for a consumer.
pub(super) const BROKEN_BY_CONSUMER: u32 = 2;

plain_struct! {
    /// The shared part of a queue. The items themselves travel through a pipe.
    pub(super) struct QueueState {
        /// Held by a producer for the whole of one frame's write.
        pub(super) write_lock: RobustMutex,
        /// Held by a consumer for the whole of one frame's read.
        pub(super) read_lock: RobustMutex,
        /// Free places in a bounded queue.
        pub(super) slots: SharedSemaphore,
        /// The bound, 0 for none.
        pub(super) maxsize: AtomicU64,
        /// Items completely written.
        pub(super) puts: AtomicU64,
        /// Items completely read.
        pub(super) gets: AtomicU64,
        /// The pid of the producer writing a frame (from before its first byte), or 0.
        pub(super) writing: AtomicI32,
        /// The pid of the consumer in the middle of reading a frame, or 0.
        pub(super) reading: AtomicI32,
        /// Nonzero once a producer or consumer died mid-frame: the stream is out of step.
        pub(super) broken: AtomicU32,
        /// The pid that died mid-frame.
        pub(super) broken_by: AtomicI32,
        /// The processes holding a handle.
        holders: Holders,
        /// Where the bytes read ahead start and end in `ahead`.
        ahead_start: AtomicU32,
        ahead_end: AtomicU32,
        /// Bytes a consumer read from the pipe beyond the item it took, left for the next one;
        /// bound to `read_lock`.
        ahead: GuardedBytes<AHEAD>,
    }
}

impl HasHolders for QueueState {
    fn holders(&self) -> &Holders {
        &self.holders
    }
}

impl QueueState {
    /// Sets a new queue up: its bound (0 for none) and the read-ahead buffer's lock. Creator
    /// only, before the queue is shared.
    pub(super) fn set_up(&self, maxsize: u32) -> io::Result<()> {
        self.ahead.bind(&self.read_lock);
        if maxsize > 0 {
            self.slots.init(maxsize)?;
            self.maxsize.store(u64::from(maxsize), Ordering::SeqCst);
        }
        Ok(())
    }

    /// The error every call gets once the queue is broken, if it is.
    pub(super) fn check_broken(&self) -> Result<()> {
        let pid = self.broken_by.load(Ordering::SeqCst);
        let what = match self.broken.load(Ordering::SeqCst) {
            0 => return Ok(()),
            BROKEN_BY_PRODUCER => {
                format!("a producer (pid {pid}) died in the middle of putting an item")
            }
            _ => format!("a consumer (pid {pid}) died in the middle of taking an item"),
        };
        Err(Error::broken(
            u32::try_from(pid).ok(),
            format!("the queue is broken: {what}"),
        ))
    }

    /// Marks the queue broken by `pid` dying mid-item, and returns the error for it.
    pub(super) fn mark_broken(&self, how: u32, pid: i32) -> Error {
        self.broken_by.store(pid, Ordering::SeqCst);
        self.broken.store(how, Ordering::SeqCst);
        self.check_broken().expect_err("just marked broken")
    }

    /// Whether any bytes are waiting in the read-ahead buffer (a hint: read without the lock).
    pub(super) fn has_read_ahead(&self) -> bool {
        self.ahead_end.load(Ordering::Acquire) > self.ahead_start.load(Ordering::Acquire)
    }

    /// The bytes waiting in the read-ahead buffer.
    pub(super) fn read_ahead<'a>(&'a self, guard: &'a Locked<'_>) -> &'a [u8] {
        let (start, end) = self.ahead_bounds();
        &self.ahead.get(guard)[start..end]
    }

    fn ahead_bounds(&self) -> (usize, usize) {
        let start = (self.ahead_start.load(Ordering::Acquire) as usize).min(AHEAD);
        let end = (self.ahead_end.load(Ordering::Acquire) as usize).clamp(start, AHEAD);
        (start, end)
    }

    /// Marks `n` bytes of the read-ahead buffer as taken.
    pub(super) fn consume_read_ahead(&self, guard: &Locked<'_>, n: usize) {
        debug_assert!(guard.holds(&self.read_lock));
        let (start, end) = self.ahead_bounds();
        let start = (start + n).min(end);
        if start == end {
            // Empty: start over at the front.
            self.ahead_start.store(0, Ordering::Release);
            self.ahead_end.store(0, Ordering::Release);
        } else {
            self.ahead_start.store(start as u32, Ordering::Release);
        }
    }

    /// Reads what the pipe has (without blocking) into the read-ahead buffer's free space,
    /// after moving the waiting bytes to the front. `Ok(None)`: nothing to read now;
    /// `Ok(Some(0))`: end of stream.
    pub(super) fn fill_read_ahead(
        &self,
        guard: &mut Locked<'_>,
        fd: BorrowedFd<'_>,
    ) -> io::Result<Option<usize>> {
        let (start, mut end) = self.ahead_bounds();
        let bytes = self.ahead.get_mut(guard);
        if start > 0 {
            bytes.copy_within(start..end, 0);
            end -= start;
            self.ahead_start.store(0, Ordering::Release);
            self.ahead_end.store(end as u32, Ordering::Release);
        }
        if end == AHEAD {
            return Err(io::Error::other("read-ahead buffer full"));
        }
        let got = read_nonblocking(fd, &mut bytes[end..])?;
        if let Some(n) = got {
            self.ahead_end.store((end + n) as u32, Ordering::Release);
        }
        Ok(got)
    }
}

//! A duplex channel through shared memory: [`shm_pipe`] gives two [`ShmConnection`] ends with
//! the API of a [`crate::Connection`], whose messages cross in a ring of shared memory per
//! direction instead of a pipe.
//!
//! # Why
//! A pipe costs two copies and two system calls per message, and a sleeping reader a wake-up
//! through the scheduler. Here a message is encoded straight into the ring and decoded
//! straight out of it: no system call at all while the reader is awake, one copy each way for
//! bytes. MPI moves messages between two processes of one machine the same way, but it
//! busy-polls: a waiting MPI rank burns its core. An end here spins only briefly
//! ([`ShmConnection::set_spin`], 20 µs by default), then sleeps in the kernel, so an idle
//! reader costs nothing.
//!
//! # Design
//! - **One `memfd`** holds both rings and their counters; it travels to a child in a
//!   [`crate::Process`]'s arguments like a pipe does. Nothing is named in `/dev/shm`.
//! - **A ring per direction**, single producer and single consumer: `head` counts the bytes the
//!   writer has published, `tail` those the reader has consumed, each on its own cache line.
//!   A message is a frame, as on a pipe ([`crate::codec`]): a 4-byte length and the bincode
//!   payload. A frame larger than the ring streams through it: the writer publishes as it
//!   goes and waits for room, the reader consumes as it comes.
//! - **Sleeping** uses a Unix socket pair, one socket per end, that carries no data: a side
//!   about to sleep says so in the shared state and polls its socket; the other side, having
//!   published bytes (or freed room), writes one byte to its own socket when, and only when,
//!   someone sleeps. The same socket makes the end usable in [`crate::wait()`] beside pipes,
//!   queues and processes.
//! - **A peer that dies is noticed at once**: its socket closes with it, so a sleeping end
//!   wakes up with a hang-up. Complete messages already in the ring are still delivered; then
//!   the end reads as closed ([`crate::Error::is_closed`]), or, if the peer died in the middle
//!   of a message, reports that (naming its pid) instead of returning a torn message.
//!
//! As with a pipe, an end handed to a child should be dropped by the parent (moving it into
//! the [`crate::Process`]'s arguments does that), or the child never sees it close.

use std::cell::Cell;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::{DEFAULT_MAX_FRAME, HEADER_LEN, MAX_FRAME_LIMIT};
use crate::connection::ConnectionStats;
use crate::error::{Error, Result};
use crate::handover;
use crate::os::shm::plain_struct;
use crate::os::{self, FdKind};
use crate::shared::SharedMem;
use crate::wait::Waitable;

mod receive;
mod send;
mod wait;

/// Bytes of each direction's ring unless asked otherwise: 2 MiB, so a 1 MiB message fits
/// whole and the writer can be a message ahead of the reader (1 MiB messages: 12.4 GB/s
/// here, against 8.1 with a 1 MiB ring). A channel costs twice this in shared memory;
/// [`shm_pipe_with_ring`] makes smaller ones for small messages.
pub const DEFAULT_RING: usize = 2 << 20;
/// The smallest ring (a frame header and some payload must fit).
pub const MIN_RING: usize = 4096;
/// The largest ring: 1 GiB.
pub const MAX_RING: usize = 1 << 30;
/// A large message is published to the reader every this many bytes: small enough that the
/// reader copies a piece out while it is still in cache (1 MiB messages: 8.5 GB/s here,
/// against 8.0 when published every 64 KiB and 8.2 when only once the ring is full).
const PUBLISH_EVERY: usize = 16 * 1024;
/// How long an end spins before it sleeps, unless told otherwise.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(20);

plain_struct! {
    /// A counter alone on its 64-byte cache line, so the writer's and the reader's counters
    /// do not bounce one line between two cores.
    struct Line {
        value: AtomicU64,
        _pad: [AtomicU64; 7],
    }
}

plain_struct! {
    /// Words read at every message and written seldom, on a line of their own (so it stays
    /// in both sides' caches).
    struct Seldom {
        /// The reader is asleep (or about to be) waiting for bytes.
        reader_waiting: AtomicU32,
        /// The writer is asleep (or about to be) waiting for room.
        writer_waiting: AtomicU32,
        /// The pid of the process that sends on this direction, or 0 (taken at its first
        /// send, given back when its end is dropped or handed to a child).
        sender: AtomicU32,
        /// The pid of the process that receives on this direction, or 0.
        receiver: AtomicU32,
        _pad: [AtomicU64; 6],
    }
}

plain_struct! {
    /// One direction: its ring's counters and who waits on it.
    struct Direction {
        /// Bytes the writer has published, in all.
        head: Line,
        /// Bytes the reader has consumed, in all.
        tail: Line,
        seldom: Seldom,
    }
}

plain_struct! {
    /// The shared part of a channel; the rings' bytes follow it.
    struct ChannelState {
        /// Bytes of each ring.
        ring: AtomicU64,
        /// The pid of the process holding each end (the last to take it).
        pids: [AtomicU32; 2],
        /// Handles of each end alive in any process (counted for a child when its end is
        /// packed, so a parent dropping its copy right after the spawn does not read as 0).
        holders: [AtomicU32; 2],
        _pad: [AtomicU64; 5],
        /// Direction 0: end 0 writes, end 1 reads; direction 1 the other way.
        directions: [Direction; 2],
    }
}

/// Creates a duplex channel through shared memory with rings of [`DEFAULT_RING`] bytes each
/// way.
///
/// ```rust,standalone_crate
/// use multiproc::{Process, ShmConnection, shm_pipe};
///
/// fn echo(mut end: ShmConnection) -> multiproc::Result<()> {
///     let words: Vec<String> = end.recv()?;
///     end.send(&words.len())
/// }
///
/// fn main() -> multiproc::Result<()> {
///     multiproc::init!(echo);
///     let (mut here, there) = shm_pipe()?;
///     let mut child = Process::new(echo, there);
///     child.start()?;
///     here.send(&vec!["is", "this", "on?"])?;
///     assert_eq!(here.recv::<usize>()?, 3);
///     child.join()?;
///     Ok(())
/// }
/// ```
pub fn shm_pipe() -> Result<(ShmConnection, ShmConnection)> {
    shm_pipe_with_ring(DEFAULT_RING)
}

/// [`shm_pipe`] with rings of `ring` bytes each way ([`MIN_RING`] to [`MAX_RING`]; rounded up
/// to a multiple of 64). Messages of any size pass either way; a ring that holds a whole
/// message lets the writer go on without waiting for the reader.
pub fn shm_pipe_with_ring(ring: usize) -> Result<(ShmConnection, ShmConnection)> {
    if !(MIN_RING..=MAX_RING).contains(&ring) {
        return Err(Error::invalid_argument(format!(
            "a ring of {ring} bytes: it must hold {MIN_RING} to {MAX_RING} bytes"
        )));
    }
    let ring = ring.next_multiple_of(64);
    let region: SharedMem<ChannelState, u8> =
        SharedMem::with_data(c"multiproc-shm-channel", 2 * ring)?;
    region.ring.store(ring as u64, Ordering::SeqCst);
    for holders in &region.holders {
        holders.store(1, Ordering::SeqCst);
    }
    let (a, b) = os::socket_pair().map_err(|e| Error::io("cannot create a socket pair", e))?;
    Ok((
        ShmConnection::new(region.clone(), 0, a),
        ShmConnection::new(region, 1, b),
    ))
}

/// One end of a shared-memory channel: what it sends the other end receives, in order, and
/// the other way round. See the [module docs](self).
///
/// Dropping an end closes it: the other end, once it has received what was sent, reads as
/// closed. An end may be handed to a child in a [`crate::Process`]'s arguments.
pub struct ShmConnection {
    region: SharedMem<ChannelState, u8>,
    /// 0 or 1: this end writes direction `side` and reads the other.
    side: usize,
    /// Readable when the other end rings, hung up when it is gone.
    bell: Option<OwnedFd>,
    ring: u64,
    spin: Duration,
    max_frame: usize,
    stats: ConnectionStats,
    /// Encoding space for a message that does not fit where the ring is free now, and
    /// decoding space for one that wraps round the ring's end.
    scratch: Vec<u8>,
    /// Bytes taken from the incoming ring while this end waited for room to send (so that
    /// two ends sending large messages to each other at once do not wait on each other for
    /// ever), from `inbound_at` on; read before the ring.
    inbound: Vec<u8>,
    inbound_at: usize,
    /// This process's pid.
    me: u32,
    /// The outgoing ring's tail as last seen: room is known without reading the reader's
    /// line until it seems short.
    tail_seen: Cell<u64>,
    /// The incoming ring's head as last seen, likewise.
    head_seen: Cell<u64>,
}

impl ShmConnection {
    fn new(region: SharedMem<ChannelState, u8>, side: usize, bell: OwnedFd) -> Self {
        region.pids[side].store(std::process::id(), Ordering::SeqCst);
        let ring = region.ring.load(Ordering::SeqCst);
        let end = ShmConnection {
            region,
            side,
            bell: Some(bell),
            ring,
            spin: DEFAULT_SPIN,
            max_frame: DEFAULT_MAX_FRAME,
            stats: ConnectionStats::default(),
            scratch: Vec::new(),
            inbound: Vec::new(),
            inbound_at: 0,
            me: std::process::id(),
            tail_seen: Cell::new(0),
            head_seen: Cell::new(0),
        };
        end.tail_seen
            .set(end.out().tail.value.load(Ordering::Acquire));
        end.head_seen
            .set(end.inn().head.value.load(Ordering::Acquire));
        end
    }

    fn out(&self) -> &Direction {
        &self.region.directions[self.side]
    }

    fn inn(&self) -> &Direction {
        &self.region.directions[1 - self.side]
    }

    /// Where direction `d`'s ring starts in the data.
    fn base(&self, d: usize) -> usize {
        d * self.ring as usize
    }

    fn peer_pid(&self) -> u32 {
        self.region.pids[1 - self.side].load(Ordering::SeqCst)
    }

    /// How long this end spins, watching the ring, before it sleeps in the kernel (0: never
    /// spins). Longer spins answer sooner when messages come back to back, and burn that much
    /// CPU each time the other side is slow.
    pub fn set_spin(&mut self, spin: Duration) {
        self.spin = spin;
    }

    /// The spin budget; see [`ShmConnection::set_spin`].
    pub fn spin(&self) -> Duration {
        self.spin
    }

    /// Bytes of each direction's ring.
    pub fn ring_bytes(&self) -> usize {
        self.ring as usize
    }

    /// Sets the largest message this end accepts, in bytes (at most
    /// [`MAX_FRAME_LIMIT`]); a larger one is refused before anything is allocated.
    pub fn set_max_frame(&mut self, bytes: usize) {
        self.max_frame = bytes.min(MAX_FRAME_LIMIT);
    }

    /// The largest message this end accepts.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// What this end has sent and received so far.
    pub fn stats(&self) -> ConnectionStats {
        self.stats
    }

    /// Closes this end now, as dropping it would.
    pub fn close(&mut self) {
        if self.bell.take().is_some() {
            self.disown();
            self.region.holders[self.side].fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Whether every handle of the other end has been closed (one killed is noticed when
    /// this end would wait for it).
    fn peer_closed(&self) -> bool {
        self.region.holders[1 - self.side].load(Ordering::Relaxed) == 0
    }

    fn bell(&self) -> Result<BorrowedFd<'_>> {
        self.bell
            .as_ref()
            .map(|b| b.as_fd())
            .ok_or_else(Error::closed)
    }
}

impl Drop for ShmConnection {
    fn drop(&mut self) {
        self.close();
    }
}

impl Waitable for ShmConnection {
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        self.bell.as_ref().map(|b| b.as_fd())
    }

    fn ready_now(&self) -> bool {
        self.bell.is_some() && self.available() >= HEADER_LEN as u64
    }

    fn before_sleep(&self) {
        // A writer rings only for a reader that says it waits.
        self.inn().seldom.reader_waiting.store(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for ShmConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmConnection")
            .field("side", &self.side)
            .field("ring", &self.ring)
            .field("open", &self.bell.is_some())
            .finish_non_exhaustive()
    }
}

/// What travels in a child's arguments for an end.
#[derive(Serialize, Deserialize)]
struct HandedEnd {
    region: u32,
    bell: u32,
    side: u8,
    max_frame: u64,
    spin_ns: u64,
}

impl Serialize for ShmConnection {
    /// Only while a [`crate::Process`] packs its arguments: the child gets its own descriptors
    /// for the same memory and socket.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let bell = self.bell.as_ref().ok_or_else(|| {
            S::Error::custom("a closed ShmConnection cannot be handed to a child")
        })?;
        let handed = HandedEnd {
            region: handover::export(self.region.data().fd(), FdKind::Memory)
                .map_err(S::Error::custom)?,
            bell: handover::export(bell.as_fd(), FdKind::Socket).map_err(S::Error::custom)?,
            side: self.side as u8,
            max_frame: self.max_frame as u64,
            spin_ns: self.spin.as_nanos().min(u64::MAX as u128) as u64,
        };
        // The child's handle, counted now; the sides are the child's to take.
        self.region.holders[self.side].fetch_add(1, Ordering::SeqCst);
        self.disown();
        handed.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ShmConnection {
    /// Only in a worker unpacking its arguments: maps the channel and takes its socket.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let wire = HandedEnd::deserialize(deserializer)?;
        let region = SharedMem::<ChannelState, u8>::adopt(wire.region).map_err(D::Error::custom)?;
        let ring = region.ring.load(Ordering::SeqCst) as usize;
        if !(MIN_RING..=MAX_RING).contains(&ring)
            || region.data().len() != 2 * ring
            || wire.side > 1
        {
            return Err(D::Error::custom(
                "the shared-memory channel handed over is not laid out as expected",
            ));
        }
        let bell = handover::import(wire.bell, FdKind::Socket).map_err(D::Error::custom)?;
        os::set_nonblocking(bell.as_fd())
            .map_err(|e| D::Error::custom(format!("cannot set up the channel's socket: {e}")))?;
        // Its handle was counted when its parent packed it.
        let mut end = ShmConnection::new(region, wire.side as usize, bell);
        end.set_max_frame(usize::try_from(wire.max_frame).unwrap_or(usize::MAX));
        end.set_spin(Duration::from_nanos(wire.spin_ns));
        Ok(end)
    }
}

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
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::{self, DEFAULT_MAX_FRAME, HEADER_LEN, MAX_FRAME_LIMIT};
use crate::connection::ConnectionStats;
use crate::error::{Error, Result};
use crate::handover;
use crate::os::shm::plain_struct;
use crate::os::{self, FdKind};
use crate::shared::SharedMem;
use crate::wait::Waitable;

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
///     multiproc::init();
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

/// How a wait ended.
enum Waited {
    Ready,
    TimedOut,
    PeerGone,
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
    /// [`codec::MAX_FRAME_LIMIT`]); a larger one is refused before anything is allocated.
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

    // ---- waiting -------------------------------------------------------------------------

    /// Waits until `ready()` holds: a short spin, then sleeps on the bell with `flag` raised so
    /// the other side rings. Ends early when the other end is gone or `deadline` passes.
    fn wait_for(
        &self,
        flags: &[&AtomicU32],
        deadline: Option<Instant>,
        ready: impl Fn() -> bool,
    ) -> Result<Waited> {
        let raise = |v: u32| {
            for flag in flags {
                flag.store(v, Ordering::SeqCst);
            }
        };
        if ready() {
            return Ok(Waited::Ready);
        }
        if !self.spin.is_zero() {
            let until = Instant::now() + self.spin;
            loop {
                for _ in 0..64 {
                    if ready() {
                        return Ok(Waited::Ready);
                    }
                    std::hint::spin_loop();
                }
                if Instant::now() >= until {
                    break;
                }
            }
        }
        let bell = self.bell()?;
        loop {
            // Raised before looking again: a writer that publishes after our look sees it and
            // rings (both sides use sequentially consistent operations, so one sees the other).
            raise(1);
            if ready() {
                raise(0);
                return Ok(Waited::Ready);
            }
            let left = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => {
                        raise(0);
                        return Ok(Waited::TimedOut);
                    }
                },
            };
            let woke = os::wait_readable(&[bell], left);
            raise(0);
            woke.map_err(|e| Error::io("cannot wait on a shared-memory channel", e))?;
            let gone = drain(bell);
            if ready() {
                return Ok(Waited::Ready);
            }
            if gone {
                return Ok(Waited::PeerGone);
            }
        }
    }

    /// Tells the other side, if it sleeps on `flag`, that something changed.
    fn ring_if(&self, flag: &AtomicU32) {
        if flag.load(Ordering::SeqCst) != 0
            && let Some(bell) = &self.bell
        {
            os::ring(bell.as_fd());
        }
    }

    // ---- sending -------------------------------------------------------------------------

    /// Runs `f` once this process owns this end's sending (or receiving) side: two
    /// processes using the same end at once would interleave their bytes, so the second is
    /// refused, naming the first. The side stays this process's until the end is dropped or
    /// handed to a child, so this is one load per message.
    fn with_claim<R>(
        &mut self,
        sending: bool,
        f: impl FnOnce(&mut Self) -> Result<R>,
    ) -> Result<R> {
        let slot = if sending {
            &self.out().seldom.sender
        } else {
            &self.inn().seldom.receiver
        };
        if slot.load(Ordering::Relaxed) != self.me
            && let Err(other) =
                slot.compare_exchange(0, self.me, Ordering::Acquire, Ordering::Relaxed)
        {
            let what = if sending { "sends" } else { "receives" };
            return Err(Error::misuse(format!(
                "process {other} {what} on this end of the shared-memory channel, and process {} \
                 tried to as well: an end belongs to one process at a time (hand it to a child \
                 and drop it here)",
                self.me
            )));
        }
        f(self)
    }

    /// Gives back this process's ownership of the end's two sides.
    fn disown(&self) {
        for slot in [&self.out().seldom.sender, &self.inn().seldom.receiver] {
            let _ = slot.compare_exchange(self.me, 0, Ordering::Release, Ordering::Relaxed);
        }
    }

    /// Room in the outgoing ring for a writer at `head`, reading the reader's tail only when
    /// the last one seen leaves less than `need`.
    fn room(&self, head: u64, need: u64) -> u64 {
        let room = self.ring - (head - self.tail_seen.get());
        if room >= need {
            return room;
        }
        self.tail_seen
            .set(self.out().tail.value.load(Ordering::Acquire));
        self.ring - (head - self.tail_seen.get())
    }

    /// Sends one value, encoded straight into the ring when it fits where the ring is free.
    pub fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.bell()?;
        if self.peer_closed() {
            return Err(Error::closed());
        }
        let payload = self.with_claim(true, |end| end.send_claimed(value))?;
        self.count_sent(payload);
        Ok(())
    }

    fn send_claimed<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<usize> {
        let head = self.out().head.value.load(Ordering::Relaxed);
        let free = self.room(head, 64);
        let at = (head % self.ring) as usize;
        let contiguous = (self.ring as usize - at).min(free as usize);
        if contiguous > HEADER_LEN {
            let room = (contiguous - HEADER_LEN).min(self.max_frame);
            let base = self.base(self.side);
            let encoded = self
                .region
                .data()
                .with_bytes_mut(base + at, contiguous, |bytes| {
                    let used =
                        codec::encode_into_slice(value, &mut bytes[HEADER_LEN..HEADER_LEN + room])?;
                    if let Some(used) = used {
                        bytes[..HEADER_LEN].copy_from_slice(&(used as u32).to_le_bytes());
                    }
                    Ok::<_, Error>(used)
                })?;
            if let Some(used) = encoded {
                self.publish(head + (HEADER_LEN + used) as u64);
                return Ok(used);
            }
        }
        // No room for it in one piece now: encode aside (bounded by the frame limit), then
        // stream the frame through the ring.
        let mut frame = std::mem::take(&mut self.scratch);
        frame.clear();
        let encoded = codec::encode_frame(value, self.max_frame, &mut frame);
        let sent = encoded.and_then(|()| self.write_all(&frame));
        let payload = frame.len().saturating_sub(HEADER_LEN);
        self.scratch = frame;
        sent.map(|()| payload)
    }

    /// Sends `bytes` as one message, received whole by `recv_bytes` or `recv_bytes_into`.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.len() > self.max_frame {
            return Err(Error::too_large(bytes.len() as u64, self.max_frame));
        }
        self.bell()?;
        self.with_claim(true, |end| {
            if !end.put_whole(bytes) {
                let header = (bytes.len() as u32).to_le_bytes();
                end.write_parts(&[&header, bytes])?;
            }
            Ok(())
        })?;
        self.count_sent(bytes.len());
        Ok(())
    }

    /// Writes the frame of `bytes` in one piece and publishes it, if the ring has room for
    /// it where it is free now; whether it did.
    fn put_whole(&self, bytes: &[u8]) -> bool {
        let total = HEADER_LEN + bytes.len();
        let head = self.out().head.value.load(Ordering::Relaxed);
        let at = (head % self.ring) as usize;
        if at + total > self.ring as usize || self.room(head, total as u64) < total as u64 {
            return false;
        }
        let base = self.base(self.side);
        self.region
            .data()
            .with_bytes_mut(base + at, total, |frame| {
                frame[..HEADER_LEN].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
                frame[HEADER_LEN..].copy_from_slice(bytes);
            });
        self.publish(head + total as u64);
        true
    }

    fn count_sent(&mut self, payload: usize) {
        self.stats.messages_sent += 1;
        self.stats.bytes_sent += (HEADER_LEN + payload) as u64;
    }

    /// Makes the bytes up to `head` visible to the reader, and wakes it if it sleeps.
    fn publish(&self, head: u64) {
        let dir = self.out();
        dir.head.value.store(head, Ordering::SeqCst);
        self.ring_if(&dir.seldom.reader_waiting);
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.write_parts(&[bytes])
    }

    /// Writes `parts` one after the other into the ring, waiting for room as needed and
    /// publishing as it goes when they do not fit at once. While it waits, what the other end
    /// sends meanwhile is taken aside, so both can send large messages at once.
    fn write_parts(&mut self, parts: &[&[u8]]) -> Result<()> {
        let base = self.base(self.side);
        let ring = self.ring;
        let mut head = self.out().head.value.load(Ordering::Relaxed);
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut written = 0;
        for part in parts {
            let mut part: &[u8] = part;
            while !part.is_empty() {
                let room = |end: &Self| end.room(head, 1);
                if room(self) == 0 {
                    // Let the reader see what is there, then wait for room (or for something to
                    // take aside).
                    self.publish(head);
                    let take_aside = self.inbound.len() - self.inbound_at < self.max_frame;
                    let (out, inn) = (self.out(), self.inn());
                    let waited = self.wait_for(
                        &[&out.seldom.writer_waiting, &inn.seldom.reader_waiting],
                        None,
                        || {
                            room(self) > 0
                                || (take_aside
                                    && inn.head.value.load(Ordering::Acquire)
                                        > inn.tail.value.load(Ordering::Relaxed))
                        },
                    )?;
                    match waited {
                        Waited::Ready => {}
                        Waited::TimedOut => unreachable_timeout()?,
                        Waited::PeerGone => {
                            return Err(self.peer_gone_while("sending", written, total));
                        }
                    }
                    if room(self) == 0 {
                        self.take_aside();
                        continue;
                    }
                }
                let free = room(self);
                let at = (head % ring) as usize;
                let n = part.len().min(free as usize).min(ring as usize - at);
                self.region.data().copy_into(base + at, &part[..n]);
                head += n as u64;
                written += n;
                part = &part[n..];
                // Published piece by piece, so the reader copies one piece out while this
                // side copies the next in (both in cache).
                if written % PUBLISH_EVERY < n && written < total {
                    self.publish(head);
                }
            }
        }
        self.publish(head);
        Ok(())
    }

    /// Moves what the incoming ring holds into `inbound`, freeing the ring for the other end.
    fn take_aside(&mut self) {
        let n = self.ring_available() as usize;
        if n == 0 {
            return;
        }
        if self.inbound_at == self.inbound.len() {
            self.inbound.clear();
            self.inbound_at = 0;
        }
        let at = self.inbound.len();
        self.inbound.resize(at + n, 0);
        let mut taken = std::mem::take(&mut self.inbound);
        self.copy_from_ring(0, &mut taken[at..]);
        self.inbound = taken;
        self.consume(n as u64);
    }

    // ---- receiving -----------------------------------------------------------------------
    //
    // The incoming stream is `inbound[inbound_at..]` (bytes taken aside while sending), then
    // the incoming ring.

    /// Bytes in the incoming ring.
    fn ring_available(&self) -> u64 {
        self.ring_available_at_least(u64::MAX)
    }

    /// Bytes in the incoming ring, reading the writer's head only when the last one seen
    /// shows fewer than `need`.
    fn ring_available_at_least(&self, need: u64) -> u64 {
        let tail = self.inn().tail.value.load(Ordering::Relaxed);
        let have = self.head_seen.get().saturating_sub(tail);
        if have >= need {
            return have;
        }
        self.head_seen
            .set(self.inn().head.value.load(Ordering::Acquire));
        self.head_seen.get() - tail
    }

    fn aside(&self) -> usize {
        self.inbound.len() - self.inbound_at
    }

    /// Bytes of the incoming stream readable now.
    fn available(&self) -> u64 {
        self.aside() as u64 + self.ring_available()
    }

    /// Waits until `need` bytes of the stream can be read.
    fn wait_stream(&self, need: u64, deadline: Option<Instant>) -> Result<Waited> {
        let aside = self.aside() as u64;
        if aside >= need {
            return Ok(Waited::Ready);
        }
        let dir = self.inn();
        let need = (need - aside).min(self.ring);
        if self.ring_available_at_least(need) >= need {
            return Ok(Waited::Ready);
        }
        self.wait_for(&[&dir.seldom.reader_waiting], deadline, || {
            dir.head.value.load(Ordering::Acquire) - dir.tail.value.load(Ordering::Relaxed) >= need
        })
    }

    /// Consumes `n` bytes of the ring: the writer may reuse them, and is woken if it waits
    /// for room.
    fn consume(&self, n: u64) {
        let dir = self.inn();
        let tail = dir.tail.value.load(Ordering::Relaxed);
        dir.tail.value.store(tail + n, Ordering::SeqCst);
        self.ring_if(&dir.seldom.writer_waiting);
    }

    /// Consumes `n` bytes of the stream (taken aside first, then the ring).
    fn consume_stream(&mut self, n: usize) {
        let from_aside = n.min(self.aside());
        self.inbound_at += from_aside;
        if self.inbound_at == self.inbound.len() {
            self.inbound.clear();
            self.inbound_at = 0;
        }
        if n > from_aside {
            self.consume((n - from_aside) as u64);
        }
    }

    /// Copies `out.len()` bytes of the ring, from its tail plus `skip`, wrapping round its end;
    /// they must be available.
    fn copy_from_ring(&self, skip: u64, out: &mut [u8]) {
        let base = self.base(1 - self.side);
        let ring = self.ring as usize;
        let tail = self.inn().tail.value.load(Ordering::Relaxed) + skip;
        let at = (tail % self.ring) as usize;
        let first = out.len().min(ring - at);
        self.region.data().copy_out(base + at, &mut out[..first]);
        if first < out.len() {
            self.region.data().copy_out(base, &mut out[first..]);
        }
    }

    /// Copies `out.len()` bytes of the stream, from `skip` on; they must be available.
    fn copy_stream(&self, skip: usize, out: &mut [u8]) {
        let aside = &self.inbound[self.inbound_at..];
        let from_aside = aside.len().saturating_sub(skip).min(out.len());
        if from_aside > 0 {
            out[..from_aside].copy_from_slice(&aside[skip..skip + from_aside]);
        }
        let ring_skip = skip.saturating_sub(aside.len());
        self.copy_from_ring(ring_skip as u64, &mut out[from_aside..]);
    }

    /// The other end went away in the middle of something, or between messages.
    fn peer_gone_while(&self, doing: &str, done: usize, total: usize) -> Error {
        if done == 0 && doing == "receiving" {
            return Error::closed();
        }
        let pid = self.peer_pid();
        Error::broken(
            Some(pid),
            format!(
                "the other end of the shared-memory channel (pid {pid}) went away while this \
                 end was {doing} a message ({done} of {total} bytes); the message is dropped, \
                 not returned torn"
            ),
        )
    }

    /// Waits for `need` bytes of the stream, or says what happened instead (`have` of `total`
    /// bytes of a message are in).
    fn wait_or_fail(&self, need: u64, have: usize, total: usize) -> Result<()> {
        match self.wait_stream(need, None)? {
            Waited::Ready => Ok(()),
            Waited::TimedOut => unreachable_timeout(),
            Waited::PeerGone => {
                Err(self.peer_gone_while("receiving", have + self.available() as usize, total))
            }
        }
    }

    /// Waits for the next frame's header and returns its payload length, checked against the
    /// limit; the header is consumed.
    fn next_header(&mut self) -> Result<usize> {
        self.bell()?;
        self.wait_or_fail(HEADER_LEN as u64, 0, HEADER_LEN)?;
        let mut header = [0u8; HEADER_LEN];
        self.copy_stream(0, &mut header);
        let len = codec::payload_len(header, self.max_frame)?;
        self.consume_stream(HEADER_LEN);
        Ok(len)
    }

    /// Receives one value, decoded straight out of the ring when the message lies there in
    /// one piece.
    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T> {
        let (value, len) = self.with_claim(false, |end| end.recv_claimed::<T>())?;
        self.count_received(len);
        Ok(value)
    }

    /// The common case first: when a whole message waits in the ring in one piece (and
    /// nothing was taken aside), runs `f` on its payload where it lies, consumes it, and
    /// returns what `f` made of it with the payload's length. `None`: not so, nothing done.
    fn take_whole<R>(&self, f: impl FnOnce(&[u8]) -> Result<R>) -> Result<Option<(R, usize)>> {
        if self.aside() != 0
            || self.bell.is_none()
            || self.ring_available_at_least(HEADER_LEN as u64) < HEADER_LEN as u64
        {
            return Ok(None);
        }
        let tail = self.inn().tail.value.load(Ordering::Relaxed);
        let at = (tail % self.ring) as usize;
        let mut header = [0u8; HEADER_LEN];
        self.copy_from_ring(0, &mut header);
        let len = codec::payload_len(header, self.max_frame)?;
        let total = (HEADER_LEN + len) as u64;
        if at + HEADER_LEN + len > self.ring as usize || self.ring_available_at_least(total) < total
        {
            return Ok(None);
        }
        let base = self.base(1 - self.side);
        let made = self
            .region
            .data()
            .with_bytes(base + at + HEADER_LEN, len, f);
        self.consume(total);
        made.map(|r| Some((r, len)))
    }

    fn recv_claimed<T: DeserializeOwned>(&mut self) -> Result<(T, usize)> {
        if let Some(whole) = self.take_whole(codec::decode_payload::<T>)? {
            return Ok(whole);
        }
        let len = self.next_header()?;
        if self.aside() == 0 && len as u64 <= self.ring {
            // All of it will be in the ring: wait for it, decode it in place unless it wraps.
            self.wait_or_fail(len as u64, HEADER_LEN, HEADER_LEN + len)?;
            let at = (self.inn().tail.value.load(Ordering::Relaxed) % self.ring) as usize;
            if at + len <= self.ring as usize {
                let base = self.base(1 - self.side);
                let value =
                    self.region
                        .data()
                        .with_bytes(base + at, len, codec::decode_payload::<T>);
                self.consume(len as u64);
                return value.map(|v| (v, len));
            }
        }
        let mut payload = std::mem::take(&mut self.scratch);
        let read = self.read_payload(&mut payload, len);
        let value = read.and_then(|()| codec::decode_payload::<T>(&payload));
        self.scratch = payload;
        value.map(|v| (v, len))
    }

    /// Reads a payload of `len` bytes into `payload` as it comes (grown as the bytes arrive,
    /// so a lying header allocates nothing up front).
    fn read_payload(&mut self, payload: &mut Vec<u8>, len: usize) -> Result<()> {
        payload.clear();
        let mut have = 0;
        while have < len {
            let room = codec::payload_room(payload, have, len);
            have += self.read_some(room, have, len)?;
        }
        payload.truncate(len);
        Ok(())
    }

    /// Copies what is available (at least one byte, waiting for it) into `out`, consuming it;
    /// `have` bytes of a `len`-byte payload are in already.
    fn read_some(&mut self, out: &mut [u8], have: usize, len: usize) -> Result<usize> {
        self.wait_or_fail(1, HEADER_LEN + have, HEADER_LEN + len)?;
        let n = (self.available() as usize).min(out.len());
        self.copy_stream(0, &mut out[..n]);
        self.consume_stream(n);
        Ok(n)
    }

    /// Receives one message sent with `send_bytes` (or any message, as its bytes).
    pub fn recv_bytes(&mut self) -> Result<Vec<u8>> {
        let payload = self.with_claim(false, |end| {
            if let Some((payload, _)) = end.take_whole(|bytes| Ok(bytes.to_vec()))? {
                return Ok(payload);
            }
            let len = end.next_header()?;
            let mut payload = Vec::new();
            end.read_payload(&mut payload, len)?;
            Ok(payload)
        })?;
        self.count_received(payload.len());
        Ok(payload)
    }

    /// Receives one message into `buf` and returns its length, copying it once, from the ring
    /// into `buf`. A message longer than `buf` is an error that names both lengths; the
    /// message is consumed (as Python's `recv_bytes_into` raises and drops it).
    pub fn recv_bytes_into(&mut self, buf: &mut [u8]) -> Result<usize> {
        let len = self.with_claim(false, |end| end.recv_bytes_into_claimed(buf))?;
        self.count_received(len);
        Ok(len)
    }

    fn recv_bytes_into_claimed(&mut self, buf: &mut [u8]) -> Result<usize> {
        let room = buf.len();
        let fits = |bytes: &[u8]| -> Result<bool> {
            if bytes.len() <= room {
                buf[..bytes.len()].copy_from_slice(bytes);
                Ok(true)
            } else {
                Ok(false)
            }
        };
        // A message too long for `buf` is consumed here too, and refused below.
        if let Some((fitted, len)) = self.take_whole(fits)? {
            return if fitted {
                Ok(len)
            } else {
                Err(Error::buffer_too_short(format!(
                    "a message of {len} bytes does not fit in a buffer of {room}"
                )))
            };
        }
        let len = self.next_header()?;
        if len > buf.len() {
            // Drop the message, so the channel stays in step.
            let mut sink = vec![0u8; len.min(1 << 16)];
            let mut left = len;
            while left > 0 {
                let take = left.min(sink.len());
                left -= self.read_some(&mut sink[..take], len - left, len)?;
            }
            return Err(Error::buffer_too_short(format!(
                "a message of {len} bytes does not fit in a buffer of {}",
                buf.len()
            )));
        }
        let mut have = 0;
        while have < len {
            have += self.read_some(&mut buf[have..len], have, len)?;
        }
        Ok(len)
    }

    fn count_received(&mut self, payload: usize) {
        self.stats.messages_received += 1;
        self.stats.bytes_received += (HEADER_LEN + payload) as u64;
    }

    /// Whether a message (or the end of the channel) can be read now, waiting up to `timeout`
    /// for one (`None` waits for ever). Like Python's `Connection.poll`.
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool> {
        let deadline = timeout.map(|t| Instant::now() + t);
        Ok(match self.wait_stream(HEADER_LEN as u64, deadline)? {
            Waited::Ready | Waited::PeerGone => true,
            Waited::TimedOut => false,
        })
    }
}

/// A wait without a deadline cannot time out.
fn unreachable_timeout<T>() -> Result<T> {
    Err(Error::timeout())
}

/// Reads whatever bells are pending; whether the other end is gone (end of stream).
fn drain(bell: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match os::read_nonblocking(bell, &mut buf) {
            Ok(Some(0)) => return true,
            Ok(Some(_)) => continue,
            Ok(None) => return false,
            Err(_) => return true,
        }
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

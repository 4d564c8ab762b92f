//! `Pipe()` and `Connection`: typed messages over anonymous pipes.
//!
//! A [`Connection`] is one end of a channel between two processes. It sends and receives whole
//! values of any serde type as length-prefixed frames (see [`crate::codec`]). [`pipe`] gives a
//! duplex pair, built from two kernel pipes; [`pipe_oneway`] a receive-only and a send-only end
//! over one.
//!
//! A connection is handed to a child by putting it in the [`crate::Process`] arguments, exactly
//! as in Python. Its descriptors then travel to that child only: every descriptor this crate
//! creates is close-on-exec, so no other child (and no grandchild) holds a copy, and when the
//! child exits its ends close, which the other side sees as end of stream.
//!
//! # Deadlocks to know about
//! A kernel pipe buffers 64 KiB. `send` of a bigger message blocks until the other side reads,
//! so two processes that both `send` a large message to each other before either calls `recv`
//! wait for each other forever. Give each exchange a direction (request, then reply), or
//! receive on another thread. Likewise, `recv` blocks until a whole message arrives: use
//! [`Connection::poll`] or [`wait`] with a timeout to watch several connections or to give up.
//!
//! # End of stream
//! [`Connection::recv`] tells a clean end (the peer closed between messages:
//! [`Error::is_closed`]) from a message cut short (the peer died while writing:
//! [`Error::is_truncated`]).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::{self, HEADER_LEN};
use crate::error::{Error, Result};
use crate::handover;
use crate::os::{self, FdKind};
use crate::wait::Waitable;

/// Largest read buffer: one kernel pipe's worth, so one `read` can drain many small frames.
const READ_BUFFER: usize = 64 * 1024;

/// A new connection's read buffer: one page. It doubles up to [`READ_BUFFER`] when frames are
/// bigger or reads keep filling it, so a worker that exchanges a few small messages never
/// touches (and page-faults in) more memory than it needs.
const FIRST_READ_BUFFER: usize = 4 * 1024;

/// What a new pipe holds (Linux's default).
const DEFAULT_PIPE_ROOM: usize = 64 * 1024;

/// The most a connection grows its pipe to for large messages: Linux's default
/// `pipe-max-size`, which an unprivileged process may reach. Measured (ipc-bench, 1 MiB
/// messages): about 1.4 times the throughput of the default 64 KiB, for 1 MiB of kernel memory
/// per connection that sends such messages.
const GROWN_PIPE_ROOM: usize = 1 << 20;

/// Up to this size, `send_bytes` copies the bytes beside their header and writes once; past
/// it, one `writev` sends both from where they are.
const SMALL_SEND: usize = 4 * 1024;

/// Send buffers up to this size are kept for the next message; bigger ones are freed, so one
/// huge message does not pin its memory for the connection's life.
const KEEP_BUFFER: usize = 8 << 20;

/// One end of a channel between processes. See the [module docs](self).
///
/// Dropping a connection closes its descriptors; the peer then sees end of stream.
#[derive(Debug)]
pub struct Connection {
    reader: Option<OwnedFd>,
    writer: Option<OwnedFd>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    out: Vec<u8>,
    max_frame: usize,
    desynchronised: bool,
    stats: ConnectionStats,
    /// What the pipe we send on holds: the kernel's 64 KiB until a large message grows it.
    pipe_room: usize,
    /// A message `recv_bytes_into` could not fit in its buffer, kept for the next receive.
    kept: Option<Vec<u8>>,
    /// The last frame was too big for the read buffer: the next header is read alone, so a
    /// stream of large messages goes straight from the pipe into each payload instead of
    /// through the read buffer first.
    last_big: bool,
}

/// Counts of what one connection end moved, frame headers included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConnectionStats {
    /// Messages sent.
    pub messages_sent: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Bytes received.
    pub bytes_received: u64,
}

/// Creates a duplex pair of connections, like Python's `Pipe()`: what one sends the other
/// receives, in both directions. Built from two anonymous pipes, all four ends close-on-exec.
///
/// ```rust,standalone_crate
/// use multiproc::{Connection, Process};
///
/// /// Sums the numbers it is sent until the other end closes, then sends the total back.
/// fn adder(mut conn: Connection) -> multiproc::Result<()> {
///     let mut total = 0u64;
///     loop {
///         match conn.recv::<Option<u64>>()? {
///             Some(n) => total += n,
///             None => return conn.send(&total),
///         }
///     }
/// }
///
/// fn main() -> multiproc::Result<()> {
///     multiproc::init!(adder);
///     let (mut here, there) = multiproc::pipe()?;
///     let mut p = Process::new(adder, there); // `there` goes to the child alone
///     p.start()?;
///     for n in 1..=10u64 {
///         here.send(&Some(n))?;
///     }
///     here.send(&None::<u64>)?;
///     assert_eq!(here.recv::<u64>()?, 55);
///     assert_eq!(p.join()?, 0);
///     // The child has exited and its end is closed: end of stream, not a hang.
///     assert!(here.recv::<u64>().unwrap_err().is_closed());
///     Ok(())
/// }
/// ```
pub fn pipe() -> Result<(Connection, Connection)> {
    let (a_read, b_write) = os::pipe().map_err(|e| Error::io("cannot create a pipe", e))?;
    let (b_read, a_write) = os::pipe().map_err(|e| Error::io("cannot create a pipe", e))?;
    Ok((
        Connection::from_fds(Some(a_read), Some(a_write)),
        Connection::from_fds(Some(b_read), Some(b_write)),
    ))
}

/// Creates a one-way pair like Python's `Pipe(duplex=False)`: `(receiver, sender)`.
///
/// ```
/// let (mut rx, mut tx) = multiproc::pipe_oneway()?;
/// tx.send("hello")?;
/// assert_eq!(rx.recv::<String>()?, "hello");
/// assert!(rx.send(&1).is_err(), "the receiving end cannot send");
/// # Ok::<(), multiproc::Error>(())
/// ```
pub fn pipe_oneway() -> Result<(Connection, Connection)> {
    let (read, write) = os::pipe().map_err(|e| Error::io("cannot create a pipe", e))?;
    Ok((
        Connection::from_fds(Some(read), None),
        Connection::from_fds(None, Some(write)),
    ))
}

impl Connection {
    /// Wraps existing descriptors: `reader` to receive from, `writer` to send on. Either may be
    /// absent for a one-way end. The descriptors should be pipes (or anything stream-like)
    /// owned by nobody else.
    pub fn from_fds(reader: Option<OwnedFd>, writer: Option<OwnedFd>) -> Self {
        Connection {
            reader,
            writer,
            buf: Box::default(),
            start: 0,
            end: 0,
            out: Vec::new(),
            max_frame: codec::DEFAULT_MAX_FRAME,
            desynchronised: false,
            stats: ConnectionStats::default(),
            pipe_room: DEFAULT_PIPE_ROOM,
            kept: None,
            last_big: false,
        }
    }

    /// Before sending a frame of `frame` bytes: a frame bigger than the pipe holds is written
    /// in many rounds, each waking the reader to empty the pipe, so the pipe is grown (once,
    /// to at most [`GROWN_PIPE_ROOM`]) to hold it. Best effort: a kernel limit leaves it as
    /// it is, and it is not tried again.
    fn make_room(&mut self, frame: usize) {
        if frame <= self.pipe_room || self.pipe_room >= GROWN_PIPE_ROOM {
            return;
        }
        let Some(writer) = self.writer.as_ref() else {
            return;
        };
        self.pipe_room = match os::grow_pipe(
            writer.as_fd(),
            frame.next_power_of_two().min(GROWN_PIPE_ROOM),
        ) {
            Ok(room) => room,
            Err(_) => GROWN_PIPE_ROOM,
        };
    }

    /// Sets the largest message, in encoded bytes, this end will send or accept (default
    /// 256 MiB; at most 1 GiB). A bigger incoming frame is refused as soon as its header is
    /// read, before any allocation.
    pub fn set_max_frame(&mut self, bytes: usize) {
        self.max_frame = bytes.min(codec::MAX_FRAME_LIMIT);
    }

    /// The current frame limit in bytes.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Sends one value. Blocks while the pipe is full (see the module docs on deadlocks).
    /// Fails with a broken-pipe error ([`Error::is_disconnected`]) when the receiver is gone.
    pub fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        if self.writer.is_none() {
            return Err(Error::misuse("this connection end is receive-only"));
        }
        self.out.clear();
        codec::encode_frame(value, self.max_frame, &mut self.out)?;
        let frame = self.out.len();
        self.make_room(frame);
        let writer = self.writer.as_ref().expect("checked above");
        os::write_all(writer.as_fd(), &self.out).map_err(|e| Error::io("send failed", e))?;
        self.stats.messages_sent += 1;
        self.stats.bytes_sent += self.out.len() as u64;
        if self.out.capacity() > KEEP_BUFFER {
            // Do not keep a huge message's buffer alive for the connection's whole life.
            self.out = Vec::new();
        }
        Ok(())
    }

    /// Receives one value, blocking until a whole message has arrived.
    ///
    /// Errors: [`Error::is_closed`] when the peer closed between messages,
    /// [`Error::is_truncated`] when it stopped mid-message, [`Error::is_too_large`] for a frame
    /// over the limit (the connection is unusable afterwards), [`Error::is_codec`] when the
    /// bytes are not a `T`.
    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T> {
        match self.next_frame()? {
            Frame::Buffered { at, len } => codec::decode_payload(&self.buf[at..at + len]),
            Frame::Big { payload, len } => codec::decode_payload(&payload[..len]),
            Frame::Kept(message) => codec::decode_payload(&message),
        }
    }

    /// Sends `bytes` as one message, as they are, without the codec (Python's
    /// `send_bytes`): the frame's header and the bytes go out together in one `writev`,
    /// without being copied. The receiver takes it with [`Connection::recv_bytes`] or
    /// [`Connection::recv_bytes_into`] (a typed [`Connection::recv`] would try to decode it).
    ///
    /// ```
    /// let (mut a, mut b) = multiproc::pipe()?;
    /// a.send_bytes(b"raw bytes")?;
    /// assert_eq!(b.recv_bytes()?, b"raw bytes");
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        if self.writer.is_none() {
            return Err(Error::misuse("this connection end is receive-only"));
        }
        if bytes.len() > self.max_frame {
            return Err(Error::too_large(bytes.len() as u64, self.max_frame));
        }
        let header = (bytes.len() as u32).to_le_bytes();
        self.make_room(HEADER_LEN + bytes.len());
        let writer = self.writer.as_ref().expect("checked above");
        let sent = if bytes.len() <= SMALL_SEND {
            // A small message costs less copied beside its header than gathered by writev.
            self.out.clear();
            self.out.extend_from_slice(&header);
            self.out.extend_from_slice(bytes);
            os::write_all(writer.as_fd(), &self.out)
        } else {
            os::write_all_two(writer.as_fd(), &header, bytes)
        };
        sent.map_err(|e| Error::io("send failed", e))?;
        self.stats.messages_sent += 1;
        self.stats.bytes_sent += (HEADER_LEN + bytes.len()) as u64;
        Ok(())
    }

    /// Receives one message as its bytes, without the codec (Python's `recv_bytes`). Errors
    /// as for [`Connection::recv`], except that any bytes are a message.
    pub fn recv_bytes(&mut self) -> Result<Vec<u8>> {
        Ok(match self.next_frame()? {
            Frame::Buffered { at, len } => self.buf[at..at + len].to_vec(),
            // The large-frame buffer becomes the message: no copy.
            Frame::Big { mut payload, len } => {
                payload.truncate(len);
                payload
            }
            Frame::Kept(message) => message,
        })
    }

    /// The next message, whole, for a receive of any kind: the one kept by
    /// [`Connection::recv_bytes_into`] if any, else the next frame (counted, and the stream
    /// marked out of step if it is cut or oversized). A buffered payload stays valid until
    /// the next read.
    fn next_frame(&mut self) -> Result<Frame> {
        self.check_receivable()?;
        if let Some(kept) = self.kept.take() {
            return Ok(Frame::Kept(kept));
        }
        match self.recv_frame() {
            Ok(frame) => {
                match &frame {
                    Frame::Buffered { at, len } => {
                        self.count_received(*len);
                        self.start = at + len;
                    }
                    Frame::Big { len, .. } => self.count_received(*len),
                    Frame::Kept(_) => {}
                }
                Ok(frame)
            }
            Err(e) => {
                if !e.is_closed() {
                    self.desynchronised = true;
                }
                Err(e)
            }
        }
    }

    /// Receives one message into `buf` and returns its length (Python's `recv_bytes_into`):
    /// the bytes go straight from the pipe into `buf`, past what was already read ahead.
    ///
    /// A message longer than `buf` fails with [`crate::ErrorKind::BufferTooShort`]; it is not
    /// lost and the connection stays usable: the message is kept, and the next receive (a
    /// bigger buffer, [`Connection::recv_bytes`], or a typed [`Connection::recv`]) returns it.
    ///
    /// ```
    /// let (mut a, mut b) = multiproc::pipe()?;
    /// a.send_bytes(&[7u8; 100])?;
    /// let mut small = [0u8; 10];
    /// let err = b.recv_bytes_into(&mut small).unwrap_err();
    /// assert_eq!(err.kind(), multiproc::ErrorKind::BufferTooShort);
    /// let mut big = vec![0u8; 4096];
    /// assert_eq!(b.recv_bytes_into(&mut big)?, 100);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn recv_bytes_into(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.check_receivable()?;
        if let Some(kept) = self.kept.take() {
            if kept.len() > buf.len() {
                let len = kept.len();
                self.kept = Some(kept);
                return Err(too_short(len, buf.len()));
            }
            buf[..kept.len()].copy_from_slice(&kept);
            return Ok(kept.len());
        }
        let len = self.next_payload_len()?;
        if len > buf.len() {
            // Taken whole and kept, so the stream stays in step.
            let message = self.recv_bytes()?;
            self.kept = Some(message);
            return Err(too_short(len, buf.len()));
        }
        self.start += HEADER_LEN;
        let buffered = (self.end - self.start).min(len);
        buf[..buffered].copy_from_slice(&self.buf[self.start..self.start + buffered]);
        self.start += buffered;
        let mut have = buffered;
        while have < len {
            let reader = self.reader.as_ref().expect("checked above");
            let n = match os::read(reader.as_fd(), &mut buf[have..len]) {
                Ok(n) => n,
                Err(e) => {
                    self.desynchronised = true;
                    return Err(Error::io("recv failed", e));
                }
            };
            if n == 0 {
                self.desynchronised = true;
                return Err(Error::truncated(HEADER_LEN + len, HEADER_LEN + have));
            }
            have += n;
        }
        self.count_received(len);
        Ok(len)
    }

    /// The checks every receive makes first.
    fn check_receivable(&self) -> Result<()> {
        if self.desynchronised {
            return Err(Error::broken(
                None,
                "connection is out of step after an oversized or cut-short message",
            ));
        }
        if self.reader.is_none() {
            return Err(Error::misuse("this connection end is send-only"));
        }
        Ok(())
    }

    /// Whether a message (or end of stream) can be read now, waiting up to `timeout` for one
    /// (`None` waits for ever). Like Python's `Connection.poll`.
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool> {
        let reader = self
            .reader
            .as_ref()
            .ok_or_else(|| Error::misuse("this connection end is send-only"))?;
        if self.has_buffered() {
            return Ok(true);
        }
        let ready = os::wait_readable(&[reader.as_fd()], timeout)
            .map_err(|e| Error::io("poll failed", e))?;
        Ok(ready[0])
    }

    fn count_received(&mut self, payload: usize) {
        self.stats.messages_received += 1;
        self.stats.bytes_received += (HEADER_LEN + payload) as u64;
    }

    /// What this end has sent and received so far.
    pub fn stats(&self) -> ConnectionStats {
        self.stats
    }

    /// Closes both directions now, as dropping the connection would.
    pub fn close(&mut self) {
        self.reader = None;
        self.writer = None;
    }

    /// The descriptor this end receives on, for use in a `poll` loop of one's own.
    pub fn reader_fd(&self) -> Option<BorrowedFd<'_>> {
        self.reader.as_ref().map(|fd| fd.as_fd())
    }

    /// The descriptor this end sends on.
    pub fn writer_fd(&self) -> Option<BorrowedFd<'_>> {
        self.writer.as_ref().map(|fd| fd.as_fd())
    }

    /// Whether bytes already read from the pipe are waiting in this end's buffer.
    pub fn has_buffered(&self) -> bool {
        self.end > self.start || self.kept.is_some()
    }

    /// Buffers the next frame's header and returns the payload length it announces (checked
    /// against the limit; a length over it leaves the connection out of step). The header
    /// stays buffered, at `start`.
    fn next_payload_len(&mut self) -> Result<usize> {
        if self.buf.is_empty() {
            self.buf = vec![0; FIRST_READ_BUFFER].into_boxed_slice();
        }
        self.fill_header()?;
        let header: [u8; HEADER_LEN] = self.buf[self.start..self.start + HEADER_LEN]
            .try_into()
            .expect("slice of HEADER_LEN bytes");
        let len = codec::payload_len(header, self.max_frame).inspect_err(|_| {
            self.desynchronised = true;
        })?;
        self.last_big = HEADER_LEN + len > READ_BUFFER;
        Ok(len)
    }

    fn recv_frame(&mut self) -> Result<Frame> {
        let len = self.next_payload_len()?;
        if HEADER_LEN + len <= READ_BUFFER {
            self.grow_buffer(HEADER_LEN + len);
            self.fill_at_least(HEADER_LEN + len)?;
            self.start += HEADER_LEN;
            return Ok(Frame::Buffered {
                at: self.start,
                len,
            });
        }
        // A frame bigger than the buffer: take what is buffered, then read the rest straight
        // into a new payload, allocated (and so touched) just before the kernel copies into
        // it. Measured (ipc-bench, 1 MiB messages, AMD EPYC): a large buffer kept
        // from the last message, out of cache by the time the next one arrives, made typed
        // receives about 1.6 times as slow as a new one grown this way; the decoded value
        // needs memory of its own anyway.
        self.start += HEADER_LEN;
        let buffered = (self.end - self.start).min(len);
        let mut payload = Vec::new();
        let mut have = 0;
        while have < buffered {
            let room = codec::payload_room(&mut payload, have, len);
            let n = room.len().min(buffered - have);
            room[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
            self.start += n;
            have += n;
        }
        let reader = self.reader.as_ref().expect("checked by recv");
        while have < len {
            let room = codec::payload_room(&mut payload, have, len);
            let n = os::read(reader.as_fd(), room).map_err(|e| Error::io("recv failed", e))?;
            if n == 0 {
                return Err(Error::truncated(HEADER_LEN + len, HEADER_LEN + have));
            }
            have += n;
        }
        Ok(Frame::Big { payload, len })
    }

    /// Makes the buffer hold at least `want` bytes (at most [`READ_BUFFER`]), keeping what it
    /// holds.
    fn grow_buffer(&mut self, want: usize) {
        if want <= self.buf.len() {
            return;
        }
        let mut bigger = vec![0; want.next_power_of_two().min(READ_BUFFER)].into_boxed_slice();
        let held = self.end - self.start;
        bigger[..held].copy_from_slice(&self.buf[self.start..self.end]);
        self.buf = bigger;
        self.start = 0;
        self.end = held;
    }

    /// Reads until at least `want` bytes (at most the buffer's size) are buffered from `start`.
    /// End of stream with nothing buffered is a clean close; with part of a frame, a cut.
    /// Buffers the next frame's header: with read-ahead after small frames (one `read` may
    /// bring several), alone after a large one (see `last_big`).
    fn fill_header(&mut self) -> Result<()> {
        if !self.last_big || self.end > self.start {
            return self.fill_at_least(HEADER_LEN);
        }
        self.start = 0;
        self.end = 0;
        let reader = self.reader.as_ref().expect("checked by recv");
        while self.end < HEADER_LEN {
            let n = os::read(reader.as_fd(), &mut self.buf[self.end..HEADER_LEN])
                .map_err(|e| Error::io("recv failed", e))?;
            if n == 0 {
                return Err(if self.end == 0 {
                    Error::closed()
                } else {
                    Error::truncated(HEADER_LEN, self.end)
                });
            }
            self.end += n;
        }
        Ok(())
    }

    fn fill_at_least(&mut self, want: usize) -> Result<()> {
        if self.end - self.start >= want {
            return Ok(());
        }
        if self.start + want > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end - self.start < want {
            let reader = self.reader.as_ref().expect("checked by recv");
            let n = os::read(reader.as_fd(), &mut self.buf[self.end..])
                .map_err(|e| Error::io("recv failed", e))?;
            if n == 0 {
                let have = self.end - self.start;
                if have == 0 {
                    return Err(Error::closed());
                }
                let expected = if have >= HEADER_LEN { want } else { HEADER_LEN };
                return Err(Error::truncated(expected, have));
            }
            self.end += n;
            if self.end == self.buf.len() && self.buf.len() < READ_BUFFER {
                // Reads fill the buffer: the peer sends faster than we drain, so read more
                // at a time.
                self.grow_buffer(2 * self.buf.len());
            }
        }
        Ok(())
    }
}

enum Frame {
    /// The payload is `buf[at..at + len]`.
    Buffered { at: usize, len: usize },
    /// The payload was too big for the buffer: it is `payload[..len]`, read into the
    /// connection's large-frame buffer (handed back after decoding).
    Big { payload: Vec<u8>, len: usize },
    /// A message received earlier and kept (counted then).
    Kept(Vec<u8>),
}

/// The error for a message of `len` bytes and a buffer of `room`.
fn too_short(len: usize, room: usize) -> Error {
    Error::buffer_too_short(format!(
        "the message is {len} bytes and the buffer only {room}; it is kept for the next receive"
    ))
}

impl Waitable for Connection {
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        self.reader_fd()
    }
    fn ready_now(&self) -> bool {
        self.has_buffered()
    }
}

/// How a connection travels inside a process's arguments: indices into the list of descriptors
/// handed to that child, never raw descriptor numbers.
#[derive(Serialize, Deserialize)]
struct HandedConnection {
    reader: Option<u32>,
    writer: Option<u32>,
    max_frame: u64,
}

impl Serialize for Connection {
    /// Only possible while a [`crate::Process`] is packing its arguments: the descriptors are
    /// duplicated for that child alone. Anywhere else this fails with a clear message.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        if self.has_buffered() {
            return Err(S::Error::custom(
                "a Connection that has already read ahead cannot be handed to a child",
            ));
        }
        let export = |fd: &Option<OwnedFd>, end| -> std::result::Result<Option<u32>, S::Error> {
            fd.as_ref()
                .map(|fd| handover::export(fd.as_fd(), end))
                .transpose()
                .map_err(S::Error::custom)
        };
        HandedConnection {
            reader: export(&self.reader, FdKind::Read)?,
            writer: export(&self.writer, FdKind::Write)?,
            max_frame: self.max_frame as u64,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Connection {
    /// Only possible in a worker unpacking its arguments: takes ownership of the descriptors
    /// its parent handed it.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let wire = HandedConnection::deserialize(deserializer)?;
        let import = |slot: Option<u32>, end| {
            slot.map(|i| handover::import(i, end))
                .transpose()
                .map_err(D::Error::custom)
        };
        let mut conn = Connection::from_fds(
            import(wire.reader, FdKind::Read)?,
            import(wire.writer, FdKind::Write)?,
        );
        conn.set_max_frame(usize::try_from(wire.max_frame).unwrap_or(usize::MAX));
        Ok(conn)
    }
}

/// Python's `multiprocessing.connection.wait`, under its own name.
pub use crate::wait::wait;

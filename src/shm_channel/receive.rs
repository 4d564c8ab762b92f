//! Receiving on a shared-memory channel. The incoming stream is `inbound[inbound_at..]`
//! (bytes taken aside while sending), then the incoming ring; a whole message lying in the
//! ring in one piece is decoded where it lies.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::ShmConnection;
use super::wait::{Waited, unreachable_timeout};
use crate::codec::{self, HEADER_LEN};
use crate::error::{Error, Result};

impl ShmConnection {
    //
    // The incoming stream is `inbound[inbound_at..]` (bytes taken aside while sending), then
    // the incoming ring.

    /// Bytes in the incoming ring.
    pub(super) fn ring_available(&self) -> u64 {
        self.ring_available_at_least(u64::MAX)
    }

    /// Bytes in the incoming ring, reading the writer's head only when the last one seen
    /// shows fewer than `need`.
    pub(super) fn ring_available_at_least(&self, need: u64) -> u64 {
        let tail = self.inn().tail.value.load(Ordering::Relaxed);
        let have = self.head_seen.get().saturating_sub(tail);
        if have >= need {
            return have;
        }
        self.head_seen
            .set(self.inn().head.value.load(Ordering::Acquire));
        self.head_seen.get() - tail
    }

    pub(super) fn aside(&self) -> usize {
        self.inbound.len() - self.inbound_at
    }

    /// Bytes of the incoming stream readable now.
    pub(super) fn available(&self) -> u64 {
        self.aside() as u64 + self.ring_available()
    }

    /// Waits until `need` bytes of the stream can be read.
    pub(super) fn wait_stream(&self, need: u64, deadline: Option<Instant>) -> Result<Waited> {
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
    pub(super) fn consume(&self, n: u64) {
        let dir = self.inn();
        let tail = dir.tail.value.load(Ordering::Relaxed);
        dir.tail.value.store(tail + n, Ordering::SeqCst);
        self.ring_if(&dir.seldom.writer_waiting);
    }

    /// Consumes `n` bytes of the stream (taken aside first, then the ring).
    pub(super) fn consume_stream(&mut self, n: usize) {
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
    pub(super) fn copy_from_ring(&self, skip: u64, out: &mut [u8]) {
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
    pub(super) fn copy_stream(&self, skip: usize, out: &mut [u8]) {
        let aside = &self.inbound[self.inbound_at..];
        let from_aside = aside.len().saturating_sub(skip).min(out.len());
        if from_aside > 0 {
            out[..from_aside].copy_from_slice(&aside[skip..skip + from_aside]);
        }
        let ring_skip = skip.saturating_sub(aside.len());
        self.copy_from_ring(ring_skip as u64, &mut out[from_aside..]);
    }

    /// The other end went away in the middle of something, or between messages.
    pub(super) fn peer_gone_while(&self, doing: &str, done: usize, total: usize) -> Error {
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
    pub(super) fn wait_or_fail(&self, need: u64, have: usize, total: usize) -> Result<()> {
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
    pub(super) fn next_header(&mut self) -> Result<usize> {
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
    pub(super) fn take_whole<R>(
        &self,
        f: impl FnOnce(&[u8]) -> Result<R>,
    ) -> Result<Option<(R, usize)>> {
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

    pub(super) fn recv_claimed<T: DeserializeOwned>(&mut self) -> Result<(T, usize)> {
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
    pub(super) fn read_payload(&mut self, payload: &mut Vec<u8>, len: usize) -> Result<()> {
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
    pub(super) fn read_some(&mut self, out: &mut [u8], have: usize, len: usize) -> Result<usize> {
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

    pub(super) fn recv_bytes_into_claimed(&mut self, buf: &mut [u8]) -> Result<usize> {
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

    pub(super) fn count_received(&mut self, payload: usize) {
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

//! Sending on a shared-memory channel: who owns a side, room in the ring, a frame written
//! in one piece or streamed through it, and bytes taken aside while waiting for room.

use std::sync::atomic::Ordering;

use serde::Serialize;

use super::wait::{Waited, unreachable_timeout};
use super::{PUBLISH_EVERY, ShmConnection};
use crate::codec::{self, HEADER_LEN};
use crate::error::{Error, Result};

impl ShmConnection {
    /// Runs `f` once this process owns this end's sending (or receiving) side: two
    /// processes using the same end at once would interleave their bytes, so the second is
    /// refused, naming the first. The side stays this process's until the end is dropped or
    /// handed to a child, so this is one load per message.
    pub(super) fn with_claim<R>(
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
    pub(super) fn disown(&self) {
        for slot in [&self.out().seldom.sender, &self.inn().seldom.receiver] {
            let _ = slot.compare_exchange(self.me, 0, Ordering::Release, Ordering::Relaxed);
        }
    }

    /// Room in the outgoing ring for a writer at `head`, reading the reader's tail only when
    /// the last one seen leaves less than `need`.
    pub(super) fn room(&self, head: u64, need: u64) -> u64 {
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

    pub(super) fn send_claimed<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<usize> {
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
    pub(super) fn put_whole(&self, bytes: &[u8]) -> bool {
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

    pub(super) fn count_sent(&mut self, payload: usize) {
        self.stats.messages_sent += 1;
        self.stats.bytes_sent += (HEADER_LEN + payload) as u64;
    }

    /// Makes the bytes up to `head` visible to the reader, and wakes it if it sleeps.
    pub(super) fn publish(&self, head: u64) {
        let dir = self.out();
        dir.head.value.store(head, Ordering::SeqCst);
        self.ring_if(&dir.seldom.reader_waiting);
    }

    pub(super) fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.write_parts(&[bytes])
    }

    /// Writes `parts` one after the other into the ring, waiting for room as needed and
    /// publishing as it goes when they do not fit at once. While it waits, what the other end
    /// sends meanwhile is taken aside, so both can send large messages at once.
    pub(super) fn write_parts(&mut self, parts: &[&[u8]]) -> Result<()> {
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
    pub(super) fn take_aside(&mut self) {
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
}

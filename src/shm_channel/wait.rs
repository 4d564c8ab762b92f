//! Waiting on a shared-memory channel: a short spin on the ring, then sleep on the end's bell
//! socket with a flag raised so the other side rings; a hang-up on the bell is the other end's
//! death.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use super::ShmConnection;
use crate::error::{Error, Result};
use crate::os;

/// How a wait ended.
pub(super) enum Waited {
    Ready,
    TimedOut,
    PeerGone,
}

impl ShmConnection {
    /// Waits until `ready()` holds: a short spin, then sleeps on the bell with `flag` raised so
    /// the other side rings. Ends early when the other end is gone or `deadline` passes.
    pub(super) fn wait_for(
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
    pub(super) fn ring_if(&self, flag: &AtomicU32) {
        if flag.load(Ordering::SeqCst) != 0
            && let Some(bell) = &self.bell
        {
            os::ring(bell.as_fd());
        }
    }
}

/// A wait without a deadline cannot time out.
pub(super) fn unreachable_timeout<T>() -> Result<T> {
    Err(Error::timeout())
}

/// Reads whatever bells are pending; whether the other end is gone (end of stream).
pub(super) fn drain(bell: BorrowedFd<'_>) -> bool {
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

//! The crate's one error type.
//!
//! [`Error`] is a struct with a private kind, in the manner of `std::io::Error`: callers ask it
//! questions (`is_closed()`, `is_timeout()`, ...) instead of matching on variants, so new kinds
//! can be added without breaking anyone. Every message names what failed and why, in words a
//! student can act on.

use std::fmt;
use std::io;

/// A specialised `Result` for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from the process runtime: spawning, talking to or waiting for a process.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// The other end closed the connection at a frame boundary (Python's `EOFError`).
    Closed,
    /// The stream ended in the middle of a frame: the peer died or closed mid-message.
    Truncated { expected: usize, received: usize },
    /// A frame larger than the connection's limit, on either side.
    TooLarge { len: u64, max: usize },
    /// A timed operation ran out of time.
    Timeout,
    /// A value could not be encoded.
    Encode(String),
    /// A frame's bytes do not decode to the requested type.
    Decode(String),
    /// The object is not in a state that allows the call (starting twice, joining unstarted).
    State(String),
    /// An operating-system call failed.
    Io { context: String, source: io::Error },
}

impl Error {
    pub(crate) fn closed() -> Self {
        Error { kind: Kind::Closed }
    }
    pub(crate) fn truncated(expected: usize, received: usize) -> Self {
        Error {
            kind: Kind::Truncated { expected, received },
        }
    }
    pub(crate) fn too_large(len: u64, max: usize) -> Self {
        Error {
            kind: Kind::TooLarge { len, max },
        }
    }
    pub(crate) fn encode(msg: impl fmt::Display) -> Self {
        Error {
            kind: Kind::Encode(msg.to_string()),
        }
    }
    pub(crate) fn decode(msg: impl fmt::Display) -> Self {
        Error {
            kind: Kind::Decode(msg.to_string()),
        }
    }
    pub(crate) fn timeout() -> Self {
        Error {
            kind: Kind::Timeout,
        }
    }
    pub(crate) fn state(msg: impl Into<String>) -> Self {
        Error {
            kind: Kind::State(msg.into()),
        }
    }
    pub(crate) fn io(context: impl Into<String>, source: impl Into<io::Error>) -> Self {
        Error {
            kind: Kind::Io {
                context: context.into(),
                source: source.into(),
            },
        }
    }

    /// The peer closed its end cleanly: no more messages will come (Python's `EOFError`).
    pub fn is_closed(&self) -> bool {
        matches!(self.kind, Kind::Closed)
    }
    /// The stream ended part-way through a frame: the sender died or closed mid-message.
    pub fn is_truncated(&self) -> bool {
        matches!(self.kind, Kind::Truncated { .. })
    }
    /// A frame was over the connection's size limit (see [`crate::Connection::set_max_frame`]).
    pub fn is_too_large(&self) -> bool {
        matches!(self.kind, Kind::TooLarge { .. })
    }
    /// A frame did not decode as the type asked for, or a value could not be encoded.
    pub fn is_codec(&self) -> bool {
        matches!(self.kind, Kind::Decode(_) | Kind::Encode(_))
    }
    /// A call with a timeout ran out of time (nothing was taken or put).
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, Kind::Timeout)
    }
    /// The peer is gone: a clean close, a frame cut short, or a write to a closed pipe.
    pub fn is_disconnected(&self) -> bool {
        match &self.kind {
            Kind::Closed | Kind::Truncated { .. } => true,
            Kind::Io { source, .. } => source.kind() == io::ErrorKind::BrokenPipe,
            _ => false,
        }
    }
    /// The underlying operating-system error, if this error came from one.
    pub fn io_error(&self) -> Option<&io::Error> {
        match &self.kind {
            Kind::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Closed => write!(f, "connection closed by the other end"),
            Kind::Truncated { expected, received } => write!(
                f,
                "connection closed in the middle of a message ({received} of {expected} bytes received)"
            ),
            Kind::TooLarge { len, max } => write!(
                f,
                "message of {len} bytes is over the connection's limit of {max} bytes"
            ),
            Kind::Timeout => write!(f, "timed out"),
            Kind::Encode(msg) => write!(f, "cannot encode message: {msg}"),
            Kind::Decode(msg) => write!(f, "cannot decode message: {msg}"),
            Kind::State(msg) => write!(f, "{msg}"),
            Kind::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

//! The runtime's one error type, [`Error`], and the [`ErrorKind`] to match on.
//!
//! [`Error`] is a struct with a private representation, in the manner of `std::io::Error`:
//! callers match on [`Error::kind`] or ask it questions (`is_closed()`, `is_timeout()`, ...),
//! and new kinds can be added without breaking anyone (the kind enum is `#[non_exhaustive]`).
//! Every message names what failed and why, in words a student can act on.

use std::fmt;
use std::io;

/// A specialised `Result` for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in categories a caller can act on. See [`Error::kind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The other end closed cleanly, between messages (Python's `EOFError`); or a queue is
    /// empty and no other live process holds it.
    Closed,
    /// A stream ended in the middle of a message: its sender died or closed mid-message.
    Truncated,
    /// A message over the size limit, on either side.
    TooLarge,
    /// A call with a timeout ran out of time; nothing was taken or put.
    Timeout,
    /// A value could not be encoded, or a message's bytes are not the type asked for.
    Codec,
    /// The call is not allowed in the object's state: starting a process twice, joining one
    /// never started, receiving on a send-only end, using a closed handle, starting a process
    /// before [`crate::init()`] ran.
    Misuse,
    /// An argument out of its range (a queue bound of 0, say).
    InvalidArgument,
    /// A shared object was left broken by a process that died in the middle of using it (see
    /// [`Error::broken_by`]); or a connection is out of step after a message cut short.
    Broken,
    /// Waiting is pointless: no other live process holds the object any more (a full queue
    /// nobody else can take from).
    Orphaned,
    /// A child process could not be started, or died before it read its start-up message.
    StartFailed,
    /// A fixed limit of the runtime, or a limit of the system (open descriptors, processes
    /// per user), was reached; the message names it and the `ulimit` concerned.
    LimitReached,
    /// An operating-system call failed; [`Error::io_error`] has it.
    Io,
    /// A message was longer than the buffer given to [`crate::Connection::recv_bytes_into`]
    /// (Python's `BufferTooShort`); the message is kept for the next receive.
    BufferTooShort,
}

/// An error from the process runtime: spawning, talking to or waiting for a process.
pub struct Error {
    repr: Repr,
}

#[derive(Debug)]
enum Repr {
    Closed,
    Truncated {
        expected: usize,
        received: usize,
    },
    TooLarge {
        len: u64,
        max: usize,
    },
    Timeout,
    Encode(String),
    Decode(String),
    Message(ErrorKind, String),
    Shortfall(Shortfall),
    Broken {
        pid: Option<u32>,
        message: String,
    },
    Io {
        context: String,
        source: io::Error,
        /// When the failure is a system limit reached: which.
        limit: Option<SystemLimit>,
    },
}

impl Error {
    pub(crate) fn closed() -> Self {
        Error { repr: Repr::Closed }
    }
    pub(crate) fn truncated(expected: usize, received: usize) -> Self {
        Error {
            repr: Repr::Truncated { expected, received },
        }
    }
    pub(crate) fn too_large(len: u64, max: usize) -> Self {
        Error {
            repr: Repr::TooLarge { len, max },
        }
    }
    pub(crate) fn encode(msg: impl fmt::Display) -> Self {
        Error {
            repr: Repr::Encode(msg.to_string()),
        }
    }
    pub(crate) fn decode(msg: impl fmt::Display) -> Self {
        Error {
            repr: Repr::Decode(msg.to_string()),
        }
    }
    pub(crate) fn timeout() -> Self {
        Error {
            repr: Repr::Timeout,
        }
    }
    fn message(kind: ErrorKind, msg: impl Into<String>) -> Self {
        Error {
            repr: Repr::Message(kind, msg.into()),
        }
    }
    /// What an encoding or decoding error says, without the "cannot encode message" before
    /// it (for a caller that words the context itself); other errors whole.
    pub(crate) fn codec_detail(&self) -> String {
        match &self.repr {
            Repr::Encode(msg) | Repr::Decode(msg) => msg.clone(),
            _ => self.to_string(),
        }
    }
    pub(crate) fn buffer_too_short(msg: impl Into<String>) -> Self {
        Self::message(ErrorKind::BufferTooShort, msg)
    }
    pub(crate) fn codec(msg: impl Into<String>) -> Self {
        Self::message(ErrorKind::Codec, msg)
    }
    pub(crate) fn misuse(msg: impl Into<String>) -> Self {
        Self::message(ErrorKind::Misuse, msg)
    }
    pub(crate) fn invalid_argument(msg: impl Into<String>) -> Self {
        Self::message(ErrorKind::InvalidArgument, msg)
    }
    pub(crate) fn orphaned(msg: impl Into<String>) -> Self {
        Self::message(ErrorKind::Orphaned, msg)
    }
    pub(crate) fn start_failed(msg: impl Into<String>) -> Self {
        Self::message(ErrorKind::StartFailed, msg)
    }
    pub(crate) fn short_of(s: Shortfall) -> Self {
        Error {
            repr: Repr::Shortfall(s),
        }
    }

    /// When a limit checked before starting workers would be passed ([`crate::limits`]): which
    /// one, and the numbers, for a caller that says it in its own words (the error's `Display`
    /// says it in English).
    pub fn shortfall(&self) -> Option<&Shortfall> {
        match &self.repr {
            Repr::Shortfall(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn limit_reached(msg: impl Into<String>) -> Self {
        Self::message(ErrorKind::LimitReached, msg)
    }
    /// Broken by process `pid` (when known) dying in the middle of an operation.
    pub(crate) fn broken(pid: Option<u32>, msg: impl Into<String>) -> Self {
        Error {
            repr: Repr::Broken {
                pid,
                message: msg.into(),
            },
        }
    }
    pub(crate) fn io(context: impl Into<String>, source: impl Into<io::Error>) -> Self {
        let source = source.into();
        let limit = match source.raw_os_error() {
            Some(libc::EMFILE) => Some(SystemLimit::OpenDescriptors {
                limit: crate::os::descriptor_limits().ok().map(|(soft, _)| soft),
            }),
            Some(libc::ENFILE) => Some(SystemLimit::SystemFiles),
            _ => None,
        };
        Error {
            repr: Repr::Io {
                context: context.into(),
                source,
                limit,
            },
        }
    }

    /// An error starting a process: as [`Error::io`], and `EAGAIN` there means the limit on
    /// processes.
    pub(crate) fn io_starting(context: impl Into<String>, source: io::Error) -> Self {
        let mut e = Self::io(context, source);
        if let Repr::Io { source, limit, .. } = &mut e.repr
            && source.raw_os_error() == Some(libc::EAGAIN)
        {
            *limit = Some(SystemLimit::Processes {
                limit: crate::os::process_limit(),
            });
        }
        e
    }

    /// What kind of error this is.
    ///
    /// ```
    /// use multiproc::{ErrorKind, Queue};
    ///
    /// let queue: Queue<u32> = Queue::new()?;
    /// let err = queue.get_timeout(std::time::Duration::from_millis(1)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Timeout);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match &self.repr {
            Repr::Shortfall(_) => ErrorKind::LimitReached,
            Repr::Closed => ErrorKind::Closed,
            Repr::Truncated { .. } => ErrorKind::Truncated,
            Repr::TooLarge { .. } => ErrorKind::TooLarge,
            Repr::Timeout => ErrorKind::Timeout,
            Repr::Encode(_) | Repr::Decode(_) => ErrorKind::Codec,
            Repr::Message(kind, _) => *kind,
            Repr::Broken { .. } => ErrorKind::Broken,
            Repr::Io { limit: Some(_), .. } => ErrorKind::LimitReached,
            Repr::Io { .. } => ErrorKind::Io,
        }
    }

    /// The peer closed its end cleanly: no more messages will come (Python's `EOFError`).
    pub fn is_closed(&self) -> bool {
        self.kind() == ErrorKind::Closed
    }
    /// The stream ended part-way through a frame: the sender died or closed mid-message.
    pub fn is_truncated(&self) -> bool {
        self.kind() == ErrorKind::Truncated
    }
    /// A frame was over the connection's size limit (see [`crate::Connection::set_max_frame`]).
    pub fn is_too_large(&self) -> bool {
        self.kind() == ErrorKind::TooLarge
    }
    /// A frame did not decode as the type asked for, or a value could not be encoded.
    pub fn is_codec(&self) -> bool {
        self.kind() == ErrorKind::Codec
    }
    /// A call with a timeout ran out of time (nothing was taken or put).
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }
    /// A shared object was broken by a process dying in the middle of using it.
    pub fn is_broken(&self) -> bool {
        self.kind() == ErrorKind::Broken
    }
    /// The peer is gone: a clean close, a frame cut short, or a write to a closed pipe.
    pub fn is_disconnected(&self) -> bool {
        match &self.repr {
            Repr::Closed | Repr::Truncated { .. } => true,
            Repr::Io { source, .. } => source.kind() == io::ErrorKind::BrokenPipe,
            _ => false,
        }
    }
    /// The pid of the process whose death broke a shared object, when known.
    pub fn broken_by(&self) -> Option<u32> {
        match &self.repr {
            Repr::Broken { pid, .. } => *pid,
            _ => None,
        }
    }
    /// Which system limit was reached, when this error says one was (`EMFILE`, `ENFILE`, or
    /// `EAGAIN` starting a process): for a caller that says it in its own words.
    pub fn system_limit(&self) -> Option<SystemLimit> {
        match &self.repr {
            Repr::Io { limit, .. } => *limit,
            _ => None,
        }
    }
    /// A frame over the size limit: its length and the limit.
    pub fn over_limit(&self) -> Option<(u64, usize)> {
        match &self.repr {
            Repr::TooLarge { len, max } => Some((*len, *max)),
            _ => None,
        }
    }
    /// A message cut short: the bytes received and the bytes it should have had.
    pub fn cut_short(&self) -> Option<(usize, usize)> {
        match &self.repr {
            Repr::Truncated { expected, received } => Some((*received, *expected)),
            _ => None,
        }
    }
    /// What the codec said about bytes it could not decode or a value it could not encode
    /// (its own words), for an error of kind [`ErrorKind::Codec`] that came from it.
    pub fn codec_words(&self) -> Option<&str> {
        match &self.repr {
            Repr::Encode(msg) | Repr::Decode(msg) => Some(msg),
            _ => None,
        }
    }
    /// The underlying operating-system error, if this error came from one.
    pub fn io_error(&self) -> Option<&io::Error> {
        match &self.repr {
            Repr::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A system limit that an operation ran into ([`Error::system_limit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SystemLimit {
    /// This process's open descriptors (`EMFILE`, `ulimit -n`), with the limit when known.
    OpenDescriptors {
        /// The soft limit.
        limit: Option<u64>,
    },
    /// The whole system's open files (`ENFILE`, `fs.file-max`).
    SystemFiles,
    /// This user's processes (`EAGAIN` from starting one, `ulimit -u`), with the limit when
    /// there is one; without, the system's own (`kernel.pid_max`, `kernel.threads-max`).
    Processes {
        /// The limit.
        limit: Option<u64>,
    },
}

impl fmt::Display for SystemLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SystemLimit::OpenDescriptors { limit: Some(n) } => write!(
                f,
                "this process reached its limit of {n} open descriptors, ulimit -n"
            ),
            SystemLimit::OpenDescriptors { limit: None } => write!(
                f,
                "this process reached its limit on open descriptors, ulimit -n"
            ),
            SystemLimit::SystemFiles => write!(
                f,
                "the whole system reached its limit on open files (fs.file-max)"
            ),
            SystemLimit::Processes { limit: Some(n) } => {
                write!(f, "this user reached its limit of {n} processes, ulimit -u")
            }
            SystemLimit::Processes { limit: None } => write!(
                f,
                "the system could not make another process (ulimit -u, or kernel.pid_max / \
                 kernel.threads-max)"
            ),
        }
    }
}

/// A limit that starting more processes would pass, with its numbers: what
/// [`crate::limits::ensure_descriptors`] and [`crate::limits::ensure_processes`] refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Shortfall {
    /// Open descriptors (`ulimit -n`).
    Descriptors {
        /// About how many would be open.
        needed: u64,
        /// How many are open now.
        open: u64,
        /// How many more were asked for.
        more: u64,
        /// The soft limit.
        soft: u64,
        /// The hard limit, which this process cannot pass.
        hard: u64,
    },
    /// Processes and threads of this user (`ulimit -u`).
    Processes {
        /// How many more were asked for.
        more: u64,
        /// The limit.
        limit: u64,
        /// How many this user runs already.
        running: u64,
    },
}

impl fmt::Display for Shortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shortfall::Descriptors {
                needed,
                open,
                more,
                soft,
                hard,
            } => write!(
                f,
                "this needs about {needed} open descriptors ({open} open now, {more} more), but \
                 the limit is {soft} (ulimit -n) and its hard limit {hard} cannot be passed by \
                 this process: start fewer processes, or raise the hard limit first (as root: \
                 ulimit -Hn {needed})"
            ),
            Shortfall::Processes {
                more,
                limit,
                running,
            } => write!(
                f,
                "{more} more processes and threads would pass the limit of {limit} for this user \
                 (ulimit -u), who runs {running} already: start fewer, or allow more (ulimit -u {})",
                running + more
            ),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Closed => write!(f, "connection closed by the other end"),
            Repr::Truncated { expected, received } => write!(
                f,
                "connection closed in the middle of a message ({received} of {expected} bytes received)"
            ),
            Repr::TooLarge { len, max } => write!(
                f,
                "message of {len} bytes is over the connection's limit of {max} bytes"
            ),
            Repr::Timeout => write!(f, "timed out"),
            Repr::Encode(msg) => write!(f, "cannot encode message: {msg}"),
            Repr::Decode(msg) => write!(f, "cannot decode message: {msg}"),
            Repr::Message(_, msg) | Repr::Broken { message: msg, .. } => write!(f, "{msg}"),
            Repr::Shortfall(s) => write!(f, "{s}"),
            Repr::Io {
                context,
                source,
                limit: None,
            } => write!(f, "{context}: {source}"),
            Repr::Io {
                context,
                source,
                limit: Some(limit),
            } => write!(f, "{context}: {source}: {limit}"),
        }
    }
}

impl fmt::Debug for Error {
    /// The kind and the message (what `main` returning `Err` prints).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind())
            .field("message", &self.to_string())
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.repr {
            Repr::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

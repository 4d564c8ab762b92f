//! What travels between a pool and its workers, and what runs in a worker: a chunk of inputs
//! goes out with the task function's place in the program's table of targets
//! ([`mod@crate::targets`]) and how to run it; the chunk's results (each the value, or the task's
//! error) come back.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec;
use crate::connection::Connection;
use crate::targets::{self, Failure, Shape, call_catching};

/// Why one task of a pool did not give a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked: the message and, when known, `file:line:column`.
    Panicked {
        /// The panic's message.
        message: String,
        /// Where it panicked.
        location: Option<String>,
    },
    /// The task returned `Err` (the `try_` methods): the error's message.
    Failed(String),
    /// The worker running the task died (killed, crashed or exited) before finishing it.
    WorkerDied {
        /// The worker's pid.
        pid: u32,
        /// How it ended: `was killed by signal 9 (SIGKILL)`, `exited with status 3`.
        how: String,
        /// Its exit code (a signal as its negative), when it could be reaped.
        exitcode: Option<i32>,
    },
    /// The task ran past the pool's task timeout (or an `AsyncResult::get` timeout); its
    /// worker was killed and replaced.
    TimedOut {
        /// The worker's pid.
        pid: u32,
        /// Milliseconds it had run.
        after_ms: u64,
    },
    /// The pool was terminated (or the result given up on) before the task ran.
    Cancelled,
    /// The task's input or result could not be carried (encoding, decoding).
    Codec(String),
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked {
                message,
                location: Some(at),
            } => write!(f, "the task panicked at {at}: {message}"),
            TaskError::Panicked { message, .. } => write!(f, "the task panicked: {message}"),
            TaskError::Failed(msg) => write!(f, "the task returned an error: {msg}"),
            TaskError::WorkerDied { pid, how, .. } => {
                write!(f, "its worker (pid {pid}) {how} in the middle of the task")
            }
            TaskError::TimedOut { pid, after_ms } => write!(
                f,
                "the task timed out after {after_ms} ms; its worker (pid {pid}) was killed and replaced"
            ),
            TaskError::Cancelled => write!(f, "the task was cancelled (the pool was terminated)"),
            TaskError::Codec(msg) => write!(f, "the task's data could not be carried: {msg}"),
        }
    }
}

impl std::error::Error for TaskError {}

impl From<Failure> for TaskError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Panic { message, location } => TaskError::Panicked { message, location },
            Failure::Error(msg) => TaskError::Failed(msg),
            Failure::BadArguments(msg) => TaskError::Codec(msg),
        }
    }
}

/// Encoded bytes, carried as one byte string (not byte by byte).
#[derive(Debug, Default, Clone)]
pub(super) struct Bytes(pub(super) Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
        }
        d.deserialize_byte_buf(Visit)
    }
}

/// A chunk's results as they travel back: the values alone while every task succeeded (the
/// common case, half the bytes and no per-task tag to decode), each task's outcome otherwise.
#[derive(Serialize, Deserialize, Debug)]
pub(super) enum ChunkOutput<R> {
    /// Every task succeeded: their values, in input order.
    Values(Vec<R>),
    /// Some task failed: each task's value or error, in input order.
    Outcomes(Vec<Result<R, TaskError>>),
}

impl<R> ChunkOutput<R> {
    /// Runs `run` on each item, keeping the compact form until a task fails. Panics are
    /// caught once for the whole chunk (catching each task costs as much as a tiny task);
    /// after the first failure each remaining task is caught on its own.
    fn collect<T>(items: Vec<T>, run: impl Fn(T) -> Result<R, TaskError>) -> ChunkOutput<R> {
        let total = items.len();
        let mut values = Vec::with_capacity(total);
        let mut items = items.into_iter();
        let first_failure = match call_catching(|| {
            for item in items.by_ref() {
                match run(item) {
                    Ok(v) => values.push(v),
                    Err(e) => return Some(e),
                }
            }
            None
        }) {
            Ok(None) => return ChunkOutput::Values(values),
            Ok(Some(e)) => e,
            // The task that panicked was taken from `items` and gave no value.
            Err(panic) => TaskError::from(panic),
        };
        let mut outcomes: Vec<Result<R, TaskError>> = Vec::with_capacity(total);
        outcomes.extend(values.into_iter().map(Ok));
        outcomes.push(Err(first_failure));
        outcomes.extend(
            items.map(|x| call_catching(|| run(x)).unwrap_or_else(|p| Err(TaskError::from(p)))),
        );
        ChunkOutput::Outcomes(outcomes)
    }
}

/// Runs `fn(T) -> R` on a chunk: each result is the value, or the panic.
fn run_chunk<F: Fn(T) -> R, T: DeserializeOwned, R: Serialize>(
    f: F,
    chunk: Vec<u8>,
) -> Result<Vec<u8>, String> {
    let items: Vec<T> = codec::decode_payload(&chunk).map_err(|e| e.to_string())?;
    let out = ChunkOutput::collect(items, |x| Ok(f(x)));
    codec::encode_value(&out).map_err(|e| e.to_string())
}

/// Runs `fn(A, B) -> R` on a chunk of pairs (`starmap`).
fn run_pair_chunk<F: Fn(A, B) -> R, A: DeserializeOwned, B: DeserializeOwned, R: Serialize>(
    f: F,
    chunk: Vec<u8>,
) -> Result<Vec<u8>, String> {
    let items: Vec<(A, B)> = codec::decode_payload(&chunk).map_err(|e| e.to_string())?;
    let out = ChunkOutput::collect(items, |(a, b)| Ok(f(a, b)));
    codec::encode_value(&out).map_err(|e| e.to_string())
}

/// Runs `fn(T) -> Result<R, E>` on a chunk: an `Err` is the task's error too.
fn run_try_chunk<F, T, R, E>(f: F, chunk: Vec<u8>) -> Result<Vec<u8>, String>
where
    F: Fn(T) -> Result<R, E>,
    T: DeserializeOwned,
    R: Serialize,
    E: fmt::Display,
{
    let items: Vec<T> = codec::decode_payload(&chunk).map_err(|e| e.to_string())?;
    let out = ChunkOutput::collect(items, |x| {
        f(x).map_err(|e| TaskError::Failed(e.to_string()))
    });
    codec::encode_value(&out).map_err(|e| e.to_string())
}

/// The ways a function of the program's table can run as a pool task, found where the table
/// is written (see [`mod@crate::targets`]): each `…Shape` trait holds when the signature allows
/// it, and its `Not…` twin answers `None` otherwise.
#[doc(hidden)]
pub mod shapes {
    use super::*;
    use crate::targets::{Probe, way_of_running};

    /// How a worker runs a chunk through the function `F`.
    pub type Runner<F> = fn(F, Vec<u8>) -> Result<Vec<u8>, String>;

    way_of_running!(
        /// A function that can be a pool task, `fn(T) -> R`.
        MapShape, NotMapShape, map_runner -> Runner<F>
    );
    way_of_running!(
        /// A function that can be a `try_` pool task, `fn(T) -> Result<R, E>`.
        TryMapShape, NotTryMapShape, try_map_runner -> Runner<F>
    );
    way_of_running!(
        /// A function that can be a `starmap` task, `fn(A, B) -> R`.
        PairShape, NotPairShape, pair_runner -> Runner<F>
    );

    impl<F, T, R> MapShape<F> for Probe<F, fn(T) -> R>
    where
        F: Fn(T) -> R,
        T: DeserializeOwned,
        R: Serialize,
    {
        fn map_runner(&self) -> Option<Runner<F>> {
            Some(run_chunk::<F, T, R>)
        }
    }

    impl<F, T, R, E> TryMapShape<F> for Probe<F, fn(T) -> Result<R, E>>
    where
        F: Fn(T) -> Result<R, E>,
        T: DeserializeOwned,
        R: Serialize,
        E: fmt::Display,
    {
        fn try_map_runner(&self) -> Option<Runner<F>> {
            Some(run_try_chunk::<F, T, R, E>)
        }
    }

    impl<F, A, B, R> PairShape<F> for Probe<F, fn(A, B) -> R>
    where
        F: Fn(A, B) -> R,
        A: DeserializeOwned,
        B: DeserializeOwned,
        R: Serialize,
    {
        fn pair_runner(&self) -> Option<Runner<F>> {
            Some(run_pair_chunk::<F, A, B, R>)
        }
    }
}

/// Which function of the program's table runs a chunk, and how.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Task {
    pub(super) target: u32,
    pub(super) shape: Shape,
}

impl Task {
    /// The task that runs `f` in the way `shape`, if it is in the program's table.
    pub(super) fn of<F: 'static>(f: &F, shape: Shape) -> crate::Result<Task> {
        targets::must_be_named(f);
        Ok(Task {
            target: targets::index_of::<F>(shape)?,
            shape,
        })
    }

    /// Runs a chunk (in a worker).
    pub(super) fn run(self, chunk: Vec<u8>) -> Result<Vec<u8>, String> {
        targets::run_chunk_at(self.target, self.shape, chunk)
    }
}

/// Pool → worker. A worker answers chunks in the order it gets them, so a chunk needs no
/// name. `B` is the chunk's bytes: borrowed when sent ([`BytesRef`]), owned when received.
#[derive(Serialize, Deserialize, Debug)]
pub(super) enum ToWorker<B = Bytes> {
    /// Run the chunk `args` as `task`.
    Run { task: Task, args: B },
    /// No more work: exit.
    Stop,
}

/// Borrowed bytes, carried as one byte string: what [`Bytes`] is on the sending side, so a
/// chunk kept for a possible retry is sent without a copy.
#[derive(Debug)]
pub(super) struct BytesRef<'a>(pub(super) &'a [u8]);

impl Serialize for BytesRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// Worker → pool: the chunk's encoded results, or why there are none.
#[derive(Serialize, Deserialize, Debug)]
pub(super) struct Done {
    pub(super) output: Result<Bytes, String>,
}

/// A function to run once in each worker when it starts.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(super) struct Initializer {
    pub(super) task: Task,
    pub(super) args: InitArgs,
}

/// Encodes a typed value when asked: an initializer's arguments are encoded afresh for each
/// worker as it is started, so that handles among them (a `Value`, a `Queue`) go to it.
pub(super) trait EncodeArgs: Send + Sync {
    fn encode(&self) -> crate::Result<Vec<u8>>;
}

impl<A: Serialize + Send + Sync> EncodeArgs for A {
    fn encode(&self) -> crate::Result<Vec<u8>> {
        codec::encode_value(self)
    }
}

/// An initializer's arguments: typed in the pool, bytes in the worker.
#[derive(Clone)]
pub(super) enum InitArgs {
    Typed(std::sync::Arc<dyn EncodeArgs>),
    Encoded(Vec<u8>),
}

impl fmt::Debug for InitArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InitArgs")
    }
}

impl Serialize for InitArgs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        match self {
            InitArgs::Typed(args) => {
                let bytes = args.encode().map_err(S::Error::custom)?;
                s.serialize_bytes(&bytes)
            }
            InitArgs::Encoded(bytes) => s.serialize_bytes(bytes),
        }
    }
}

impl<'de> Deserialize<'de> for InitArgs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Bytes::deserialize(d).map(|b| InitArgs::Encoded(b.0))
    }
}

/// What a pool worker is started with.
#[derive(Serialize, Deserialize)]
pub(super) struct WorkerArgs {
    pub(super) conn: Connection,
    pub(super) initializer: Option<Initializer>,
}

/// A pool worker: runs the initializer, then chunks until told to stop (or its pool is gone).
pub(super) fn worker(args: WorkerArgs) -> crate::Result<()> {
    let WorkerArgs {
        mut conn,
        initializer,
    } = args;
    if let Some(init) = initializer {
        let args = match init.args {
            InitArgs::Encoded(bytes) => bytes,
            InitArgs::Typed(args) => args.encode()?,
        };
        if let Err(e) = init.task.run(args) {
            return Err(crate::Error::start_failed(format!(
                "the pool's initializer failed: {e}"
            )));
        }
    }
    loop {
        match conn.recv::<ToWorker>() {
            Ok(ToWorker::Run { task, args }) => {
                let output = task.run(args.0).map(Bytes);
                conn.send(&Done { output })?;
            }
            Ok(ToWorker::Stop) => return Ok(()),
            Err(e) if e.is_closed() => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

//! Running a process target in a worker, and how it ended: its [`Outcome`], its [`Failure`]
//! with a panic's message and place.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::Probe;
use crate::codec;

super::way_of_running!(
    /// A function that can be a process target.
    ProcessShape, NotProcessShape, process_runner -> fn(F, Vec<u8>) -> Outcome
);

impl<F, A, R> ProcessShape<F> for Probe<F, fn(A) -> R>
where
    F: Fn(A) -> R,
    A: DeserializeOwned,
    R: TargetOutput,
{
    fn process_runner(&self) -> Option<fn(F, Vec<u8>) -> Outcome> {
        Some(run_process::<F, A, R>)
    }
}

/// How a process target ran: unpacks `A`, calls the target, catches a panic.
fn run_process<F: Fn(A) -> R, A: DeserializeOwned, R: TargetOutput>(
    target: F,
    args: Vec<u8>,
) -> Outcome {
    let args: A = match codec::decode_payload(&args) {
        Ok(a) => a,
        Err(e) => return Outcome::Failed(Failure::BadArguments(e.to_string())),
    };
    match call_catching(|| target(args)) {
        Ok(r) => match r.into_result() {
            Ok(()) => Outcome::Returned,
            Err(msg) => Outcome::Failed(Failure::Error(msg)),
        },
        Err(panic) => Outcome::Failed(panic),
    }
}

/// How a worker's target ended, sent back on the status pipe.
#[doc(hidden)]
#[derive(Serialize, Deserialize, Clone, Debug)]
pub enum Outcome {
    Returned,
    Failed(Failure),
}

/// Why a worker's target did not finish normally, as reported by the worker itself.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The target returned `Err`; the error's message.
    Error(String),
    /// The target panicked: the panic message and, when known, `file:line:column`.
    Panic {
        /// The panic payload, if it was a string.
        message: String,
        /// Where the panic happened.
        location: Option<String>,
    },
    /// The arguments could not be unpacked in the worker.
    BadArguments(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Error(msg) => write!(f, "returned an error: {msg}"),
            Failure::Panic {
                message,
                location: Some(at),
            } => write!(f, "panicked at {at}: {message}"),
            Failure::Panic {
                message,
                location: None,
            } => write!(f, "panicked: {message}"),
            Failure::BadArguments(msg) => write!(f, "could not unpack its arguments: {msg}"),
        }
    }
}

/// What a process target may return: `()` or `Result<(), E>` with a displayable error. An
/// `Err` becomes exit status 1 and a [`Failure::Error`] the parent can read.
pub trait TargetOutput {
    /// `Ok` for success, or the error's message.
    fn into_result(self) -> Result<(), String>;
}

impl TargetOutput for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: std::fmt::Display> TargetOutput for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

/// Calls `f`, turning a panic into [`Failure::Panic`] with its message and, in a worker,
/// its location.
pub(crate) fn call_catching<R>(f: impl FnOnce() -> R) -> Result<R, Failure> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "Box<dyn Any>".to_string()
        };
        let location = PANIC_LOCATION.lock().ok().and_then(|mut l| l.take());
        Failure::Panic { message, location }
    })
}

/// Where the last panic happened, written by a worker's panic hook
/// ([`remember_panic_location`]) and taken by [`call_catching`].
static PANIC_LOCATION: Mutex<Option<String>> = Mutex::new(None);

/// Called from a worker's panic hook.
pub(crate) fn remember_panic_location(at: String) {
    if let Ok(mut slot) = PANIC_LOCATION.lock() {
        *slot = Some(at);
    }
}

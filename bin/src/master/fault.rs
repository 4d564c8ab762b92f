//! Fault injection for tests (the `fault-injection` cargo feature; never in a release build):
//! makes a chosen worker crash, exit, hang, panic or send garbage at a chosen moment, so that
//! every fault path of the master is tested without timing luck.
//!
//! The master's environment says what: `PI_MASTER_FAULT=WORKER:MOMENT:ACTION`, inherited by
//! every worker; worker WORKER acts at MOMENT. With `PI_MASTER_FAULT_SPENT=DIR` as well, only
//! the first worker to act does (it creates DIR; a worker started in its place by `--retries`
//! finds it and runs clean, so a retried run can finish).
//!
//! - MOMENT: `start` (before its first range), `took` (queue mode: it has taken a chunk and not
//!   said so yet), `computing` (after the first slice of its range), `result` (its range
//!   computed, the result not sent), `after` (its last result sent, before it exits).
//! - ACTION: `crash` (abort: SIGABRT), `exit` (status 3), `hang` (sleeps until killed),
//!   `stubborn` (catches SIGTERM and hangs: only SIGKILL ends it), `panic`, `garbage` (bytes
//!   that are no message on its pipe in pipe mode, a report for a range it was not given in
//!   queue mode), `refuse` (at `computing` only: it refuses its range as invalid, in its own
//!   words, and its target returns that error).
//!
//! Without the feature every call here does nothing and compiles to nothing.

/// Where a worker can be made to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Moment {
    Start,
    Took,
    Computing,
    Result,
    After,
}

/// The environment variable that arms a fault.
#[cfg(feature = "fault-injection")]
pub const VARIABLE: &str = "PI_MASTER_FAULT";

/// Acts if the armed fault is for worker `index` at `moment`: `garbage` is how this worker
/// sends garbage on its channel.
#[cfg(feature = "fault-injection")]
pub(super) fn at(index: usize, moment: Moment, garbage: &mut dyn FnMut()) {
    let Some(action) = armed(index, moment, |action| action != "refuse") else {
        return;
    };
    match action {
        "crash" => std::process::abort(),
        "exit" => std::process::exit(3),
        "hang" => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        "stubborn" => {
            let _watch = multiproc::signals::SignalWatch::new(&[multiproc::signals::SIGTERM]);
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        "panic" => panic!("fault injected at {moment:?}"),
        "garbage" => garbage(),
        _ => {}
    }
}

/// Whether worker `index` is to refuse its range as invalid (`refuse` at `computing`).
#[cfg(feature = "fault-injection")]
pub(super) fn refuses(index: usize) -> bool {
    armed(index, Moment::Computing, |action| action == "refuse").is_some()
}

/// The action armed for worker `index` at `moment`, if any and of the kind `wanted`; taken
/// once (the first worker to take it marks it spent, so a replacement runs clean).
#[cfg(feature = "fault-injection")]
fn armed(index: usize, moment: Moment, wanted: fn(&str) -> bool) -> Option<&'static str> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static DONE: AtomicBool = AtomicBool::new(false);
    let spec = std::env::var(VARIABLE).ok()?;
    let mut parts = spec.split(':');
    let (worker, when, action) = (parts.next()?, parts.next()?, parts.next()?);
    let when = match when {
        "start" => Moment::Start,
        "took" => Moment::Took,
        "computing" => Moment::Computing,
        "result" => Moment::Result,
        "after" => Moment::After,
        _ => return None,
    };
    let action = [
        "crash", "exit", "hang", "stubborn", "panic", "garbage", "refuse",
    ]
    .into_iter()
    .find(|known| *known == action && wanted(known))?;
    if worker.parse() != Ok(index) || when != moment || DONE.swap(true, Ordering::SeqCst) {
        return None;
    }
    if let Ok(spent) = std::env::var("PI_MASTER_FAULT_SPENT")
        && std::fs::create_dir(&spent).is_err()
    {
        return None;
    }
    Some(action)
}

/// Without the feature: nothing.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(super) fn at(_index: usize, _moment: Moment, _garbage: &mut dyn FnMut()) {}

/// Without the feature: never.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(super) fn refuses(_index: usize) -> bool {
    false
}

//! Fault injection, for tests only: makes this process die at a chosen point inside the
//! runtime, so that what happens to the others can be tested without timing luck.
//!
//! Compiled only with the `fault-injection` cargo feature, which no release build enables.
//! A test's target arms a point in its own process ([`arm`]); when the runtime reaches that
//! point, the process aborts on the spot, exactly as if it had been killed there.

use std::sync::Mutex;

/// A place inside the runtime where a fault can be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultPoint {
    /// A queue producer has marked an item as being written, and written none of it.
    QueueItemMarked,
    /// A queue producer has written the first bytes of an item, but not all of it.
    QueueItemPartlyWritten,
    /// A queue producer has written all of an item and not yet cleared its mark.
    QueueItemWritten,
}

static ARMED: Mutex<Vec<FaultPoint>> = Mutex::new(Vec::new());

/// Makes this process abort the next time it reaches `point`.
pub fn arm(point: FaultPoint) {
    ARMED.lock().unwrap_or_else(|p| p.into_inner()).push(point);
}

/// Called by the runtime at `point`: aborts the process if that point is armed.
pub(crate) fn reached(point: FaultPoint) {
    if ARMED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&point)
    {
        std::process::abort();
    }
}

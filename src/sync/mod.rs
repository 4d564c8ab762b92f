//! Synchronisation between processes: [`Lock`], [`RLock`], [`Semaphore`],
//! [`BoundedSemaphore`], [`Event`], [`Barrier`] and [`Condition`], with Python's names and
//! timeouts where Python has them.
//!
//! Each lives in a small region of anonymous shared memory and is handed to children like
//! any other argument of a [`crate::Process`]. Waiting sleeps in the kernel (on a futex, or
//! in a lock, which is one): no busy wait and no descriptor per waiter. Guards
//! release on drop.
//!
//! # When a process dies
//! Python's primitives leave the others waiting for ever when a holder dies. Here:
//! - a **lock** (`Lock`, `RLock`, a `Condition`'s, a `Value`'s) whose holder died is taken
//!   over by the next locker (the lock knows its holder's thread); that locker gets
//!   [`crate::ErrorKind::Broken`] with [`crate::Error::broken_by`] naming the dead process,
//!   and so does everyone until someone calls `mark_consistent()`;
//! - a **semaphore** writes down each process's permits; a waiter that finds none free and a
//!   dead process holding some fails the same way, and `mark_consistent()` returns the dead
//!   process's permits;
//! - a **barrier** whose waiters see a process that held it die (without dropping its
//!   handle) breaks, and every waiter fails instead of waiting for a party that cannot come;
//! - an **event** has no holder: nothing to break; a wait with a timeout always ends in time.
//!
//! Waiters look for dead holders after 100 ms of waiting, and every 100 ms after that.

mod barrier;
mod condition;
pub(crate) mod core;
mod event;
mod lock;
mod semaphore;

use std::time::{Duration, Instant};

pub use barrier::Barrier;
pub use condition::{Condition, ConditionGuard};
pub use event::Event;
pub use lock::{Lock, LockGuard, RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, Permit, Semaphore};

/// How long a waiter sleeps before it looks for dead holders again.
const LOOK_AROUND: Duration = Duration::from_millis(100);

/// The end of the next slice of a wait that ends at `deadline` (`None`: never).
fn wait_slice(deadline: Option<Instant>) -> Instant {
    let slice = Instant::now() + LOOK_AROUND;
    deadline.map_or(slice, |d| d.min(slice))
}

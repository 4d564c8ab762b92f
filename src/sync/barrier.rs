//! `Barrier`: a fixed number of parties wait for each other, across processes.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::core::{LockCore, deadline_after};
use super::{LOOK_AROUND, wait_slice};
use crate::error::{Error, Result};
use crate::holders::{Handle, HasHolders, Holders};
use crate::os::shm::{Futex, plain_struct};
use crate::shared::SharedMem;

/// What `broken` holds: whole, or broken by a timeout, an abort, or a death.
const WHOLE: u32 = 0;
const TIMED_OUT: u32 = 1;
const ABORTED: u32 = 2;
const PARTY_DIED: u32 = 3;

plain_struct! {
    /// What a barrier shares.
    pub(crate) struct BarrierState {
        core: LockCore,
        parties: AtomicU32,
        /// Parties waiting in the current round.
        arrived: AtomicU32,
        /// Bumped when a round completes or the barrier breaks; waiters sleep on it.
        generation: Futex,
        /// Bumped when the barrier breaks or is reset: a waiter that sees it move failed.
        breaks: AtomicU32,
        broken: AtomicU32,
        broken_by: AtomicI32,
        holders: Holders,
    }
}

impl HasHolders for BarrierState {
    fn holders(&self) -> &Holders {
        &self.holders
    }
}

/// A barrier shared between processes, like Python's `multiprocessing.Barrier`: each of
/// `parties` callers of [`Barrier::wait`] sleeps until all have arrived, then all go on
/// together, and the barrier is ready for the next round.
///
/// A wait that times out, an [`Barrier::abort`], or a process dying while others wait with a
/// handle of it left behind **breaks** the barrier: every waiter, and every later `wait`,
/// fails with [`crate::ErrorKind::Broken`] (naming the dead process when there is one) until
/// [`Barrier::reset`]. Nobody waits for ever for a party that cannot come.
///
/// ```rust,standalone_crate
/// use multiproc::Process;
/// use multiproc::sync::Barrier;
///
/// fn party(barrier: Barrier) -> multiproc::Result<()> {
///     barrier.wait()?;
///     Ok(())
/// }
///
/// fn main() -> multiproc::Result<()> {
///     multiproc::init!(party);
///     let barrier = Barrier::new(3)?;
///     let mut children = Vec::new();
///     for _ in 0..2 {
///         let mut p = Process::new(party, barrier.try_clone()?);
///         p.start()?;
///         children.push(p);
///     }
///     barrier.wait()?; // the third party: all three go on together
///     for p in &mut children {
///         assert_eq!(p.join()?, 0);
///     }
///     Ok(())
/// }
/// ```
#[derive(Serialize, Deserialize)]
pub struct Barrier {
    handle: Handle<BarrierState>,
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .finish()
    }
}

impl Barrier {
    /// A barrier for `parties` callers (at least 1).
    pub fn new(parties: u32) -> Result<Barrier> {
        if parties == 0 {
            return Err(Error::invalid_argument("a barrier needs at least 1 party"));
        }
        let shared = SharedMem::<BarrierState>::new(c"multiproc-barrier")?;
        shared.parties.store(parties, Ordering::SeqCst);
        Ok(Barrier {
            handle: Handle::new(shared)?,
        })
    }

    /// Another handle on the same barrier.
    pub fn try_clone(&self) -> Result<Barrier> {
        Ok(Barrier {
            handle: self.handle.try_clone()?,
        })
    }

    /// The parties the barrier waits for.
    pub fn parties(&self) -> u32 {
        self.handle.parties.load(Ordering::SeqCst)
    }

    /// How many are waiting now.
    pub fn n_waiting(&self) -> u32 {
        self.handle.arrived.load(Ordering::SeqCst)
    }

    /// Whether the barrier is broken.
    pub fn broken(&self) -> bool {
        self.handle.broken.load(Ordering::SeqCst) != WHOLE
    }

    /// Waits until every party has arrived; returns this caller's place in the round, 0 to
    /// `parties - 1` (Python's return value).
    pub fn wait(&self) -> Result<u32> {
        self.wait_until(None)
    }

    /// As [`Barrier::wait`], but breaks the barrier (and fails) if the round is not complete
    /// within `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32> {
        self.wait_until(deadline_after(Some(timeout)))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<u32> {
        let s = &*self.handle;
        self.check_whole()?;
        // No lock on the way through: parties of a round arrive with one atomic addition,
        // and the last one opens the next round. A party of the next round arrives only after
        // it saw this round end, so `arrived` is back at 0 by then.
        let round = s.generation.word().load(Ordering::SeqCst);
        let breaks = s.breaks.load(Ordering::SeqCst);
        let place = s.arrived.fetch_add(1, Ordering::SeqCst);
        let parties = s.parties.load(Ordering::SeqCst);
        if place >= parties {
            s.arrived.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::misuse(format!(
                "more than the barrier's {parties} parties are waiting at once"
            )));
        }
        if place + 1 == parties {
            s.arrived.store(0, Ordering::SeqCst);
            s.generation.word().fetch_add(1, Ordering::SeqCst);
            s.generation.wake(u32::MAX);
            return Ok(place);
        }
        let mut last_look = Instant::now();
        loop {
            if s.generation.word().load(Ordering::SeqCst) != round {
                if s.breaks.load(Ordering::SeqCst) == breaks {
                    return Ok(place);
                }
                return Err(self.check_whole().err().unwrap_or_else(|| {
                    Error::broken(None, "the barrier was reset while this party waited")
                }));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.break_it(TIMED_OUT, 0);
                return Err(Error::timeout());
            }
            // A round normally ends in microseconds; only a long wait looks for the dead.
            if last_look.elapsed() >= LOOK_AROUND {
                last_look = Instant::now();
                if let Some((_, pid)) = s.holders().dead() {
                    self.break_it(PARTY_DIED, pid);
                    continue;
                }
            }
            s.generation
                .wait(round, Some(wait_slice(deadline)))
                .map_err(|e| Error::io("cannot wait at the barrier", e))?;
        }
    }

    /// Breaks the barrier, waking every waiter (they fail).
    fn break_it(&self, how: u32, pid: i32) {
        let s = &*self.handle;
        if s.broken
            .compare_exchange(WHOLE, how, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            s.broken_by.store(pid, Ordering::SeqCst);
        }
        s.arrived.store(0, Ordering::SeqCst);
        s.breaks.fetch_add(1, Ordering::SeqCst);
        s.generation.word().fetch_add(1, Ordering::SeqCst);
        s.generation.wake(u32::MAX);
    }

    fn check_whole(&self) -> Result<()> {
        let s = &*self.handle;
        let pid = s.broken_by.load(Ordering::SeqCst);
        let why = match s.broken.load(Ordering::SeqCst) {
            WHOLE => return Ok(()),
            TIMED_OUT => "a wait timed out".to_string(),
            ABORTED => "it was aborted".to_string(),
            _ => format!("process {pid}, one of its parties, died"),
        };
        Err(Error::broken(
            u32::try_from(pid).ok().filter(|p| *p > 0),
            format!("the barrier is broken: {why} (reset() makes it usable again)"),
        ))
    }

    /// Breaks the barrier: every waiter, and every later `wait`, fails until `reset`.
    pub fn abort(&self) {
        self.break_it(ABORTED, 0);
    }

    /// Makes the barrier whole and empty again; parties waiting now fail (as in Python).
    /// Holders that died are forgotten.
    pub fn reset(&self) -> Result<()> {
        let s = &*self.handle;
        s.core.mark_consistent();
        let guard = s.core.lock(None, "barrier")?;
        s.holders().forget_dead();
        if s.arrived.swap(0, Ordering::SeqCst) > 0 {
            // Those waiting fail, as in Python.
            s.breaks.fetch_add(1, Ordering::SeqCst);
            s.generation.word().fetch_add(1, Ordering::SeqCst);
            s.generation.wake(u32::MAX);
        }
        s.broken.store(WHOLE, Ordering::SeqCst);
        s.broken_by.store(0, Ordering::SeqCst);
        s.core.unlock(guard);
        Ok(())
    }
}

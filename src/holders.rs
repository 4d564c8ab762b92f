//! Who holds a shared object: a table of the processes with a handle on it, in its shared
//! memory, and [`Handle`], the per-process handle that registers itself there, travels to
//! children in their arguments, and leaves the table when dropped.
//!
//! The table is how a waiter learns that waiting is pointless (nobody else holds the queue)
//! or that someone died holding a part of the object (a semaphore's permit, a barrier's
//! place): an entry whose process is gone, without having dropped its handle, is a process
//! that died.

use std::ops::Deref;
use std::sync::atomic::{AtomicI32, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::handover;
use crate::os;
use crate::os::shm::{Plain, SharedData, plain_struct};
use crate::shared::SharedMem;

/// How many handles, across all processes, one object keeps track of: room for a thousand
/// workers with their master's handles, and to spare.
pub(crate) const MAX_HOLDERS: usize = 4096;

/// This process's id as the tables store it. Asked of the kernel once: it is on every
/// lock's fast path, and a process started by this runtime is always a fresh exec (never a
/// bare fork that would inherit the cached value).
pub(crate) fn my_pid() -> i32 {
    static PID: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *PID.get_or_init(|| std::process::id() as i32)
}

plain_struct! {
    /// The table: a pid per slot (0: free) and a count per slot, for what the holder has
    /// taken (a semaphore's permits).
    pub(crate) struct Holders {
        pids: [AtomicI32; MAX_HOLDERS],
        counts: [AtomicI32; MAX_HOLDERS],
    }
}

impl Holders {
    /// Puts `pid` in a free slot.
    pub(crate) fn register(&self, pid: i32) -> Result<usize> {
        for _ in 0..2 {
            for (i, holder) in self.pids.iter().enumerate() {
                if holder
                    .compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    self.counts[i].store(0, Ordering::SeqCst);
                    return Ok(i);
                }
            }
            // Full: forget holders that have exited, then try once more.
            for holder in &self.pids {
                let p = holder.load(Ordering::SeqCst);
                if p != 0 && !os::process_running(p) {
                    let _ = holder.compare_exchange(p, 0, Ordering::SeqCst, Ordering::SeqCst);
                }
            }
        }
        Err(Error::limit_reached(format!(
            "a shared object can be held by at most {MAX_HOLDERS} handles at once"
        )))
    }

    /// Fills `slot` with `pid` (0 frees it).
    pub(crate) fn set(&self, slot: usize, pid: i32) {
        self.pids[slot].store(pid, Ordering::SeqCst);
    }

    /// The count of `slot` (what its holder has taken).
    pub(crate) fn count(&self, slot: usize) -> &AtomicI32 {
        &self.counts[slot]
    }

    /// Whether a holder other than `slot` is a running process. Entries of processes that
    /// exited with nothing taken are cleared on the way.
    pub(crate) fn others_alive(&self, slot: Option<usize>) -> bool {
        for (i, holder) in self.pids.iter().enumerate() {
            let pid = holder.load(Ordering::SeqCst);
            if Some(i) == slot || pid == 0 {
                continue;
            }
            if os::process_running(pid) {
                return true;
            }
            if self.counts[i].load(Ordering::SeqCst) == 0 {
                let _ = holder.compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst);
            }
        }
        false
    }

    /// A holder that died still holding something (a count above 0): its pid.
    pub(crate) fn dead_holding(&self) -> Option<i32> {
        self.pids
            .iter()
            .zip(&self.counts)
            .find_map(|(holder, count)| {
                let pid = holder.load(Ordering::SeqCst);
                (pid != 0 && count.load(Ordering::SeqCst) > 0 && !os::process_running(pid))
                    .then_some(pid)
            })
    }

    /// Frees the slots of every holder that died without dropping its handle; returns what
    /// they held in all (their counts above 0).
    pub(crate) fn forget_dead(&self) -> u32 {
        let mut held = 0;
        for (holder, count) in self.pids.iter().zip(&self.counts) {
            let pid = holder.load(Ordering::SeqCst);
            if pid != 0 && !os::process_running(pid) {
                held += count.swap(0, Ordering::SeqCst).max(0) as u32;
                holder.store(0, Ordering::SeqCst);
            }
        }
        held
    }

    /// A holder that died without dropping its handle: `(slot, pid)`, the first found.
    pub(crate) fn dead(&self) -> Option<(usize, i32)> {
        self.pids.iter().enumerate().find_map(|(i, holder)| {
            let pid = holder.load(Ordering::SeqCst);
            (pid != 0 && !os::process_running(pid)).then_some((i, pid))
        })
    }
}

/// Shared state that keeps a holder table.
pub(crate) trait HasHolders: Plain {
    /// The table.
    fn holders(&self) -> &Holders;
}

/// One process's handle on shared state `S`: registered in its holder table while it lives.
/// Serialising it (in a [`crate::Process`]'s arguments) registers the child, whose pid is
/// filled in once it is spawned.
pub(crate) struct Handle<S: HasHolders, D: SharedData = u8> {
    shared: SharedMem<S, D>,
    slot: Option<usize>,
}

impl<S: HasHolders, D: SharedData> Handle<S, D> {
    /// Registers this process as a holder of `shared`.
    pub(crate) fn new(shared: SharedMem<S, D>) -> Result<Self> {
        let slot = shared.holders().register(my_pid())?;
        Ok(Handle {
            shared,
            slot: Some(slot),
        })
    }

    /// Another handle on the same state, for another thread or object of this process.
    pub(crate) fn try_clone(&self) -> Result<Self> {
        Handle::new(self.shared.clone())
    }

    /// The shared memory, data included.
    pub(crate) fn shared(&self) -> &SharedMem<S, D> {
        &self.shared
    }

    /// This handle's slot in the table, until it is closed.
    pub(crate) fn slot(&self) -> Option<usize> {
        self.slot
    }

    /// Leaves the table; the state stays mapped as long as the handle lives.
    pub(crate) fn close(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.shared.holders().set(slot, 0);
        }
    }
}

impl<S: HasHolders, D: SharedData> Deref for Handle<S, D> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.shared
    }
}

impl<S: HasHolders, D: SharedData> Drop for Handle<S, D> {
    fn drop(&mut self) {
        self.close();
    }
}

/// How a handle travels inside a process's arguments.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct HandedHandle<S: HasHolders, D: SharedData> {
    shared: SharedMem<S, D>,
    slot: u32,
}

impl<S: HasHolders, D: SharedData> Serialize for Handle<S, D> {
    /// Only while a [`crate::Process`] packs its arguments: the child gets its own descriptor
    /// and a slot in the table, held in the parent's name until the child's pid is known.
    fn serialize<Z: Serializer>(&self, serializer: Z) -> std::result::Result<Z::Ok, Z::Error> {
        use serde::ser::Error as _;
        let slot = self
            .shared
            .holders()
            .register(my_pid())
            .map_err(Z::Error::custom)?;
        let table = self.shared.clone();
        handover::on_spawn(Box::new(move |pid| {
            table.holders().set(slot, pid.map_or(0, |p| p as i32));
        }));
        HandedHandle {
            shared: self.shared.clone(),
            slot: slot as u32,
        }
        .serialize(serializer)
    }
}

impl<'de, S: HasHolders, D: SharedData> Deserialize<'de> for Handle<S, D> {
    /// Only in a worker unpacking its arguments.
    fn deserialize<Z: Deserializer<'de>>(deserializer: Z) -> std::result::Result<Self, Z::Error> {
        use serde::de::Error as _;
        let wire = HandedHandle::<S, D>::deserialize(deserializer)?;
        let slot = wire.slot as usize;
        if slot >= MAX_HOLDERS {
            return Err(Z::Error::custom("holder slot out of range"));
        }
        wire.shared.holders().set(slot, my_pid());
        Ok(Handle {
            shared: wire.shared,
            slot: Some(slot),
        })
    }
}

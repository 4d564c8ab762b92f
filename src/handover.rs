//! Descriptor hand-over: passing pipe ends and shared memory to a child inside serde values.
//!
//! While a parent packs a child's arguments ([`collect`]), [`export`] duplicates each
//! descriptor a [`crate::Connection`], [`crate::Queue`] or shared object holds into a list for
//! that child alone, and the value serialises its index in the list, never a raw descriptor
//! number. The child's bootstrap places the list at descriptors 5, 6, ... and installs it
//! ([`provide`]); there [`import`] takes the descriptor for an index, once. Outside these two
//! moments both refuse with a message saying where such values can travel.

use std::cell::RefCell;
use std::os::fd::{BorrowedFd, OwnedFd};

use crate::os::FdKind;
/// The descriptors a worker inherited, by index, each taken at most once.
pub(crate) type Handed = Vec<Option<(OwnedFd, FdKind)>>;

/// Told the child's pid once it is spawned, or `None` if it never was.
pub(crate) type SpawnHook = Box<dyn FnOnce(Option<u32>)>;

/// What packing a child's arguments produced besides the bytes.
#[derive(Default)]
pub(crate) struct Packed {
    /// The descriptors the child needs, in index order.
    pub(crate) fds: Vec<(OwnedFd, FdKind)>,
    /// To run once the spawn succeeded or failed.
    pub(crate) hooks: Vec<SpawnHook>,
    /// Why a descriptor could not be duplicated for the child, if one could not (the packing
    /// then fails with a codec error that would hide it).
    pub(crate) dup_failed: Option<std::io::Error>,
}

impl Packed {
    /// Tells every hook how the spawn went.
    pub(crate) fn spawned(&mut self, pid: Option<u32>) {
        for hook in self.hooks.drain(..) {
            hook(pid);
        }
    }
}

impl Drop for Packed {
    fn drop(&mut self) {
        // Hooks nobody ran belong to a child that was never started.
        self.spawned(None);
    }
}

thread_local! {
    static OUTGOING: RefCell<Option<Packed>> = const { RefCell::new(None) };
    static INCOMING: RefCell<Handed> = const { RefCell::new(Vec::new()) };
}

/// Runs `pack` with descriptor export enabled; returns its result and what the packed
/// values need in the child.
pub(crate) fn collect<T>(pack: impl FnOnce() -> T) -> (T, Packed) {
    OUTGOING.with(|o| *o.borrow_mut() = Some(Packed::default()));
    let value = pack();
    let packed = OUTGOING.with(|o| o.borrow_mut().take()).unwrap_or_default();
    (value, packed)
}

/// Registers something to do once the child being packed for is spawned (or is not).
pub(crate) fn on_spawn(hook: SpawnHook) {
    OUTGOING.with(|o| match o.borrow_mut().as_mut() {
        Some(packed) => packed.hooks.push(hook),
        None => hook(None),
    });
}

/// Duplicates `fd` for the child being packed for; returns its index in the child's list.
pub(crate) fn export(fd: BorrowedFd<'_>, end: FdKind) -> Result<u32, String> {
    OUTGOING.with(|o| {
        let mut slot = o.borrow_mut();
        let packed = slot.as_mut().ok_or(
            "a Connection, Queue or shared object can only be sent to another process as (part of) a Process's arguments",
        )?;
        let dup = match fd.try_clone_to_owned() {
            Ok(dup) => dup,
            Err(e) => {
                let msg = format!("cannot duplicate a descriptor for the child: {e}");
                packed.dup_failed = Some(e);
                return Err(msg);
            }
        };
        packed.fds.push((dup, end));
        Ok((packed.fds.len() - 1) as u32)
    })
}

/// Takes the descriptor a worker's parent handed at `index`, checking it is the `end` expected.
pub(crate) fn import(index: u32, end: FdKind) -> Result<OwnedFd, String> {
    INCOMING.with(|i| {
        let mut list = i.borrow_mut();
        match list.get_mut(index as usize).and_then(Option::take) {
            Some((fd, e)) if e == end => Ok(fd),
            Some(_) => Err(format!("handed descriptor {index} is the wrong end of its pipe")),
            None => Err(format!(
                "no handed descriptor {index} (a Connection, Queue or shared object can only be received as part of a Process's arguments, once)"
            )),
        }
    })
}

/// Installs the descriptors a worker inherited; any left from before are closed.
pub(crate) fn provide(fds: Handed) {
    INCOMING.with(|i| *i.borrow_mut() = fds);
}

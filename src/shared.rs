//! Shared memory handed to children: a [`Plain`] value in a `memfd` region that travels in a
//! [`crate::Process`]'s arguments like a pipe does.
//!
//! [`SharedMem<T>`] is what the queue (and every process-shared object after it) keeps its
//! state in. Serialising it exports the region's descriptor for the child being packed for
//! ([`crate::handover`]); deserialising it in the child maps the same region, after checking
//! it holds a `T`. Nothing is named in `/dev/shm` or `/tmp`: the memory lives while any process
//! holds a handle or a mapping.

use std::ffi::CStr;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::handover;
use crate::os::FdKind;
use crate::os::shm::{DataRegion, Plain, SharedData};

/// A `T` in memory shared with the processes it is handed to, followed by a run of plain data
/// `D` (none by default). Clones share the same memory.
pub(crate) struct SharedMem<T: Plain, D: SharedData = u8>(Arc<DataRegion<T, D>>);

impl<T: Plain, D: SharedData> Clone for SharedMem<T, D> {
    fn clone(&self) -> Self {
        SharedMem(Arc::clone(&self.0))
    }
}

impl<T: Plain> SharedMem<T> {
    /// A new, zero-filled `T` in shared memory; `name` shows in `/proc/PID/maps`.
    pub(crate) fn new(name: &CStr) -> Result<Self> {
        Self::with_data(name, 0)
    }
}

impl<T: Plain, D: SharedData> SharedMem<T, D> {
    /// A new, zero-filled `T` followed by `len` zero values of `D`.
    pub(crate) fn with_data(name: &CStr, len: usize) -> Result<Self> {
        let region = DataRegion::create_with_data(name, len).map_err(|e| {
            Error::io(
                format!("cannot create shared memory for {}", name.to_string_lossy()),
                e,
            )
        })?;
        Ok(SharedMem(Arc::new(region)))
    }

    /// The data after the `T`: its accessors (atomic, or under the `T`'s mutex).
    pub(crate) fn data(&self) -> &DataRegion<T, D> {
        &self.0
    }
}

impl<T: Plain, D: SharedData> Deref for SharedMem<T, D> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.get()
    }
}

impl<T: Plain, D: SharedData> Serialize for SharedMem<T, D> {
    /// Only while a [`crate::Process`] packs its arguments: the child gets its own descriptor.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        handover::export(self.0.fd(), FdKind::Memory)
            .map_err(S::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de, T: Plain, D: SharedData> Deserialize<'de> for SharedMem<T, D> {
    /// Only in a worker unpacking its arguments: maps the region its parent handed it.
    fn deserialize<Z: Deserializer<'de>>(deserializer: Z) -> std::result::Result<Self, Z::Error> {
        use serde::de::Error as _;
        let index = u32::deserialize(deserializer)?;
        SharedMem::adopt(index).map_err(Z::Error::custom)
    }
}

impl<T: Plain, D: SharedData> SharedMem<T, D> {
    /// In a worker unpacking its arguments: maps the region handed over at `index`, after
    /// checking it holds a `T` and its data.
    pub(crate) fn adopt(index: u32) -> std::result::Result<Self, String> {
        let fd = handover::import(index, FdKind::Memory)?;
        let region = DataRegion::open(fd).map_err(|e| format!("cannot map shared memory: {e}"))?;
        Ok(SharedMem(Arc::new(region)))
    }
}

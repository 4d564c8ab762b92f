//! `Value<T>` and `Array<T>`: plain data in memory shared with child processes, like
//! Python's `multiprocessing.Value` and `Array`.
//!
//! The data lives in an anonymous shared-memory region (a `memfd`; nothing is named in
//! `/dev/shm` or `/tmp`), handed to children like any other argument; it lives while any
//! process holds a handle. Only [`SharedData`] may be shared: numbers, `bool`, and fixed-size
//! arrays of them.
//!
//! As in Python, a `Value` or `Array` comes with its own lock by default: [`Value::get`] and
//! [`Value::set`] take it for one access, [`Value::get_lock`] holds it for as long as its
//! guard lives (the guard gives `&mut T`, or `&mut [T]` for an array), and
//! [`Value::with_lock`] runs a closure under it. `new_raw` makes one without a lock
//! (Python's `lock=False`): each `get` and `set` is then atomic on its own, and nothing more.
//! A process that dies holding the lock breaks it, as for [`crate::sync::Lock`].

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::holders::{Handle, HasHolders, Holders};
use crate::os::shm::{DataRegion, Locked, SharedData, plain_struct};
use crate::shared::SharedMem;
use crate::sync::core::LockCore;

plain_struct! {
    /// What a Value or an Array shares besides its data.
    pub(crate) struct DataState {
        core: LockCore,
        /// Whether the data is reached under `core` (else atomically, one value at a time).
        locked: AtomicBool,
        holders: Holders,
    }
}

impl HasHolders for DataState {
    fn holders(&self) -> &Holders {
        &self.holders
    }
}

/// The shared part of both types: a state and `len` values.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct Shared<T: SharedData> {
    handle: Handle<DataState, T>,
}

impl<T: SharedData> Shared<T> {
    fn create(values: &[T], locked: bool, name: &std::ffi::CStr) -> Result<Self> {
        let shared = SharedMem::<DataState, T>::with_data(name, values.len())?;
        shared.locked.store(locked, Ordering::SeqCst);
        for (i, v) in values.iter().enumerate() {
            shared.data().store(i, *v);
        }
        Ok(Shared {
            handle: Handle::new(shared)?,
        })
    }

    fn try_clone(&self) -> Result<Self> {
        Ok(Shared {
            handle: self.handle.try_clone()?,
        })
    }

    fn region(&self) -> &DataRegion<DataState, T> {
        self.handle.shared().data()
    }

    fn len(&self) -> usize {
        self.region().len()
    }

    fn locked(&self) -> bool {
        self.handle.locked.load(Ordering::SeqCst)
    }

    fn check_index(&self, i: usize) -> Result<()> {
        if i >= self.len() {
            return Err(Error::invalid_argument(format!(
                "index {i} is out of range for an array of {} values",
                self.len()
            )));
        }
        Ok(())
    }

    fn lock(&self) -> Result<Locked<'_>> {
        if !self.locked() {
            return Err(Error::misuse(
                "this shared value was made without a lock (new_raw)",
            ));
        }
        self.handle.core.lock(None, "shared value's lock")
    }

    fn get(&self, i: usize) -> Result<T> {
        self.check_index(i)?;
        if !self.locked() {
            return Ok(self.region().load(i));
        }
        let guard = self.lock()?;
        let value = self.region().data_ref(&guard)[i];
        self.handle.core.unlock(guard);
        Ok(value)
    }

    fn set(&self, i: usize, value: T) -> Result<()> {
        self.check_index(i)?;
        if !self.locked() {
            self.region().store(i, value);
            return Ok(());
        }
        let mut guard = self.lock()?;
        self.region().data_mut(&mut guard)[i] = value;
        self.handle.core.unlock(guard);
        Ok(())
    }

    fn guard(&self) -> Result<DataGuard<'_, T>> {
        Ok(DataGuard {
            locked: Some(self.lock()?),
            shared: self,
        })
    }
}

/// The lock of a [`Value`] or [`Array`], held, with access to the data; released when
/// dropped.
pub(crate) struct DataGuard<'a, T: SharedData> {
    shared: &'a Shared<T>,
    locked: Option<Locked<'a>>,
}

impl<T: SharedData> DataGuard<'_, T> {
    fn slice(&self) -> &[T] {
        let locked = self.locked.as_ref().expect("held until dropped");
        self.shared.region().data_ref(locked)
    }

    fn slice_mut(&mut self) -> &mut [T] {
        let locked = self.locked.as_mut().expect("held until dropped");
        self.shared.region().data_mut(locked)
    }
}

impl<T: SharedData> Drop for DataGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(locked) = self.locked.take() {
            self.shared.handle.core.unlock(locked);
        }
    }
}

/// The guard of a [`Value`]'s lock: `*guard` is the value.
pub struct ValueGuard<'a, T: SharedData>(DataGuard<'a, T>);

impl<T: SharedData + std::fmt::Debug> std::fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ValueGuard").field(&**self).finish()
    }
}

impl<T: SharedData> Deref for ValueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0.slice()[0]
    }
}

impl<T: SharedData> DerefMut for ValueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0.slice_mut()[0]
    }
}

/// The guard of an [`Array`]'s lock: `*guard` is the slice of values.
pub struct ArrayGuard<'a, T: SharedData>(DataGuard<'a, T>);

impl<T: SharedData + std::fmt::Debug> std::fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ArrayGuard").field(&&**self).finish()
    }
}

impl<T: SharedData> Deref for ArrayGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.0.slice()
    }
}

impl<T: SharedData> DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.0.slice_mut()
    }
}

/// One value of plain data shared between processes, like Python's `multiprocessing.Value`.
/// See the [module docs](self).
///
/// ```rust,standalone_crate
/// use multiproc::{Process, Value};
///
/// fn set_pi(v: Value<f64>) -> multiproc::Result<()> {
///     v.set(2.5)
/// }
///
/// fn main() -> multiproc::Result<()> {
///     multiproc::init!(set_pi);
///     let v = Value::new(0.0f64)?;
///     let mut p = Process::new(set_pi, v.try_clone()?);
///     p.start()?;
///     p.join()?;
///     assert_eq!(v.get()?, 2.5); // the child's write, seen by the parent
///     *v.get_lock()? += 1.0;            // read, add and write under one hold of the lock
///     assert_eq!(v.with_lock(|x| *x)?, 3.5);
///     Ok(())
/// }
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Value<T: SharedData> {
    shared: Shared<T>,
}

impl<T: SharedData> std::fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Value")
            .field("locked", &self.shared.locked())
            .finish_non_exhaustive()
    }
}

impl<T: SharedData> Value<T> {
    /// A shared `value` with its own lock.
    pub fn new(value: T) -> Result<Value<T>> {
        Ok(Value {
            shared: Shared::create(&[value], true, c"multiproc-value")?,
        })
    }

    /// A shared `value` without a lock (Python's `lock=False`): `get` and `set` are atomic
    /// each, and there is no `get_lock`.
    pub fn new_raw(value: T) -> Result<Value<T>> {
        Ok(Value {
            shared: Shared::create(&[value], false, c"multiproc-value")?,
        })
    }

    /// Another handle on the same value.
    pub fn try_clone(&self) -> Result<Value<T>> {
        Ok(Value {
            shared: self.shared.try_clone()?,
        })
    }

    /// The value (Python's `.value`), read under the lock when there is one.
    pub fn get(&self) -> Result<T> {
        self.shared.get(0)
    }

    /// Replaces the value, under the lock when there is one.
    pub fn set(&self, value: T) -> Result<()> {
        self.shared.set(0, value)
    }

    /// Takes the lock and returns a guard through which the value is read and written; the
    /// lock is released when the guard is dropped. [`crate::ErrorKind::Misuse`] without a
    /// lock, or when this thread already holds it.
    pub fn get_lock(&self) -> Result<ValueGuard<'_, T>> {
        Ok(ValueGuard(self.shared.guard()?))
    }

    /// Runs `f` on the value under the lock.
    pub fn with_lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R> {
        let mut guard = self.get_lock()?;
        Ok(f(&mut guard))
    }

    /// After a holder of the lock died: see [`crate::sync::Lock::mark_consistent`].
    pub fn mark_consistent(&self) {
        self.shared.handle.core.mark_consistent();
    }
}

/// A fixed-length array of plain data shared between processes, like Python's
/// `multiprocessing.Array`. See the [module docs](self).
///
/// ```rust,standalone_crate
/// use multiproc::{Array, Process};
///
/// fn negate(a: Array<i64>) -> multiproc::Result<()> {
///     a.with_lock(|values| values.iter_mut().for_each(|v| *v = -*v))
/// }
///
/// fn main() -> multiproc::Result<()> {
///     multiproc::init!(negate);
///     let a = Array::new(&(0..10).collect::<Vec<i64>>())?;
///     let mut p = Process::new(negate, a.try_clone()?);
///     p.start()?;
///     p.join()?;
///     assert_eq!(a.to_vec()?, [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]);
///     Ok(())
/// }
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Array<T: SharedData> {
    shared: Shared<T>,
}

impl<T: SharedData> std::fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Array")
            .field("len", &self.len())
            .field("locked", &self.shared.locked())
            .finish_non_exhaustive()
    }
}

impl<T: SharedData> Array<T> {
    /// A shared array holding a copy of `values`, with its own lock.
    pub fn new(values: &[T]) -> Result<Array<T>> {
        Ok(Array {
            shared: Shared::create(values, true, c"multiproc-array")?,
        })
    }

    /// A shared array of `len` zeros (of whatever `T` is), with its own lock.
    pub fn zeroed(len: usize) -> Result<Array<T>> {
        let shared = SharedMem::<DataState, T>::with_data(c"multiproc-array", len)?;
        shared.locked.store(true, Ordering::SeqCst);
        Ok(Array {
            shared: Shared {
                handle: Handle::new(shared)?,
            },
        })
    }

    /// A shared array without a lock: each `get` and `set` is atomic on its own.
    pub fn new_raw(values: &[T]) -> Result<Array<T>> {
        Ok(Array {
            shared: Shared::create(values, false, c"multiproc-array")?,
        })
    }

    /// Another handle on the same array.
    pub fn try_clone(&self) -> Result<Array<T>> {
        Ok(Array {
            shared: self.shared.try_clone()?,
        })
    }

    /// How many values it holds.
    pub fn len(&self) -> usize {
        self.shared.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i` ([`crate::ErrorKind::InvalidArgument`] past the end).
    pub fn get(&self, i: usize) -> Result<T> {
        self.shared.get(i)
    }

    /// Replaces value `i`.
    pub fn set(&self, i: usize, value: T) -> Result<()> {
        self.shared.set(i, value)
    }

    /// A copy of every value, taken under the lock when there is one (so all from one
    /// moment).
    pub fn to_vec(&self) -> Result<Vec<T>> {
        if self.shared.locked() {
            return Ok(self.get_lock()?.to_vec());
        }
        (0..self.len()).map(|i| self.shared.get(i)).collect()
    }

    /// Takes the lock and returns a guard that is the slice of values, readable and
    /// writable until dropped.
    pub fn get_lock(&self) -> Result<ArrayGuard<'_, T>> {
        Ok(ArrayGuard(self.shared.guard()?))
    }

    /// Runs `f` on the slice of values under the lock.
    pub fn with_lock<R>(&self, f: impl FnOnce(&mut [T]) -> R) -> Result<R> {
        let mut guard = self.get_lock()?;
        Ok(f(&mut guard))
    }

    /// After a holder of the lock died: see [`crate::sync::Lock::mark_consistent`].
    pub fn mark_consistent(&self) {
        self.shared.handle.core.mark_consistent();
    }
}

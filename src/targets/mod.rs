//! The functions a child may run, listed once when the program is built.
//!
//! A child is a fresh copy of the program, so it can run only code that the program contains;
//! what travels to it is which function to run. That is said by the function's place in a
//! table the program declares at the top of `main` ([`init!`](crate::init!)) or in a static
//! ([`targets!`](crate::targets!)): an index, checked against the table, never an address. A
//! boot message forged by hand can pick one of the listed functions and nothing else.
//!
//! ```rust,standalone_crate
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! fn greet(name: String) {
//!     println!("hello {name}");
//! }
//!
//! fn main() -> multiproc::Result<()> {
//!     // In a child, runs the function it was sent and exits; in the master, returns.
//!     multiproc::init!(square, greet);
//!     let mut p = multiproc::Process::new(greet, "bob".to_string());
//!     p.start()?;
//!     p.join()?;
//!     let pool = multiproc::pool::Pool::builder().processes(2).build()?;
//!     assert_eq!(pool.map(square, 1..=3u64).unwrap(), [1, 4, 9]);
//!     Ok(())
//! }
//! ```
//!
//! This is Python's rule made explicit: there a child finds a function by its module and name,
//! so a `lambda` or a nested function cannot be a target. Here a function listed in the table
//! can be, in any of the ways its signature allows: as a [`crate::Process`] target
//! (`fn(A)`, `fn(A) -> Result<(), E>`), a pool task (`fn(T) -> R`; `fn(T) -> Result<R, E>`
//! for the `try_` methods; `fn(A, B) -> R` for `starmap`) or a pool initializer (`fn(A)`).
//! A function not listed, or a closure, is refused when the process or task is started, with
//! an error naming it.
//!
//! A library that defines targets for its users exports a table of its own with
//! [`targets!`](crate::targets!), and the program includes it: `multiproc::init!(mine,
//! ..their_lib::TARGETS)`.

mod macros;
mod outcome;
mod probe;

use std::any::TypeId;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::Error;

pub use outcome::{Failure, TargetOutput};
#[doc(hidden)]
pub use outcome::{NotProcessShape, Outcome, ProcessShape};
pub(crate) use outcome::{call_catching, remember_panic_location};
pub(crate) use probe::way_of_running;
#[doc(hidden)]
pub use probe::{Probe, Signature, probe};

/// A table of functions that children of this program may run; made by
/// [`targets!`](crate::targets!) or [`init!`](crate::init!), installed by [`crate::init()`].
pub struct Targets {
    entries: &'static [Target],
    includes: &'static [&'static Targets],
}

impl Targets {
    #[doc(hidden)]
    pub const fn __new(
        entries: &'static [Target],
        includes: &'static [&'static Targets],
    ) -> Targets {
        Targets { entries, includes }
    }

    /// The functions listed, tables included, in table order, by their full paths
    /// (`my_crate::worker`).
    pub fn names(&self) -> Vec<&'static str> {
        let mut all = Vec::new();
        self.flatten(&mut all);
        all.iter().map(|t| (t.name)()).collect()
    }

    fn flatten(&self, into: &mut Vec<&'static Target>) {
        into.extend(self.entries.iter());
        for included in self.includes {
            included.flatten(into);
        }
    }
}

impl std::fmt::Debug for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names = Vec::new();
        for t in self.entries {
            names.push((t.name)());
        }
        f.debug_struct("Targets")
            .field("entries", &names)
            .field("includes", &self.includes)
            .finish()
    }
}

/// How a worker runs a process target: its packed arguments in, how it ended out.
#[doc(hidden)]
pub type ProcessRunner = fn(Vec<u8>) -> Option<Outcome>;

/// How a worker runs a chunk of pool tasks: the chunk's bytes in, the results' bytes out.
#[doc(hidden)]
pub type ChunkRunner = fn(Vec<u8>) -> Option<Result<Vec<u8>, String>>;

/// One function of a table. Built only by [`targets!`](crate::targets!).
#[doc(hidden)]
pub struct Target {
    pub name: fn() -> &'static str,
    pub item: fn() -> TypeId,
    pub ways: fn() -> Ways,
    pub process: ProcessRunner,
    pub map: ChunkRunner,
    pub try_map: ChunkRunner,
    pub pair: ChunkRunner,
}

/// The ways a function of a table can run, as its signature allows.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ways {
    pub process: bool,
    pub map: bool,
    pub try_map: bool,
    pub pair: bool,
}

/// The function's full path, as Rust names its type (`my_crate::worker`).
#[doc(hidden)]
pub fn name_of<F>(_: &F) -> &'static str {
    std::any::type_name::<F>()
}

/// The function's own type: every function (and every closure) has a type of its own, so
/// this names it exactly, where an address would not (the same code may be merged, or copied
/// where it is inlined).
#[doc(hidden)]
pub fn item_of<F: 'static>(_: &F) -> TypeId {
    TypeId::of::<F>()
}

/// The ways a table's function can be asked to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Shape {
    /// A process target, or a pool's initializer: `fn(A)`, `fn(A) -> Result<(), E>`.
    Process,
    /// A pool task: `fn(T) -> R`.
    Map,
    /// A pool task whose `Err` is the task's error: `fn(T) -> Result<R, E>`.
    TryMap,
    /// A pool task over pairs: `fn(A, B) -> R`.
    Pair,
}

impl Shape {
    fn what(self) -> &'static str {
        match self {
            Shape::Process => "a process target",
            Shape::Map | Shape::TryMap => "a pool task",
            Shape::Pair => "a pool task over pairs",
        }
    }
}

/// The installed table: the library's own functions, then the program's.
struct Table {
    entries: Vec<&'static Target>,
    by_item: HashMap<TypeId, u32>,
    fingerprint: u64,
}

static TABLE: OnceLock<Table> = OnceLock::new();

/// Installs the tables, in order, as this program's table; the first call wins (a child
/// runs the same `main`, so it installs the same tables in the same order).
pub(crate) fn install(tables: &[&'static Targets]) {
    TABLE.get_or_init(|| {
        let mut entries = Vec::new();
        for table in tables {
            table.flatten(&mut entries);
        }
        let mut by_item = HashMap::with_capacity(entries.len());
        let mut hasher = std::hash::DefaultHasher::new();
        for (index, target) in entries.iter().enumerate() {
            by_item.entry((target.item)()).or_insert(index as u32);
            (target.name)().hash(&mut hasher);
        }
        entries.len().hash(&mut hasher);
        Table {
            entries,
            by_item,
            fingerprint: hasher.finish(),
        }
    });
}

fn table() -> Result<&'static Table, Error> {
    TABLE.get().ok_or_else(|| {
        Error::misuse(
            "multiproc::init!(…) must be called at the top of main, listing the functions \
             children may run, before any process or pool is started",
        )
    })
}

/// The table's names and order, summed up: a worker checks that its master's is the same.
pub(crate) fn fingerprint() -> u64 {
    TABLE.get().map_or(0, |t| t.fingerprint)
}

/// Where the function of type `F` is in the installed table; or an error that names it and
/// says how to list it.
pub(crate) fn index_of<F: 'static>(shape: Shape) -> Result<u32, Error> {
    let table = table()?;
    if let Some(index) = table.by_item.get(&TypeId::of::<F>()) {
        return Ok(*index);
    }
    let name = std::any::type_name::<F>();
    Err(Error::misuse(if name.contains("{{closure}}") {
        format!(
            "a closure ({name}) cannot be {}: a child runs only functions listed in the \
             program's table; make it a named function and list it in \
             multiproc::init!(…) at the top of main",
            shape.what()
        )
    } else {
        format!(
            "{name} cannot be {}: it is not in the program's table of targets; list it in \
             multiproc::init!(…) at the top of main (for a library's function, include the \
             library's table there: ..the_library::TARGETS)",
            shape.what()
        )
    }))
}

/// Refuses, when the program is built, what cannot be in a table: a closure that captures
/// something, or a function pointer (each is data a child cannot be given). Named functions,
/// and closures that capture nothing, have types of no size.
pub(crate) fn must_be_named<F>(_: &F) {
    const {
        assert!(
            size_of::<F>() == 0,
            "a process target or pool task must be a named function (listed in \
             multiproc::init!), not a function pointer or a closure that captures"
        )
    }
}

/// The function at `index`, checked against the table.
fn get(index: u32) -> Result<&'static Target, String> {
    let table = table().map_err(|e| e.to_string())?;
    table.entries.get(index as usize).copied().ok_or_else(|| {
        format!(
            "it was sent target number {index}, and the program lists {}",
            table.entries.len()
        )
    })
}

/// The process target at `index`: refused (with why) when the index is past the table or
/// the function there cannot be a process target.
pub(crate) fn process_target(index: u32) -> Result<ProcessRunner, String> {
    let target = get(index)?;
    match (target.ways)().process {
        true => Ok(target.process),
        false => Err(format!(
            "{} cannot be {}",
            (target.name)(),
            Shape::Process.what()
        )),
    }
}

/// Runs a chunk of pool tasks through the function at `index`.
pub(crate) fn run_chunk_at(index: u32, shape: Shape, chunk: Vec<u8>) -> Result<Vec<u8>, String> {
    let target = get(index)?;
    let run = match shape {
        Shape::Map => target.map,
        Shape::TryMap => target.try_map,
        Shape::Pair => target.pair,
        Shape::Process => {
            return match (target.process)(chunk) {
                Some(Outcome::Returned) => Ok(Vec::new()),
                Some(Outcome::Failed(failure)) => Err(failure.to_string()),
                None => Err(format!("{} cannot be {}", (target.name)(), shape.what())),
            };
        }
    };
    run(chunk).unwrap_or_else(|| Err(format!("{} cannot be {}", (target.name)(), shape.what())))
}

#[cfg(test)]
mod tests;

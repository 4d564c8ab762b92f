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

use std::any::TypeId;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, OnceLock};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::error::Error;

/// A table of functions that children of this program may run; made by
/// [`targets!`](crate::targets!) or [`init!`](crate::init!), installed by [`crate::init()`].
pub struct Targets {
    entries: &'static [Target],
    includes: &'static [&'static Targets],
}

impl Targets {
    /// A table with no functions of the program's own: enough for a program that starts no
    /// processes of its own targets (the pool's worker is always available).
    pub const NONE: Targets = Targets {
        entries: &[],
        includes: &[],
    };

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

/// Declares a static table of the functions children of this program may run.
///
/// `targets!(pub static NAME = [f, g, other_crate::h, ..other_crate::TARGETS]);` lists
/// functions by path (a generic one with its types: `square::<u64>`) and includes other
/// tables with `..`. Give the table to [`crate::init()`] at the top of `main`, or include it in
/// the program's [`init!`](crate::init!). See [the module](mod@crate::targets).
#[macro_export]
macro_rules! targets {
    ($(#[$meta:meta])* $vis:vis static $name:ident = [$($listed:tt)*]) => {
        $(#[$meta])*
        $vis static $name: $crate::targets::Targets = $crate::__targets_list!([] [] $($listed)*);
    };
}

/// The table's entries and includes, taken one at a time from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! __targets_list {
    ([$($f:path,)*] [$($t:path,)*]) => {
        $crate::targets::Targets::__new(&[$($crate::__target!($f)),*], &[$(&$t),*])
    };
    ([$($f:tt)*] [$($t:tt)*] .. $table:path $(, $($rest:tt)*)?) => {
        $crate::__targets_list!([$($f)*] [$($t)* $table,] $($($rest)*)?)
    };
    ([$($f:tt)*] [$($t:tt)*] $function:path $(, $($rest:tt)*)?) => {
        $crate::__targets_list!([$($f)* $function,] [$($t)*] $($($rest)*)?)
    };
}

/// One entry: how to run the function in each way its signature allows. Which ways it allows
/// is decided where the table is written, where the function's type is known: a way whose
/// bounds do not hold is left empty (the `Not…` traits, reached only when the first fails).
#[doc(hidden)]
#[macro_export]
macro_rules! __target {
    ($f:path) => {
        $crate::targets::Target {
            name: || $crate::targets::name_of(&$f),
            item: || $crate::targets::item_of(&$f),
            ways: || {
                #[allow(unused_imports)]
                use $crate::pool::__shapes::{
                    MapShape as _, NotMapShape as _, NotPairShape as _, NotTryMapShape as _,
                    PairShape as _, TryMapShape as _,
                };
                #[allow(unused_imports)]
                use $crate::targets::{NotProcessShape as _, ProcessShape as _};
                $crate::targets::Ways {
                    process: (&$crate::targets::probe(&$f)).process_runner().is_some(),
                    map: (&$crate::targets::probe(&$f)).map_runner().is_some(),
                    try_map: (&$crate::targets::probe(&$f)).try_map_runner().is_some(),
                    pair: (&$crate::targets::probe(&$f)).pair_runner().is_some(),
                }
            },
            process: |args| {
                #[allow(unused_imports)]
                use $crate::targets::{NotProcessShape as _, ProcessShape as _};
                (&$crate::targets::probe(&$f))
                    .process_runner()
                    .map(|run| run($f, args))
            },
            map: |args| {
                #[allow(unused_imports)]
                use $crate::pool::__shapes::{MapShape as _, NotMapShape as _};
                (&$crate::targets::probe(&$f))
                    .map_runner()
                    .map(|run| run($f, args))
            },
            try_map: |args| {
                #[allow(unused_imports)]
                use $crate::pool::__shapes::{NotTryMapShape as _, TryMapShape as _};
                (&$crate::targets::probe(&$f))
                    .try_map_runner()
                    .map(|run| run($f, args))
            },
            pair: |args| {
                #[allow(unused_imports)]
                use $crate::pool::__shapes::{NotPairShape as _, PairShape as _};
                (&$crate::targets::probe(&$f))
                    .pair_runner()
                    .map(|run| run($f, args))
            },
        }
    };
}

/// Declares the program's table of targets and calls [`crate::init()`] with it: the first
/// line of `main`. `multiproc::init!(worker, square, ..some_lib::TARGETS)`; with nothing
/// listed, `multiproc::init!()`. See [the module](mod@crate::targets).
#[macro_export]
macro_rules! init {
    ($($listed:tt)*) => {{
        $crate::targets!(static __MULTIPROC_PROGRAM_TARGETS = [$($listed)*]);
        $crate::init(&__MULTIPROC_PROGRAM_TARGETS)
    }};
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

/// Carries a function's type and signature to the traits that say how it can run.
#[doc(hidden)]
pub struct Probe<F, S>(PhantomData<(F, S)>);

/// Implemented by a function for its one signature, so that [`probe`] finds it.
#[doc(hidden)]
pub trait Signature<S> {}
impl<F: Fn(A) -> R, A, R> Signature<fn(A) -> R> for F {}
impl<F: Fn(A, B) -> R, A, B, R> Signature<fn(A, B) -> R> for F {}

#[doc(hidden)]
pub fn probe<F: Signature<S>, S>(_: &F) -> Probe<F, S> {
    Probe(PhantomData)
}

/// A function that can be a process target.
#[doc(hidden)]
pub trait ProcessShape<F> {
    fn process_runner(&self) -> Option<fn(F, Vec<u8>) -> Outcome>;
}
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

/// Any other function.
#[doc(hidden)]
pub trait NotProcessShape<F> {
    fn process_runner(&self) -> Option<fn(F, Vec<u8>) -> Outcome>;
}
impl<F, S> NotProcessShape<F> for &Probe<F, S> {
    fn process_runner(&self) -> Option<fn(F, Vec<u8>) -> Outcome> {
        None
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

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x: u64) -> u64 {
        x * x
    }
    fn greet(name: String) -> Result<(), String> {
        if name.is_empty() {
            Err("no name".into())
        } else {
            Ok(())
        }
    }
    fn add(a: u32, b: u32) -> u32 {
        a + b
    }
    fn halve(x: u64) -> Result<u64, String> {
        if x.is_multiple_of(2) {
            Ok(x / 2)
        } else {
            Err(format!("{x} is odd"))
        }
    }

    fn wrap<T: serde::Serialize>(x: T) -> Vec<T> {
        vec![x]
    }

    crate::targets!(static MINE = [square, greet, add]);
    crate::targets!(static WITH = [halve, ..MINE]);
    crate::targets!(static GENERIC = [wrap::<u8>, wrap::<String>]);
    crate::targets!(static EMPTY = []);
    crate::targets!(static ONLY_INCLUDES = [..EMPTY, ..GENERIC]);

    #[test]
    fn a_generic_function_is_listed_per_instance_and_tables_nest() {
        assert!(EMPTY.names().is_empty());
        let names = ONLY_INCLUDES.names();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[0].contains("wrap<u8>"), "{names:?}");
        let items: Vec<TypeId> = GENERIC.entries.iter().map(|t| (t.item)()).collect();
        assert_eq!(items, [item_of(&wrap::<u8>), item_of(&wrap::<String>)]);
        assert_ne!(items[0], item_of(&wrap::<u16>));
    }

    #[test]
    fn each_function_runs_in_the_ways_its_signature_allows() {
        let names = WITH.names();
        assert_eq!(names.len(), 4);
        assert!(names[0].ends_with("::halve") && names[1].ends_with("::square"));
        let [halve, square, greet, add] = [0, 1, 2, 3].map(|i| {
            let mut all = Vec::new();
            WITH.flatten(&mut all);
            all[i]
        });
        let bytes = |v: &dyn erased::Encode| v.encode();
        let ways = |process, map, try_map, pair| Ways {
            process,
            map,
            try_map,
            pair,
        };
        assert_eq!((square.ways)(), ways(false, true, false, false));
        assert_eq!((greet.ways)(), ways(true, true, true, false));
        assert_eq!((add.ways)(), ways(false, false, false, true));
        assert_eq!((halve.ways)(), ways(false, true, true, false));
        assert!((square.process)(bytes(&3u64)).is_none());
        assert!((square.map)(bytes(&vec![3u64])).is_some());
        assert!((square.pair)(bytes(&vec![(1u64, 2u64)])).is_none());
        assert!(matches!(
            (greet.process)(bytes(&String::new())),
            Some(Outcome::Failed(Failure::Error(m))) if m == "no name"
        ));
        assert!(matches!(
            (greet.process)(bytes(&"bob".to_string())),
            Some(Outcome::Returned)
        ));
        assert!((add.pair)(bytes(&vec![(1u32, 2u32)])).is_some());
        assert!((add.map)(bytes(&vec![1u32])).is_none());
        assert!((halve.try_map)(bytes(&vec![4u64])).is_some());
        // A Result is a value too: `map` carries it whole.
        assert!((halve.map)(bytes(&vec![4u64])).is_some());
        assert!((halve.process)(bytes(&4u64)).is_none());
    }

    #[test]
    fn a_function_is_known_by_its_own_type() {
        assert_eq!((MINE.entries[0].item)(), item_of(&square));
        assert_ne!((MINE.entries[0].item)(), item_of(&halve));
        // Two closures with the same code are two types.
        let (a, b) = (|x: u64| x, |x: u64| x);
        assert_ne!(item_of(&a), item_of(&b));
    }

    fn not_listed(x: u64) -> u64 {
        x
    }

    #[test]
    fn a_worker_runs_only_what_the_table_lists_in_the_way_asked() {
        install(&[&WITH]);
        let bytes = |v: &dyn erased::Encode| v.encode();
        // An index past the table is refused, whatever the bytes say.
        for index in [4, 5, u32::MAX] {
            let refused = process_target(index).map(|_| ());
            assert!(
                refused
                    .as_ref()
                    .is_err_and(|why| why.contains(&format!("target number {index}"))
                        && why.contains("lists 4")),
                "{refused:?}"
            );
            assert!(run_chunk_at(index, Shape::Map, bytes(&vec![3u64])).is_err());
        }
        // A listed function asked to run in a way its signature does not allow is refused.
        let square = index_of::<fn(u64) -> u64>(Shape::Map).err();
        assert!(
            square.is_some(),
            "a function pointer type is not a listed function"
        );
        let at = index_of_item(item_of(&super::tests::square)).expect("square is listed");
        let refused = run_chunk_at(at, Shape::Pair, bytes(&vec![(1u64, 2u64)]));
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("square cannot be a pool task over pairs")),
            "{refused:?}"
        );
        let refused = process_target(at).map(|_| ());
        assert!(
            refused
                .as_ref()
                .is_err_and(|why| why.contains("cannot be a process target")),
            "{refused:?}"
        );
        let greet = index_of_item(item_of(&super::tests::greet)).expect("greet is listed");
        assert!(process_target(greet).is_ok());
        // Bytes of the wrong type are a codec error, not a call.
        assert!(run_chunk_at(at, Shape::Map, vec![0xff; 3]).is_err());
        let out = run_chunk_at(at, Shape::Map, bytes(&vec![3u64, 4])).expect("runs");
        assert!(!out.is_empty());
        // And in the master, what is not listed is named.
        let e = index_of_val(&not_listed, Shape::Map).expect_err("not listed");
        assert!(e.to_string().contains("tests::not_listed"), "{e}");
        let e = index_of_val(&|x: u64| x, Shape::Map).expect_err("a closure");
        assert!(e.to_string().contains("a closure"), "{e}");
        assert_ne!(fingerprint(), 0);
    }

    fn index_of_val<F: 'static>(_: &F, shape: Shape) -> Result<u32, Error> {
        index_of::<F>(shape)
    }

    fn index_of_item(item: TypeId) -> Option<u32> {
        TABLE.get()?.by_item.get(&item).copied()
    }

    mod erased {
        pub trait Encode {
            fn encode(&self) -> Vec<u8>;
        }
        impl<T: serde::Serialize> Encode for T {
            fn encode(&self) -> Vec<u8> {
                crate::codec::encode_value(self).expect("encodes")
            }
        }
    }
}

//! Python's `multiprocessing` model in Rust, with real operating-system processes.
//!
//! A [`Process`] runs a function in a child process of its own: a fresh copy of the running
//! program, re-executed, or forked from a clean re-executed server ([`context`]: the
//! `forkserver` start method), never a fork of the running program; with its own memory and its
//! own pid. Processes
//! talk over [`pipe`]s: each end is a [`Connection`] that sends and receives whole serde values.
//!
//! ```rust,standalone_crate
//! use multiproc::{Connection, Process};
//!
//! fn worker(mut conn: Connection) -> Result<(), multiproc::Error> {
//!     let n: u64 = conn.recv()?;
//!     conn.send(&(n * n))
//! }
//!
//! fn main() -> Result<(), multiproc::Error> {
//!     multiproc::init!(worker); // in a worker, runs its target and exits: keep it first in main
//!     let (mut here, there) = multiproc::pipe()?;
//!     let mut p = Process::new(worker, there);
//!     p.start()?;
//!     here.send(&7u64)?;
//!     let square: u64 = here.recv()?;
//!     assert_eq!(square, 49);
//!     p.join()?;
//!     Ok(())
//! }
//! ```
//!
//! A [`Queue`] is a first-in, first-out queue that any number of processes put into and take
//! from, handed to children like any other argument. [`wait()`] watches connections, queues,
//! processes and signals at once; [`supervise`] stops a set of children in order.
//!
//! # Testing code that starts processes
//! A child is a fresh copy of the program, so the program must call [`init!`] (or
//! [`init()`]) before anything else, listing the functions children may run ([`mod@targets`]).
//! The standard test harness owns `main`, and a `#[test]` function cannot be a worker:
//! the re-executed test binary would run the test harness again instead of the target. A test
//! that starts processes lives in a test binary with `harness = false` in `Cargo.toml` and a
//! `main` of its own that calls `init!` first (this crate's tests use `libtest-mimic` to keep
//! the usual test-runner interface). Starting a process without `init!` having run is
//! refused with an error ([`ErrorKind::Misuse`]) rather than running the program again.
//!
//! # Layers
//! Each module depends only on those listed before it:
//! - `os` (private): every `unsafe` block of the crate: pipes, spawning, the forkserver,
//!   descriptor checks, process descriptors, and shared memory with its robust
//!   mutexes, semaphores and futexes;
//! - `start` (private, re-exported by [`context`]): the start method chosen for the program;
//! - [`codec`]: the wire format, the one module that names bincode;
//! - `handover` (private): descriptors and shared memory carried inside a child's
//!   arguments;
//! - [`wait`](mod@wait), [`connection`] (`Pipe`, `Connection`), [`queue`] (`Queue`);
//! - [`mod@targets`]: the table of functions a child may run;
//! - [`process`] (`Process`, the child registry) and the worker bootstrap ([`init()`]);
//! - [`pool`] (`Pool`), then [`context`] (`get_context`: processes and pools with a chosen
//!   start method);
//! - [`signals`] and [`supervise`]: stopping children in order.
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod bootstrap;
pub mod codec;
pub mod connection;
pub mod context;
mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
mod handover;
mod holders;
pub mod limits;
mod os;
pub mod pool;
pub mod process;
pub mod queue;
mod shared;
pub mod shm_channel;
pub mod signals;
mod start;
pub mod supervise;
pub mod sync;
pub mod targets;
pub mod value;
pub mod wait;

pub use bootstrap::{CurrentProcess, current_process};
pub use connection::{Connection, pipe, pipe_oneway};
pub use context::get_context;
pub use error::{Error, ErrorKind, Result, Shortfall, SystemLimit};
pub use os::shm::SharedData;
pub use process::{ChildInfo, Process, active_children, cpu_count};
pub use queue::Queue;
pub use shm_channel::{ShmConnection, shm_pipe};
pub use start::{StartMethod, get_start_method, set_start_method};
pub use targets::{Failure, TargetOutput, Targets};
pub use value::{Array, ArrayGuard, Value, ValueGuard};
pub use wait::{Waitable, wait};

/// Turns this process into a worker if it was started as one; otherwise returns at once.
///
/// Call it first thing in `main`, before parsing arguments or starting threads: it is the
/// Rust form of Python's `if __name__ == '__main__':`. In a worker it runs the target it was
/// sent and exits the process: 0 when the target returned normally, 1 when it returned an
/// error or panicked (the reason goes back to the parent, see [`crate::Process::failure`]),
/// 2 when the worker was not started by a master of this same program.
///
/// `targets` lists the functions children may run ([`mod@targets`]); [`init!`] declares the
/// table and calls this in one line.
///
/// ```no_run
/// fn work(n: u64) {
///     println!("{n}");
/// }
///
/// fn main() {
///     multiproc::init!(work); // multiproc::init(&TARGETS) for a table declared elsewhere
///     // ... the master's program ...
/// }
/// ```
pub fn init(targets: &'static Targets) {
    targets::install(&[&pool::TARGETS, targets]);
    bootstrap::init();
}

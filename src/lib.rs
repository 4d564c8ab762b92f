//! Python's `multiprocessing` model in Rust, with real operating-system processes.
//!
//! A [`Process`] runs a function in a child process of its own: a fresh copy of the running
//! program, re-executed (never a bare `fork`), with its own memory and its own pid. Processes
//! talk over [`pipe`]s: each end is a [`Connection`] that sends and receives whole serde values.
//!
//! ```no_run
//! use multiproc::{Connection, Process};
//!
//! fn worker(mut conn: Connection) -> Result<(), multiproc::Error> {
//!     let n: u64 = conn.recv()?;
//!     conn.send(&(n * n))
//! }
//!
//! fn main() -> Result<(), multiproc::Error> {
//!     multiproc::init(); // in a worker, runs its target and exits: keep it first in main
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
//! from, handed to children like any other argument.
//!
//! # Testing code that starts processes
//! A child is a fresh copy of the program, so the program must call [`init`] before anything
//! else. The standard test harness owns `main`; a test binary that starts processes sets
//! `harness = false` and calls `init()` first in its own `main` (this crate's own tests use
//! `libtest-mimic` to keep the usual test-runner interface). Starting a process without
//! `init()` having run is refused with an error rather than running the program again.
//!
//! # Layers
//! - `os` (private): every `unsafe` block of the crate: pipes, spawning, descriptor checks,
//!   process descriptors, code offsets, and shared memory with its robust mutexes.
//! - The runtime: [`codec`] (the wire format), [`connection`] (`Pipe`, `Connection`),
//!   [`queue`] (`Queue`, shared by any number of processes), [`process`] (`Process`, the child
//!   registry), [`signals`], and the worker bootstrap ([`init`]).
//! - [`pi`]: the midpoint-rule computation of pi that the `pi-master` tool distributes.
//! - [`ipc_bench`]: the measurements behind the `ipc-bench` tool.
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod bootstrap;
pub mod codec;
pub mod connection;
mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod ipc_bench;
mod os;
pub mod pi;
pub mod process;
pub mod queue;
pub mod signals;

pub use bootstrap::{CurrentProcess, Failure, TargetOutput, current_process, init};
pub use connection::{Connection, Waitable, pipe, pipe_oneway, wait};
pub use error::{Error, Result};
pub use process::{ChildInfo, Process, active_children, cpu_count};
pub use queue::Queue;

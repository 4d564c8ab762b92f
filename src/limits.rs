//! The system's limits a master meets when it starts many processes: open descriptors
//! (`ulimit -n`) and processes per user (`ulimit -u`).
//!
//! A master that knows how many workers it will start checks both first
//! ([`ensure_descriptors`], [`ensure_processes`]), so that a run that cannot fit fails before
//! any worker starts, with a message naming the limit, what the run needs and the `ulimit` to
//! give, instead of failing at worker 252 with "Too many open files". The soft descriptor
//! limit is raised up to the hard one when that is enough, as many runtimes do at start.
//!
//! ```
//! use multiproc::limits;
//! // Room for 100 processes, each with one duplex pipe to its master.
//! let per = limits::DESCRIPTORS_PER_PROCESS + limits::DESCRIPTORS_PER_CONNECTION;
//! limits::ensure_descriptors(100 * per)?;
//! # Ok::<(), multiproc::Error>(())
//! ```

use crate::error::{Error, Result, Shortfall};
use crate::os;

/// Descriptors the master holds for each started [`crate::Process`] while it lives: its
/// process descriptor and the pipe its exit status comes on.
pub const DESCRIPTORS_PER_PROCESS: u64 = 2;

/// Descriptors the master holds for each duplex [`crate::Connection`] it keeps (one pipe
/// end each way).
pub const DESCRIPTORS_PER_CONNECTION: u64 = 2;

/// The processes and threads the runtime will still start, on top of the children themselves,
/// in a process about to start children: the thread that spawns every child, and the
/// forkserver when the program's start method is `forkserver`, each unless it runs already.
/// Threads count against `ulimit -u` as processes do. Counting only what is still to come
/// keeps a check's arithmetic the same before and after they start.
pub fn runtime_processes_to_come() -> u64 {
    let keeper = u64::from(!os::keeper_started());
    let server = u64::from(
        crate::start::get_start_method() == crate::start::StartMethod::Forkserver
            && os::forkserver::server_pid().is_none(),
    );
    keeper + server
}

/// Threads a [`crate::pool::Pool`] runs on top of its workers (the pool thread).
pub const THREADS_PER_POOL: u64 = 1;

/// Descriptors a start needs for a moment on top of those that stay open (its boot pipe,
/// the duplicates of the ends it hands over).
pub const DESCRIPTORS_WHILE_STARTING: u64 = 8;

/// Makes sure `more` descriptors can be opened on top of those open now: raises the soft
/// limit (up to the hard one) when needed; otherwise fails with
/// [`crate::ErrorKind::LimitReached`] and a message saying what is needed and how to allow it.
pub fn ensure_descriptors(more: u64) -> Result<()> {
    let limits = os::descriptor_limits().map_err(|e| Error::io("cannot read ulimit -n", e))?;
    let open = os::open_descriptors().map_err(|e| Error::io("cannot count open descriptors", e))?;
    let needed = open + more + DESCRIPTORS_WHILE_STARTING;
    let (soft, hard) = limits;
    if needed <= soft {
        return Ok(());
    }
    if needed <= hard {
        return os::set_descriptor_limit(hard.min(needed.max(soft * 2)))
            .map_err(|e| Error::io("cannot raise ulimit -n", e));
    }
    Err(Error::short_of(Shortfall::Descriptors {
        needed,
        open,
        more,
        soft,
        hard,
    }))
}

/// Makes sure `more` processes (or threads: count [`runtime_processes_to_come`] and
/// [`THREADS_PER_POOL`] in) can be started without passing the limit on processes of this user
/// (`ulimit -u`, which counts every process and thread the user runs, here and elsewhere); fails with [`crate::ErrorKind::LimitReached`] and a message saying how many run
/// and how to allow more. Root is not held to that limit, and not checked.
pub fn ensure_processes(more: u64) -> Result<()> {
    let Some(limit) = os::process_limit() else {
        return Ok(());
    };
    let running = os::processes_of_this_user()
        .map_err(|e| Error::io("cannot count this user's processes", e))?;
    if running + more <= limit {
        return Ok(());
    }
    Err(Error::short_of(Shortfall::Processes {
        more,
        limit,
        running,
    }))
}

//! Worker bootstrap: how a re-executed copy of the program becomes a worker.
//!
//! [`crate::Process::start`] runs `/proc/self/exe` again with the command line
//! `PROGRAM --multiproc-worker MASTER_PID NAME`, so `ps` shows every worker for what it is, and
//! with these descriptors:
//!
//! | fd | what |
//! |----|------|
//! | 3  | boot pipe, read end: one frame from the master with the target and its arguments |
//! | 4  | status pipe, write end: one frame back with how the target ended |
//! | 5… | descriptors of the connections passed in the arguments, in the order packed |
//!
//! [`init()`], called first thing in `main`, recognises that command line and never returns in a
//! worker. Before trusting anything it checks that the process's parent is the master named on
//! the command line (and arms `PR_SET_PDEATHSIG`, so the worker dies with its master), that
//! descriptors 3 and 4 are pipe ends of the right direction, that the boot frame carries the
//! right magic, and that the master runs the very same executable file. A worker started by
//! hand, or from a shell that left other descriptors at 3 and 4, fails at once with a message
//! saying so (exit status 2).

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::fd::RawFd;
use std::panic;
use std::sync::OnceLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::connection::Connection;
use crate::handover;
use crate::os::{self, FdKind};
use crate::targets::{self, Failure, Outcome};

/// The command-line flag that marks a worker.
pub(crate) const WORKER_FLAG: &str = "--multiproc-worker";
const BOOT_FD: RawFd = os::FIRST_CHILD_FD;
const STATUS_FD: RawFd = os::FIRST_CHILD_FD + 1;
const FIRST_HANDED_FD: RawFd = os::FIRST_CHILD_FD + 2;
// v2: the target is an index into the program's table, with the table's fingerprint.
const MAGIC: [u8; 8] = *b"mproc\0v2";
/// How long a worker waits for its boot frame before deciding nobody is going to send one.
const BOOT_TIMEOUT: Duration = Duration::from_secs(10);

/// The first frame a worker receives.
#[derive(Serialize, Deserialize)]
pub(crate) struct Boot {
    pub(crate) magic: [u8; 8],
    pub(crate) exe: (u64, u64),
    /// The target's place in the program's table of targets.
    pub(crate) target: u32,
    /// The table's fingerprint: the worker's must be the same.
    pub(crate) table: u64,
    pub(crate) name: String,
    pub(crate) handed: Vec<FdKind>,
    pub(crate) args: Vec<u8>,
}

impl Boot {
    pub(crate) fn new(
        target: u32,
        name: String,
        handed: Vec<FdKind>,
        args: Vec<u8>,
    ) -> std::io::Result<Self> {
        Ok(Boot {
            magic: MAGIC,
            exe: exe_identity()?,
            target,
            table: targets::fingerprint(),
            name,
            handed,
            args,
        })
    }
}

fn exe_identity() -> std::io::Result<(u64, u64)> {
    static IDENTITY: OnceLock<(u64, u64)> = OnceLock::new();
    if let Some(id) = IDENTITY.get() {
        return Ok(*id);
    }
    let id = os::exe_identity()?;
    Ok(*IDENTITY.get_or_init(|| id))
}

/// Who this process is, as [`current_process`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentProcess {
    /// `"MainProcess"` in a program started normally, the name given to the [`crate::Process`]
    /// in a worker.
    pub name: String,
    /// This process's id.
    pub pid: u32,
    /// The master's pid, in a worker.
    pub parent_pid: Option<u32>,
}

impl CurrentProcess {
    /// Whether this process is a worker started by [`crate::Process::start`].
    pub fn is_worker(&self) -> bool {
        self.parent_pid.is_some()
    }
}

static WORKER_IDENTITY: OnceLock<(String, u32)> = OnceLock::new();

static INIT_CALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether [`init()`] has run in this process. Starting a process without it would re-execute a
/// program that does not know it is a worker: it would run the master's code again, and start
/// workers of its own.
pub(crate) fn init_was_called() -> bool {
    INIT_CALLED.load(std::sync::atomic::Ordering::SeqCst)
}

/// The process this code runs in, like Python's `multiprocessing.current_process()`.
///
/// ```
/// let me = multiproc::current_process();
/// assert_eq!(me.name, "MainProcess");
/// assert_eq!(me.pid, std::process::id());
/// assert!(!me.is_worker());
/// ```
pub fn current_process() -> CurrentProcess {
    match WORKER_IDENTITY.get() {
        Some((name, parent)) => CurrentProcess {
            name: name.clone(),
            pid: std::process::id(),
            parent_pid: Some(*parent),
        },
        None => CurrentProcess {
            name: "MainProcess".to_string(),
            pid: std::process::id(),
            parent_pid: None,
        },
    }
}

/// What [`crate::init()`] does once the program's table is installed.
pub(crate) fn init() {
    INIT_CALLED.store(true, std::sync::atomic::Ordering::SeqCst);
    // A shell's `trap '' CHLD` is inherited across exec: undo it, or children's statuses
    // are reaped by the kernel and lost.
    os::restore_sigchld();
    let mut args = std::env::args_os();
    let program = args.next().unwrap_or_default();
    let flag = args.next();
    if flag.as_deref() == Some(OsStr::new(os::forkserver::SERVER_FLAG)) {
        let rest: Vec<OsString> = args.collect();
        let reason = run_forkserver(&rest);
        eprintln!(
            "{}: refusing to run as a forkserver: {reason}.\n\
             `{}` is used only by a master process starting a copy of itself.",
            program.to_string_lossy(),
            os::forkserver::SERVER_FLAG
        );
        std::process::exit(2);
    }
    if flag.as_deref() != Some(OsStr::new(WORKER_FLAG)) {
        return;
    }
    let rest: Vec<OsString> = args.collect();
    let code = match run_worker(&rest) {
        Ok(code) => code,
        Err(reason) => {
            eprintln!(
                "{}: refusing to run as a worker: {reason}.\n\
                 `{WORKER_FLAG}` is used only by a master process starting a copy of itself; \
                 run the program without it.",
                program.to_string_lossy()
            );
            2
        }
    };
    std::process::exit(code);
}

/// The forkserver (see [`crate::context`]): checks that it was started by the master named on
/// its command line and that descriptor 3 is a socket, then serves that master until it goes.
/// Returns only to say why it cannot serve.
fn run_forkserver(rest: &[OsString]) -> String {
    let [parent] = rest else {
        return format!(
            "expected `{} MASTER_PID`, got {} argument(s) after the flag",
            os::forkserver::SERVER_FLAG,
            rest.len()
        );
    };
    let parent = match master_pid(parent) {
        Ok(pid) => pid,
        Err(e) => return e,
    };
    if let Err(e) = os::die_with_parent(parent) {
        return e;
    }
    let sock = match os::adopt_inherited(BOOT_FD, FdKind::Socket) {
        Ok(sock) => sock,
        Err(e) => return e,
    };
    if let Err(e) = os::close_strays_from(BOOT_FD + 1) {
        return format!("cannot close the descriptors it should not hold: {e}");
    }
    // Looked up once here: the workers are forks of this process and inherit it.
    if let Err(e) = exe_identity() {
        return format!("cannot stat /proc/self/exe: {e}");
    }
    os::forkserver::serve(sock, parent, run_forked_worker)
}

/// What a worker forked by the forkserver runs: the same bootstrap as a spawned one.
fn run_forked_worker(parent: i32, name: OsString) -> i32 {
    match run_worker_of(parent, &name) {
        Ok(code) => code,
        Err(reason) => {
            eprintln!(
                "forked worker {}: cannot start: {reason}",
                name.to_string_lossy()
            );
            2
        }
    }
}

fn master_pid(text: &OsStr) -> Result<i32, String> {
    text.to_str()
        .and_then(|p| p.parse().ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("`{}` is not a master pid", text.to_string_lossy()))
}

fn run_worker(rest: &[OsString]) -> Result<i32, String> {
    let [parent, name] = rest else {
        return Err(format!(
            "expected `{WORKER_FLAG} MASTER_PID NAME`, got {} argument(s) after the flag",
            rest.len()
        ));
    };
    run_worker_of(master_pid(parent)?, name)
}

/// A worker's life once it knows its master and name, however it was started.
fn run_worker_of(parent: i32, name: &OsStr) -> Result<i32, String> {
    os::die_with_parent(parent)?;
    let boot_fd = os::adopt_inherited(BOOT_FD, FdKind::Read)?;
    let status_fd = os::adopt_inherited(STATUS_FD, FdKind::Write)?;

    let mut boot_conn = Connection::from_fds(Some(boot_fd), None);
    boot_conn.set_max_frame(codec::MAX_FRAME_LIMIT);
    if !boot_conn
        .poll(Some(BOOT_TIMEOUT))
        .map_err(|e| e.to_string())?
    {
        return Err(format!(
            "no start-up message from the master within {} s",
            BOOT_TIMEOUT.as_secs()
        ));
    }
    let boot: Boot = boot_conn
        .recv()
        .map_err(|e| format!("bad start-up message on descriptor {BOOT_FD}: {e}"))?;
    drop(boot_conn);
    if boot.magic != MAGIC {
        return Err("the start-up message is not from a compatible master".into());
    }
    if OsStr::new(&boot.name) != name {
        return Err("the start-up message is for another worker".into());
    }
    let me = exe_identity().map_err(|e| format!("cannot stat /proc/self/exe: {e}"))?;
    if boot.exe != me {
        return Err("the master runs a different executable file than this worker".into());
    }
    // Only an entry of this program's own table runs: the index is checked against it
    // (a forged message can name a listed function, nothing else), then the whole table
    // against the master's.
    let run = targets::process_target(boot.target)?;
    if boot.table != targets::fingerprint() {
        return Err(
            "the master lists other functions in its table of targets than this \
                    worker (multiproc::init! must list the same ones on every run)"
                .into(),
        );
    }
    let mut handed = Vec::with_capacity(boot.handed.len());
    for (i, end) in boot.handed.iter().enumerate() {
        handed.push(Some((
            os::adopt_inherited(FIRST_HANDED_FD + i as RawFd, *end)?,
            *end,
        )));
    }
    // Nothing else of the master's: it may have inherited descriptors without close-on-exec.
    os::close_strays_from(FIRST_HANDED_FD + handed.len() as RawFd)
        .map_err(|e| format!("cannot close the descriptors it should not hold: {e}"))?;
    handover::provide(handed);
    let _ = WORKER_IDENTITY.set((boot.name, parent as u32));

    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if let Some(loc) = info.location() {
            targets::remember_panic_location(loc.to_string());
        }
        default_hook(info);
    }));

    let outcome = run(boot.args).unwrap_or_else(|| {
        Outcome::Failed(Failure::BadArguments(
            "it cannot be a process target".into(),
        ))
    });
    handover::provide(Vec::new());
    let _ = std::io::stdout().flush();
    // Said where people look, as Python prints a child's traceback (a panic was printed
    // by the panic hook already); the parent gets it through `failure()` as well.
    if let Outcome::Failed(failure @ (Failure::Error(_) | Failure::BadArguments(_))) = &outcome {
        let name = current_process().name;
        eprintln!("Process {name} (pid {}) {failure}", std::process::id());
    }
    let code = match outcome {
        Outcome::Returned => 0,
        Outcome::Failed(_) => 1,
    };
    let mut status = Connection::from_fds(None, Some(status_fd));
    // The parent may already be gone; there is no one left to tell then.
    let _ = status.send(&outcome);
    Ok(code)
}

//! `Process`: a function run in a child process of its own.
//!
//! A [`Process`] pairs a target function with serde arguments, like Python's
//! `Process(target=f, args=(...))`. [`Process::start`] re-executes the running program as a
//! worker (see [`crate::init()`]), sends it the target and arguments, and returns at once; the
//! parent keeps running. The child has its own memory: what it changes, the parent never sees,
//! unless it sends it back over a [`crate::Connection`].
//!
//! Every child is remembered in a registry of this process's children, so that
//! [`active_children`] can list the live ones and an exit status is never lost between two
//! observers.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::fd::AsFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bootstrap::{self, Boot, WORKER_FLAG};
use crate::codec;
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::handover;
use crate::os;
use crate::start::StartMethod;
use crate::targets::{self, Failure, Outcome, Shape, TargetOutput};

/// The number of CPUs this process may run on: its affinity mask and any cgroup quota taken
/// into account (so `taskset -c 0 prog` sees 1). At least 1.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A live child of this process, as listed by [`active_children`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildInfo {
    /// Its process id.
    pub pid: u32,
    /// Its [`Process::name`].
    pub name: String,
}

/// The children started by this process that have not exited yet, like Python's
/// `multiprocessing.active_children()`. Exited children are noted as such (and reaped, so no
/// zombie stays), but their exit status stays available to their [`Process`].
pub fn active_children() -> Vec<ChildInfo> {
    let mut registry = lock_registry();
    let pids: Vec<i32> = registry.keys().copied().collect();
    let mut alive = Vec::new();
    for pid in pids {
        if reap_locked(&mut registry, pid).is_none() {
            alive.push(ChildInfo {
                pid: pid as u32,
                name: registry[&pid].name.clone(),
            });
        }
    }
    alive
}

struct RegistryEntry {
    name: String,
    exitcode: Option<i32>,
}

static REGISTRY: Mutex<BTreeMap<i32, RegistryEntry>> = Mutex::new(BTreeMap::new());

fn lock_registry() -> std::sync::MutexGuard<'static, BTreeMap<i32, RegistryEntry>> {
    // A panic while holding the lock leaves the map consistent (every update is one insert).
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

/// The exit code of `pid` if it has exited, reaping it if nobody has yet: the exit status, or
/// minus the signal number that killed it (Python's convention).
fn reap_locked(registry: &mut BTreeMap<i32, RegistryEntry>, pid: i32) -> Option<i32> {
    let entry = registry.get_mut(&pid)?;
    if entry.exitcode.is_some() {
        return entry.exitcode;
    }
    loop {
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => entry.exitcode = Some(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => entry.exitcode = Some(-(sig as i32)),
            Ok(WaitStatus::StillAlive) => return None,
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            // Not our child any more (someone else reaped it, e.g. SIGCHLD set to SIG_IGN):
            // its status is lost; report it as gone rather than alive for ever.
            Err(_) => entry.exitcode = Some(-1),
        }
        return entry.exitcode;
    }
}

fn exitcode_of(pid: i32) -> Option<i32> {
    reap_locked(&mut lock_registry(), pid)
}

/// Packs a process's arguments when it starts; erases their type.
trait PackArgs: Send {
    fn pack(self: Box<Self>) -> Result<Vec<u8>>;
}

struct Args<A>(A);

impl<A: Serialize + Send> PackArgs for Args<A> {
    fn pack(self: Box<Self>) -> Result<Vec<u8>> {
        codec::encode_value(&self.0)
    }
}

struct Child {
    pid: i32,
    /// Readable once the child has exited; `None` on kernels without `pidfd_open` (< 5.3).
    pidfd: Option<std::os::fd::OwnedFd>,
    status: Connection,
    status_closed: bool,
    outcome: Option<Outcome>,
}

/// A function to be run in a child process, like Python's `multiprocessing.Process`.
///
/// ```rust,standalone_crate
/// use multiproc::Process;
///
/// fn greet(name: String) {
///     println!("hello {name} from pid {}", std::process::id());
/// }
///
/// fn fail(code: i32) {
///     std::process::exit(code);
/// }
///
/// fn main() -> Result<(), multiproc::Error> {
///     multiproc::init!(fail, greet); // a worker runs its target here and exits
///     let mut p = Process::new(greet, "bob".to_string()).with_name("greeter");
///     p.start()?;
///     assert_ne!(p.pid(), Some(std::process::id()));
///     assert_eq!(p.join()?, 0);
///
///     let mut q = Process::new(fail, 3);
///     q.start()?;
///     assert_eq!(q.join()?, 3);
///     Ok(())
/// }
/// ```
///
/// # Dropping
/// Dropping a `Process` that was started and has not been joined kills the child (`SIGKILL`)
/// and reaps it, so no child and no zombie outlives its handle. Call [`Process::join`] to wait
/// for it instead, or [`Process::terminate`] to ask it to stop.
///
/// # Thread of the parent
/// A child is armed to die with the *thread* that started it (Linux's `PR_SET_PDEATHSIG`
/// follows the creating thread). Start processes from a thread that outlives them, such as
/// the main thread.
#[must_use = "a Process does nothing until started, and is killed when dropped"]
pub struct Process {
    name: String,
    start_method: Option<StartMethod>,
    /// Finds the target in the program's table (when started: the table is installed by
    /// `init`, which may come after `new`).
    find_target: fn() -> Result<u32>,
    args: Option<Box<dyn PackArgs>>,
    child: Option<Child>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.pid())
            .field("exitcode", &self.exitcode())
            .finish()
    }
}

static NEXT_PROCESS: AtomicUsize = AtomicUsize::new(1);

impl Process {
    /// A process that will run `target(args)`. `target` must be a named function listed in
    /// the program's table of targets ([`crate::init!`], [`mod@crate::targets`]): only its place
    /// in that table travels to the child, and the arguments travel as bytes,
    /// [`crate::Connection`]s included. A function not listed is refused by
    /// [`Process::start`], with an error naming it.
    pub fn new<F, A, R>(target: F, args: A) -> Process
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: TargetOutput + 'static,
    {
        targets::must_be_named(&target);
        Process {
            name: format!("Process-{}", NEXT_PROCESS.fetch_add(1, Ordering::Relaxed)),
            start_method: None,
            find_target: || targets::index_of::<F>(Shape::Process),
            args: Some(Box::new(Args(args))),
            child: None,
        }
    }

    /// Sets the name the child sees in [`crate::current_process`] and `ps` shows on its
    /// command line (default `Process-N`).
    pub fn with_name(mut self, name: impl Into<String>) -> Process {
        self.name = name.into();
        self
    }

    /// Starts this process with `method` rather than the program's
    /// ([`crate::context::set_start_method`]).
    pub fn with_start_method(mut self, method: StartMethod) -> Process {
        self.start_method = Some(method);
        self
    }

    /// The method this process starts (or started) with.
    pub fn start_method(&self) -> StartMethod {
        self.start_method
            .unwrap_or_else(crate::start::get_start_method)
    }

    /// The process's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts the child and returns as soon as it runs; the parent goes on in parallel.
    ///
    /// The arguments are packed and then dropped here, so connections passed to the child are
    /// closed in the parent (the child holds the only copies). A process starts once.
    pub fn start(&mut self) -> Result<()> {
        if !bootstrap::init_was_called() {
            return Err(Error::misuse(
                "multiproc::init!(…) must be called at the top of main before any process is \
                 started (a child is a fresh copy of this program, and init! is how it knows it \
                 is one, and what it may run)",
            ));
        }
        // Before the arguments are taken: a function not listed leaves the process as it was.
        let target = (self.find_target)()?;
        let args = self
            .args
            .take()
            .ok_or_else(|| Error::misuse(format!("{} was already started", self.name)))?;
        static RAISED: std::sync::Once = std::sync::Once::new();
        RAISED.call_once(os::raise_fd_limit);

        let (packed, mut handed) = handover::collect(|| args.pack());
        if let Some(e) = handed.dup_failed.take() {
            return Err(Error::io(
                format!("cannot hand a descriptor to process {}", self.name),
                e,
            ));
        }
        let packed = packed?;
        let boot = Boot::new(
            target,
            self.name.clone(),
            handed.fds.iter().map(|(_, end)| *end).collect(),
            packed,
        )
        .map_err(|e| Error::io("cannot stat /proc/self/exe", e))?;

        let pipe_err = |e| Error::io("cannot create a pipe for a new process", e);
        let (boot_read, boot_write) = os::pipe().map_err(pipe_err)?;
        let (status_read, status_write) = os::pipe().map_err(pipe_err)?;
        let mut fds = vec![boot_read.as_fd(), status_write.as_fd()];
        fds.extend(handed.fds.iter().map(|(fd, _)| fd.as_fd()));
        let argv: Vec<OsString> = vec![
            std::env::args_os()
                .next()
                .unwrap_or_else(|| "worker".into()),
            WORKER_FLAG.into(),
            std::process::id().to_string().into(),
            self.name.clone().into(),
        ];
        // Spawned outside the registry lock, so other threads' `is_alive` and `join` are not
        // held up by an exec; nobody else reaps a pid that is not registered yet.
        let method = self.start_method();
        self.start_method = Some(method);
        let started = match method {
            StartMethod::Spawn => os::spawn_self(&argv, &fds),
            StartMethod::Forkserver => os::forkserver::start_forked(&self.name, &fds),
        };
        let pid = started
            .map_err(|e| {
                let through = match method {
                    StartMethod::Spawn => "",
                    StartMethod::Forkserver => " through the forkserver",
                };
                Error::io_starting(format!("cannot start process {}{through}", self.name), e)
            })?
            .as_raw();
        lock_registry().insert(
            pid,
            RegistryEntry {
                name: self.name.clone(),
                exitcode: None,
            },
        );
        drop(fds);
        handed.spawned(Some(pid as u32));
        drop((boot_read, status_write, handed));
        self.child = Some(Child {
            pid,
            pidfd: os::pidfd_open(pid).ok(),
            status: Connection::from_fds(Some(status_read), None),
            status_closed: false,
            outcome: None,
        });

        let mut boot_conn = Connection::from_fds(None, Some(boot_write));
        boot_conn.set_max_frame(codec::MAX_FRAME_LIMIT);
        if let Err(e) = boot_conn.send(&boot) {
            // The child died before reading its start-up message; `join` will tell how.
            let _ = self.kill();
            let code = self.join().ok();
            return Err(Error::start_failed(format!(
                "process {} (pid {pid}) exited before it could be started ({e}); exit code {}",
                self.name,
                code.map_or("unknown".to_string(), |c| c.to_string())
            )));
        }
        Ok(())
    }

    /// The child's process id, once started.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.pid as u32)
    }

    /// Whether the child has been started and has not exited.
    pub fn is_alive(&self) -> bool {
        self.child
            .as_ref()
            .is_some_and(|c| exitcode_of(c.pid).is_none())
    }

    /// The exit code once the child has exited: its exit status, or minus the number of the
    /// signal that killed it (`-9` for `SIGKILL`, `-15` for `SIGTERM`), as in Python. `None`
    /// while it runs or before it starts.
    pub fn exitcode(&self) -> Option<i32> {
        self.child.as_ref().and_then(|c| exitcode_of(c.pid))
    }

    /// Why the target failed, when the child reported it: a panic (with message and location)
    /// or an `Err` it returned. Available after [`Process::join`].
    pub fn failure(&self) -> Option<&Failure> {
        match self.child.as_ref()?.outcome.as_ref()? {
            Outcome::Failed(f) => Some(f),
            Outcome::Returned => None,
        }
    }

    /// Waits for the child to exit and returns its [`exitcode`](Process::exitcode).
    pub fn join(&mut self) -> Result<i32> {
        loop {
            if let Some(code) = self.join_timeout(Duration::from_secs(3600))? {
                return Ok(code);
            }
        }
    }

    /// Waits at most `timeout` for the child to exit: `Some(exitcode)` if it did, `None` if it
    /// is still running.
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<Option<i32>> {
        let name = self.name.clone();
        let child = self.child.as_mut().ok_or_else(|| {
            Error::misuse(format!("{name} cannot be joined before it is started"))
        })?;
        let deadline = Instant::now() + timeout;
        let mut nap = Duration::from_micros(50);
        loop {
            if let Some(code) = exitcode_of(child.pid) {
                child.drain_status();
                return Ok(Some(code));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(pidfd) = &child.pidfd {
                // Readable exactly when the child has exited; then the reap above succeeds.
                let exited = os::wait_readable(&[pidfd.as_fd()], Some(left))
                    .map_err(|e| Error::io("poll failed", e))?[0];
                if !exited {
                    return Ok(exitcode_of(child.pid));
                }
                continue;
            }
            if !child.status_closed {
                // The status pipe ends when the child exits, so waiting on it wakes us at once.
                if child.status.poll(Some(left))? {
                    child.read_status();
                    continue;
                }
            } else if !left.is_zero() {
                // The child has closed its end and is finishing its exit; this takes
                // microseconds, so a short nap is enough.
                std::thread::sleep(nap.min(left));
                nap = (nap * 2).min(Duration::from_millis(5));
                continue;
            }
            if Instant::now() >= deadline {
                return Ok(exitcode_of(child.pid));
            }
        }
    }

    /// Asks the child to stop with `SIGTERM`. Does nothing if it has already exited.
    pub fn terminate(&self) -> Result<()> {
        self.signal(Signal::SIGTERM)
    }

    /// Kills the child with `SIGKILL`. Does nothing if it has already exited.
    pub fn kill(&self) -> Result<()> {
        self.signal(Signal::SIGKILL)
    }

    fn signal(&self, sig: Signal) -> Result<()> {
        let Some(child) = &self.child else {
            return Err(Error::misuse(format!("{} has not been started", self.name)));
        };
        // Hold the registry lock so the pid cannot be reaped (and reused) between the check
        // and the signal.
        let mut registry = lock_registry();
        if reap_locked(&mut registry, child.pid).is_none() {
            match kill(Pid::from_raw(child.pid), sig) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => return Err(Error::io(format!("cannot signal {}", self.name), e)),
            }
        }
        Ok(())
    }
}

impl crate::wait::Waitable for Process {
    /// Ready once the child has finished (like Python's `Process.sentinel`).
    fn wait_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        let child = self.child.as_ref()?;
        if let Some(pidfd) = &child.pidfd {
            return Some(pidfd.as_fd());
        }
        if child.status_closed {
            return None;
        }
        child.status.reader_fd()
    }
    fn ready_now(&self) -> bool {
        self.child.as_ref().is_some_and(|c| c.status_closed)
    }
}

impl Child {
    /// Reads what is waiting on the status pipe: the outcome frame, or end of stream.
    fn read_status(&mut self) {
        match self.status.recv::<Outcome>() {
            Ok(outcome) => self.outcome = Some(outcome),
            Err(_) => self.status_closed = true,
        }
    }

    /// After the child exited: picks up an outcome it sent but nobody read yet.
    fn drain_status(&mut self) {
        while !self.status_closed && self.status.poll(Some(Duration::ZERO)).unwrap_or(false) {
            self.read_status();
        }
        self.status_closed = true;
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let Some(pid) = self.child.as_ref().map(|c| c.pid) else {
            return;
        };
        if exitcode_of(pid).is_none() {
            let _ = self.kill();
            let _ = self.join();
        }
        lock_registry().remove(&pid);
    }
}

//! Starting a fresh copy of our own executable: `posix_spawn` of `/proc/self/exe`, with a
//! chosen list of descriptors placed at fixed numbers and nothing else inherited.
#![allow(unsafe_code)]

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::spawn::{PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags, posix_spawn};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use super::FIRST_CHILD_FD;

/// Duplicates `fd` to a new close-on-exec descriptor numbered at least `min`.
fn dup_at_least(fd: BorrowedFd<'_>, min: RawFd) -> io::Result<OwnedFd> {
    let raw = fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(min))?;
    // SAFETY: F_DUPFD_CLOEXEC just returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Starts a new copy of the running executable with the given `argv` (whose first element is
/// what `ps` shows as the program name).
///
/// The spawn itself runs on a thread of the runtime's that lives as long as the process (the
/// "keeper"), whichever thread asks: a worker's `PR_SET_PDEATHSIG` fires when the *thread*
/// that started it exits, so a child started from a short-lived thread would otherwise be
/// killed as that thread ends. The caller waits for the keeper's answer.
///
/// `fds[i]` becomes descriptor `FIRST_CHILD_FD + i` in the child, without close-on-exec; every
/// other descriptor of ours is close-on-exec and so stays behind. Standard input is
/// `/dev/null` (workers must not compete with the master for the terminal); standard output
/// and error are shared. The child starts in a process group of its own, so a Ctrl-C at the
/// terminal reaches only the master, which then shuts its workers down in order; its signal
/// mask is empty and the termination signals have their default action.
pub(crate) fn spawn_self(argv: &[OsString], fds: &[BorrowedFd<'_>]) -> io::Result<Pid> {
    let argv = argv.to_vec();
    let raw: Vec<RawFd> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
    on_keeper(move || {
        // SAFETY: these descriptors are borrowed from the caller of `spawn_self`, which
        // blocks in `on_keeper` until this closure has returned: they stay open throughout.
        let fds: Vec<BorrowedFd<'_>> = raw
            .iter()
            .map(|&fd| unsafe { BorrowedFd::borrow_raw(fd) })
            .collect();
        spawn_here(&argv, &fds)
    })
}

/// A job for the keeper thread.
type Job = Box<dyn FnOnce() + Send>;

/// The keeper thread's queue of jobs, once it was started (`None` inside: it could not be).
static KEEPER: std::sync::OnceLock<Option<std::sync::Mutex<std::sync::mpsc::Sender<Job>>>> =
    std::sync::OnceLock::new();

/// Whether the keeper thread was started (it never ends once started).
pub(crate) fn keeper_started() -> bool {
    KEEPER.get().is_some()
}

/// Runs `job` on the keeper thread (started on first use, and never ending) and returns its
/// result. Should the keeper not run (a thread cannot be made), runs it here.
fn on_keeper<T: Send + 'static>(
    job: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    use std::sync::mpsc::sync_channel;
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("multiproc-keeper".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .ok()
            .map(|_| std::sync::Mutex::new(tx))
    });
    let (done, answer) = sync_channel(1);
    let job: Job = Box::new(move || {
        let _ = done.send(job());
    });
    let unsent = match keeper {
        Some(tx) => tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .err()
            .map(|back| back.0),
        None => Some(job),
    };
    if let Some(job) = unsent {
        job();
    }
    answer
        .recv()
        .unwrap_or_else(|_| Err(io::Error::other("the process-starting thread is gone")))
}

fn spawn_here(argv: &[OsString], fds: &[BorrowedFd<'_>]) -> io::Result<Pid> {
    let nul_free = |s: &std::ffi::OsStr| {
        CString::new(s.as_bytes()).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "argument contains a NUL byte")
        })
    };
    let args: Vec<CString> = argv.iter().map(|a| nul_free(a)).collect::<Result<_, _>>()?;
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();

    // dup2 actions run in order in the child, so a source must never sit on a number that an
    // earlier action overwrites. Move any source below the target range out of the way.
    let top = FIRST_CHILD_FD + fds.len() as RawFd;
    let mut moved: Vec<OwnedFd> = Vec::new();
    let mut sources: Vec<RawFd> = Vec::with_capacity(fds.len());
    for fd in fds {
        if fd.as_raw_fd() < top {
            let dup = dup_at_least(*fd, top)?;
            sources.push(dup.as_raw_fd());
            moved.push(dup);
        } else {
            sources.push(fd.as_raw_fd());
        }
    }

    let mut actions = PosixSpawnFileActions::init()?;
    actions.add_open(0, c"/dev/null", OFlag::O_RDONLY, Mode::empty())?;
    for (i, src) in sources.iter().enumerate() {
        actions.add_dup2(*src, FIRST_CHILD_FD + i as RawFd)?;
    }
    let mut attr = PosixSpawnAttr::init()?;
    attr.set_flags(
        PosixSpawnFlags::POSIX_SPAWN_SETPGROUP
            | PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK
            | PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF,
    )?;
    attr.set_pgroup(Pid::from_raw(0))?;
    attr.set_sigmask(&SigSet::empty())?;
    let mut defaults = SigSet::empty();
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGPIPE,
    ] {
        defaults.add(sig);
    }
    attr.set_sigdefault(&defaults)?;
    let pid = posix_spawn(c"/proc/self/exe", &actions, &attr, &args, &env)?;
    drop(moved);
    Ok(pid)
}

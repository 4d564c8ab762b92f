//! The OS layer: the only module of the crate allowed to use `unsafe`.
//!
//! It owns the raw edges of the process model and nothing else:
//! - pipes, always created close-on-exec, wrapped in `OwnedFd` at once;
//! - read, write and poll on descriptors, with `EINTR` retried;
//! - spawning a fresh copy of our own executable (`posix_spawn` of `/proc/self/exe`), with a
//!   chosen list of descriptors placed at fixed numbers in the child and nothing else inherited;
//!   or having the forkserver fork one (`forkserver`);
//! - checking, in a worker, that the descriptors it inherited are the pipes it was promised
//!   before trusting them;
//! - shared memory and the process-shared objects that live in it (`shm`).
//!
//! Everything above this module is `#![deny(unsafe_code)]`.
#![allow(unsafe_code)]

pub(crate) mod forkserver;
pub(crate) mod shm;
mod spawn;

pub(crate) use spawn::{keeper_started, spawn_self};

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::stat::{SFlag, fstat, stat};
use nix::unistd::getppid;

/// The first descriptor number handed to a child; 0, 1 and 2 stay the standard streams.
pub(crate) const FIRST_CHILD_FD: RawFd = 3;

/// Creates an anonymous pipe, both ends close-on-exec: `(read end, write end)`.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// Creates an anonymous pipe whose ends are close-on-exec and non-blocking.
pub(crate) fn pipe_nonblocking() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(io::Error::from)
}

/// A pair of connected Unix stream sockets, both close-on-exec and non-blocking (a
/// shared-memory channel's bells: no data, just "look again", and a hang-up when the other
/// end is gone).
pub(crate) fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
    )
    .map_err(io::Error::from)
}

/// Writes one byte on a bell socket, never blocking and never raising `SIGPIPE`: a full
/// socket already has a bell pending, and a closed one has nobody left to wake.
pub(crate) fn ring(fd: BorrowedFd<'_>) {
    use nix::sys::socket::{MsgFlags, send};
    use std::os::fd::AsRawFd;
    loop {
        match send(
            fd.as_raw_fd(),
            &[1],
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
        ) {
            Err(Errno::EINTR) => continue,
            _ => return,
        }
    }
}

/// `read(2)` on a non-blocking descriptor: `Ok(None)` when nothing is there yet.
pub(crate) fn read_nonblocking(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        match nix::unistd::read(fd, buf) {
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Ok(None),
            other => return other.map(Some).map_err(io::Error::from),
        }
    }
}

/// `write(2)` on a non-blocking descriptor: `Ok(0)` when the pipe is full.
pub(crate) fn write_nonblocking(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    loop {
        match nix::unistd::write(fd, buf) {
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Ok(0),
            other => return other.map_err(io::Error::from),
        }
    }
}

/// Waits until `fd` can be written to, or the timeout passes; `true` if it can.
pub(crate) fn wait_writable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    Ok(wait_ready(&[fd], PollFlags::POLLOUT, Some(timeout))?[0])
}

/// Whether process `pid` is still running: it exists and is not a zombie waiting to be reaped.
pub(crate) fn process_running(pid: i32) -> bool {
    match std::fs::read(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => match stat.iter().rposition(|b| *b == b')') {
            Some(at) => !matches!(stat.get(at + 2), Some(b'Z' | b'X')),
            None => true,
        },
    }
}

/// `read(2)`, retried on `EINTR`. Returns 0 at end of stream.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match nix::unistd::read(fd, buf) {
            Err(Errno::EINTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

/// `write(2)` until every byte is written, retried on `EINTR`.
pub(crate) fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match nix::unistd::write(fd, buf) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
        }
    }
    Ok(())
}

/// Writes `head` then `body` completely, in as few `writev` calls as the pipe allows (one when
/// it has room): a frame's header and payload go out without being copied together first.
/// `EINTR` is retried.
pub(crate) fn write_all_two(fd: BorrowedFd<'_>, head: &[u8], body: &[u8]) -> io::Result<()> {
    use std::io::IoSlice;
    let (mut head, mut body) = (head, body);
    while !head.is_empty() || !body.is_empty() {
        let n = match nix::sys::uio::writev(fd, &[IoSlice::new(head), IoSlice::new(body)]) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
        };
        let from_head = n.min(head.len());
        head = &head[from_head..];
        body = &body[n - from_head..];
    }
    Ok(())
}

/// Asks the kernel to let the pipe of `fd` hold `bytes` (at least; it rounds up to a power of
/// two of pages) and returns what it holds now. Fails, changing nothing, past
/// `/proc/sys/fs/pipe-max-size` (1 MiB unless raised) or the user's total for pipes.
pub(crate) fn grow_pipe(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<usize> {
    let size = fcntl(
        fd,
        FcntlArg::F_SETPIPE_SZ(bytes.min(i32::MAX as usize) as i32),
    )?;
    Ok(size.max(0) as usize)
}

/// Waits until at least one of `fds` is readable (data, end of stream or error), or the
/// timeout passes. Returns one flag per descriptor; all false means the time ran out.
/// `EINTR` is retried with the time that is left, so a signal never shortens the wait.
pub(crate) fn wait_readable(
    fds: &[BorrowedFd<'_>],
    timeout: Option<Duration>,
) -> io::Result<Vec<bool>> {
    wait_ready(fds, PollFlags::POLLIN, timeout)
}

/// `poll(2)` for `events` on every descriptor, with the deadline kept across `EINTR`.
fn wait_ready(
    fds: &[BorrowedFd<'_>],
    events: PollFlags,
    timeout: Option<Duration>,
) -> io::Result<Vec<bool>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let mut pollfds: Vec<PollFd<'_>> = fds.iter().map(|fd| PollFd::new(*fd, events)).collect();
        let wait = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up to whole milliseconds so a short wait is not a busy loop.
                let ms = left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128);
                PollTimeout::try_from(ms as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        match poll(&mut pollfds, wait) {
            Err(Errno::EINTR) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(vec![false; fds.len()]);
                }
                continue;
            }
            Err(e) => return Err(e.into()),
            Ok(_) => {
                return Ok(pollfds
                    .iter()
                    .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
                    .collect());
            }
        }
    }
}

/// What a handed descriptor is expected to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum FdKind {
    /// The read end of a pipe.
    Read,
    /// The write end of a pipe.
    Write,
    /// A shared-memory file (`memfd`), opened for reading and writing.
    Memory,
    /// A Unix socket (the forkserver's).
    Socket,
}

/// Descriptors [`adopt_inherited`] has taken ownership of, so none is ever owned twice.
static ADOPTED: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

/// Takes ownership of a descriptor this process inherited at a number its parent chose (3 and
/// up; see [`spawn_self`]), after checking that it is open and of the expected kind (a pipe of
/// the right direction, or a read-write regular file for shared memory); then marks it
/// close-on-exec, so that nothing this process starts inherits it. The error says what was
/// found instead.
///
/// Safe to call with any number: the standard streams are refused, and each number is
/// adopted at most once in the life of the process (a second call is refused), so an
/// `OwnedFd` made here is the only owner. It must be called before this process opens
/// descriptors of its own at those numbers, which the worker bootstrap does first thing.
pub(crate) fn adopt_inherited(fd: RawFd, kind: FdKind) -> Result<OwnedFd, String> {
    if fd < FIRST_CHILD_FD {
        return Err(format!(
            "descriptor {fd} is a standard stream, not a handed one"
        ));
    }
    let mut adopted = ADOPTED.lock().unwrap_or_else(|p| p.into_inner());
    if adopted.contains(&fd) {
        return Err(format!("descriptor {fd} was already taken over"));
    }
    // SAFETY: F_GETFD only reads the descriptor table; any integer is a valid argument and a
    // closed number just yields EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(format!("descriptor {fd} is not open"));
    }
    // A descriptor inherited through exec was placed without close-on-exec; one this process
    // opened itself has it (the runtime and std open everything close-on-exec), so it is not
    // an inherited one and somebody here already owns it.
    if flags & libc::FD_CLOEXEC != 0 {
        return Err(format!(
            "descriptor {fd} was opened by this process, not inherited"
        ));
    }
    // SAFETY: the descriptor is open, was inherited (no close-on-exec, as our parent placed
    // it at spawn), and has not been adopted before (checked above under the lock, and
    // recorded below), so nothing in this process owns it yet.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    adopted.push(fd);
    let st = fstat(owned.as_fd()).map_err(|e| format!("descriptor {fd}: fstat failed: {e}"))?;
    let file_type = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    let (wanted_type, what) = match kind {
        FdKind::Read | FdKind::Write => (SFlag::S_IFIFO, "a pipe"),
        FdKind::Memory => (SFlag::S_IFREG, "a shared-memory file"),
        FdKind::Socket => (SFlag::S_IFSOCK, "a socket"),
    };
    if file_type != wanted_type {
        // Leave a descriptor that is not ours open, exactly as we found it.
        adopted.retain(|a| *a != fd);
        std::mem::forget(owned);
        return Err(format!("descriptor {fd} is not {what}"));
    }
    let status = fcntl(owned.as_fd(), FcntlArg::F_GETFL)
        .map_err(|e| format!("descriptor {fd}: F_GETFL failed: {e}"))?;
    let access = OFlag::from_bits_truncate(status) & OFlag::O_ACCMODE;
    let (is_expected, wanted) = match kind {
        FdKind::Read => (access == OFlag::O_RDONLY, "the read end of a pipe"),
        FdKind::Write => (access == OFlag::O_WRONLY, "the write end of a pipe"),
        FdKind::Memory | FdKind::Socket => {
            (access == OFlag::O_RDWR, "open for reading and writing")
        }
    };
    if !is_expected {
        adopted.retain(|a| *a != fd);
        std::mem::forget(owned);
        return Err(format!("descriptor {fd} is not {wanted}"));
    }
    fcntl(
        owned.as_fd(),
        FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .map_err(|e| format!("descriptor {fd}: F_SETFD failed: {e}"))?;
    Ok(owned)
}

/// Closes every descriptor from `first` up, in a worker at start-up: a master's spawn passes on
/// only what it placed at 3, 4, 5… *and* whatever descriptors the master itself inherited
/// without close-on-exec (a jobserver pipe from `cargo`, a shell's `9>file`), which the worker
/// must not hold (a pipe kept open by a stray copy never reads as closed).
///
/// Crate-internal contract: called by the worker bootstrap right after it adopted its handed
/// descriptors (all below `first`), before anything in the process opened one of its own, so no
/// owner of a descriptor at `first` or above exists to be surprised.
pub(crate) fn close_strays_from(first: RawFd) -> io::Result<()> {
    // SAFETY: close_range takes three integers; per the contract above, no OwnedFd or other
    // owner holds a descriptor in the range it closes.
    if unsafe { libc::syscall(libc::SYS_close_range, first as u32, u32::MAX, 0u32) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The identity of the executable file this process runs: `(device, inode)`. A child whose
/// identity differs from its parent's runs a different binary, whose table of targets is not
/// its parent's.
pub(crate) fn exe_identity() -> io::Result<(u64, u64)> {
    let st = stat("/proc/self/exe")?;
    Ok((st.st_dev, st.st_ino))
}

/// Arranges for this process to be killed when its parent dies, and checks that the parent is
/// `expected`. Checking after arming closes the race where the parent died first.
pub(crate) fn die_with_parent(expected: i32) -> Result<(), String> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|e| format!("prctl(PR_SET_PDEATHSIG) failed: {e}"))?;
    let parent = getppid().as_raw();
    if parent != expected {
        return Err(format!(
            "its parent is pid {parent}, not the master pid {expected} named on its command line"
        ));
    }
    Ok(())
}

/// Gives `SIGCHLD` its default action if this process inherited it ignored (`trap '' CHLD`
/// in a shell): with `SIGCHLD` ignored the kernel reaps children by itself and their exit
/// statuses are lost, so every child would look as if it had vanished.
pub(crate) fn restore_sigchld() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, sigaction};
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing the default disposition runs no code of ours in a signal handler;
    // it is only done when the inherited disposition is "ignore", which no one in this
    // process chose (init() runs first in main).
    unsafe {
        if let Ok(old) = sigaction(Signal::SIGCHLD, &default)
            && !matches!(old.handler(), SigHandler::SigIgn)
        {
            // It was not ignored: put back whatever it was.
            let _ = sigaction(Signal::SIGCHLD, &old);
        }
    }
}

/// Ends this process by `signal`, as if it had not been caught: its default action is put
/// back, it is unblocked and raised. A shell then sees the death by that signal (a loop of
/// commands stops at Ctrl-C) rather than an exit status. Should the signal not kill (its
/// default action is to ignore, or it is not a signal), exits with `128 + signal`.
pub(crate) fn die_of_signal(signal: i32) -> ! {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, raise, sigaction};
    if let Ok(sig) = Signal::try_from(signal) {
        let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        // SAFETY: the default disposition runs no code of ours in a signal handler; handlers
        // installed earlier (signal-hook's) are replaced, which is the point: the process is
        // about to end by this signal.
        let _ = unsafe { sigaction(sig, &default) };
        let mut only = SigSet::empty();
        only.add(sig);
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&only), None);
        let _ = raise(sig);
    }
    std::process::exit(128 + signal)
}

/// The soft and hard limits on open descriptors (`ulimit -Sn`, `ulimit -Hn`).
pub(crate) fn descriptor_limits() -> io::Result<(u64, u64)> {
    use nix::sys::resource::{Resource, getrlimit};
    Ok(getrlimit(Resource::RLIMIT_NOFILE)?)
}

/// Sets the soft limit on open descriptors (at most the hard one).
pub(crate) fn set_descriptor_limit(soft: u64) -> io::Result<()> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    Ok(setrlimit(Resource::RLIMIT_NOFILE, soft.min(hard), hard)?)
}

/// Descriptors this process has open now.
pub(crate) fn open_descriptors() -> io::Result<u64> {
    Ok(std::fs::read_dir("/proc/self/fd")?.count() as u64)
}

/// The soft limit on processes of this user (`ulimit -u`), `None` when there is none or it
/// does not apply (root, or anyone with `CAP_SYS_RESOURCE`, is not held to it; root is
/// assumed to be).
pub(crate) fn process_limit() -> Option<u64> {
    use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit};
    if nix::unistd::getuid().is_root() {
        return None;
    }
    let (soft, _) = getrlimit(Resource::RLIMIT_NPROC).ok()?;
    (soft != RLIM_INFINITY).then_some(soft)
}

/// Processes (threads count, as the kernel counts them for `RLIMIT_NPROC`) whose real user
/// is this process's.
pub(crate) fn processes_of_this_user() -> io::Result<u64> {
    let me = nix::unistd::getuid().as_raw();
    let mut count = 0;
    for entry in std::fs::read_dir("/proc")?.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|u| u.parse::<u32>().ok());
        let threads = status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|t| t.trim().parse::<u64>().ok())
            .unwrap_or(1);
        if uid == Some(me) {
            count += threads;
        }
    }
    Ok(count)
}

/// Raises the soft limit on open descriptors to the hard limit, once, so that a master with
/// hundreds of workers (three descriptors each) is not stopped by the default of 1024.
pub(crate) fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// Puts a descriptor in non-blocking mode.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// A process descriptor for `pid` (`pidfd_open(2)`), usually our child: it becomes readable
/// when the process exits, so an exit can be waited for with a timeout, beside other
/// descriptors, and without reaping. Close-on-exec, as every pidfd is.
pub(crate) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1; no memory is
    // passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this new descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

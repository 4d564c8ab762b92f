//! The forkserver start method: one clean server process, started by exec, forks every worker
//! on request.
//!
//! A re-exec pays the dynamic loader and the runtime's start-up for every worker; a fork of a
//! small process that holds nothing pays neither. The server is a fresh copy of the program,
//! spawned like any worker (so it is never a fork of the master), which stops right after
//! `init()`, single threaded and holding nothing but its socket, and waits for requests:
//!
//! 1. The master sends the worker's name with the descriptors the worker must have (its boot
//!    pipe, its status pipe, the ends it is handed) over a Unix socket (`SCM_RIGHTS`).
//! 2. The server forks with `CLONE_PARENT`: the new process is the *master's* child, not the
//!    server's, so the master reaps it, waits on its process descriptor and sees its death at
//!    once exactly as for a spawned worker, and its parent-death signal follows the master.
//! 3. The child puts the descriptors at 3, 4, 5… (closing every other one, the server's socket
//!    included), takes a process group of its own, and runs the same worker bootstrap as a
//!    spawned worker; the server answers the master with its pid.
//!
//! The server dies with the master (`PR_SET_PDEATHSIG`, checked against the master's pid), and
//! ends when its socket closes. A server that died is started again on the next request.
#![allow(unsafe_code)]

use std::ffi::OsString;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::sync::Mutex;

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use nix::unistd::Pid;

use super::FIRST_CHILD_FD;

/// The command-line flag of the server process.
pub(crate) const SERVER_FLAG: &str = "--multiproc-forkserver";

/// The most descriptors one worker can be given through the server (the kernel passes at
/// most 253 in one message).
pub(crate) const MAX_HANDED: usize = 250;

/// The longest worker name a request carries.
const MAX_NAME: usize = 4096;

/// The server, as the master holds it.
struct Server {
    sock: OwnedFd,
    pid: Pid,
}

static SERVER: Mutex<Option<Server>> = Mutex::new(None);

/// Starts a worker named `name` through the forkserver (starting the server first if it is not
/// running); `fds[i]` becomes its descriptor `FIRST_CHILD_FD + i`. Returns its pid: a child of
/// this process. `spawn_server` starts the server process with its end of the socket at
/// descriptor `FIRST_CHILD_FD` (the caller's spawn, with the server's command line).
pub(crate) fn start_worker(
    name: &str,
    fds: &[BorrowedFd<'_>],
    spawn_server: impl Fn(BorrowedFd<'_>) -> io::Result<Pid>,
) -> io::Result<Pid> {
    if fds.len() > MAX_HANDED {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the forkserver can hand a worker at most {MAX_HANDED} descriptors, not {}",
                fds.len()
            ),
        ));
    }
    if name.len() > MAX_NAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a worker name longer than 4096 bytes",
        ));
    }
    let mut server = SERVER.lock().unwrap_or_else(|p| p.into_inner());
    // One new server at most per request: a server that dies at once is an error to report,
    // not a loop.
    for attempt in 0..2 {
        if server.is_none() {
            *server = Some(start_server(&spawn_server)?);
        }
        let running = server.as_ref().expect("just started");
        match request(running.sock.as_fd(), name, fds) {
            Ok(pid) => return Ok(pid),
            Err(e) if attempt == 0 && server_gone(&e) => {
                // It died since the last request: reap it and start another.
                if let Some(dead) = server.take() {
                    drop(dead.sock);
                    let _ = nix::sys::wait::waitpid(dead.pid, None);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("the forkserver keeps dying"))
}

/// Starts a worker through the forkserver, spawning the server (this program again, with
/// [`SERVER_FLAG`] and this process's pid) when none runs. See [`start_worker`].
pub(crate) fn start_forked(name: &str, fds: &[BorrowedFd<'_>]) -> io::Result<Pid> {
    start_worker(name, fds, spawn_server)
}

/// Starts the forkserver now if none runs, so that the first worker does not wait for it.
pub(crate) fn ensure_running() -> io::Result<()> {
    let mut server = SERVER.lock().unwrap_or_else(|p| p.into_inner());
    if server.is_none() {
        *server = Some(start_server(&spawn_server)?);
    }
    Ok(())
}

/// Stops the server, if one runs: closes its socket (it exits when it sees the end) and reaps
/// it, killing it if it has not gone within a second. Workers it forked are not affected
/// (they are this process's children).
pub(crate) fn stop() {
    let Some(server) = SERVER.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return;
    };
    drop(server.sock);
    use nix::sys::wait::{WaitPidFlag, waitpid};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match waitpid(server.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(nix::sys::wait::WaitStatus::StillAlive) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Ok(nix::sys::wait::WaitStatus::StillAlive) => {
                let _ = nix::sys::signal::kill(server.pid, nix::sys::signal::Signal::SIGKILL);
                let _ = waitpid(server.pid, None);
                return;
            }
            _ => return,
        }
    }
}

/// Spawns the server: this program again, with [`SERVER_FLAG`] and this process's pid, its
/// end of the socket at descriptor `FIRST_CHILD_FD`.
fn spawn_server(sock: BorrowedFd<'_>) -> io::Result<Pid> {
    let argv = [
        std::env::args_os()
            .next()
            .unwrap_or_else(|| "forkserver".into()),
        SERVER_FLAG.into(),
        std::process::id().to_string().into(),
    ];
    super::spawn_self(&argv, &[sock])
}

/// The pid of the running forkserver, if one runs.
pub(crate) fn server_pid() -> Option<i32> {
    SERVER
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(|s| s.pid.as_raw())
}

fn server_gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPIPE) | Some(libc::ECONNRESET) | Some(libc::ENOTCONN)
    ) || e.kind() == io::ErrorKind::UnexpectedEof
}

fn start_server(spawn_server: &impl Fn(BorrowedFd<'_>) -> io::Result<Pid>) -> io::Result<Server> {
    let (mine, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    let pid = spawn_server(theirs.as_fd())?;
    drop(theirs);
    Ok(Server { sock: mine, pid })
}

/// One request: the name and the descriptors out, the pid (or the errno of a failed fork)
/// back.
fn request(sock: BorrowedFd<'_>, name: &str, fds: &[BorrowedFd<'_>]) -> io::Result<Pid> {
    let raw: Vec<RawFd> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
    let cmsgs = [ControlMessage::ScmRights(&raw)];
    let payload = name.as_bytes();
    let iov = [IoSlice::new(payload)];
    loop {
        match sendmsg::<()>(
            sock.as_raw_fd(),
            &iov,
            if raw.is_empty() { &[] } else { &cmsgs },
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(_) => break,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let mut answer = [0u8; 4];
    let got = loop {
        match nix::unistd::read(sock, &mut answer) {
            Ok(n) => break n,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    if got != 4 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the forkserver closed its socket",
        ));
    }
    let value = i32::from_le_bytes(answer);
    if value > 0 {
        Ok(Pid::from_raw(value))
    } else {
        Err(io::Error::from_raw_os_error(-value))
    }
}

/// The server's loop, run by a process started with [`SERVER_FLAG`] whose socket is `sock`;
/// `run_worker(name)` is what a forked child runs (the worker bootstrap) and returns its exit
/// code. Never returns: ends the process when the master closes the socket.
pub(crate) fn serve(sock: OwnedFd, master: i32, run_worker: fn(i32, OsString) -> i32) -> ! {
    // `ps` and `top` show what it is.
    let _ = nix::sys::prctl::set_name(c"forkserver");
    let mut name = vec![0u8; MAX_NAME];
    let mut space = nix::cmsg_space!([RawFd; 253]);
    loop {
        let (len, fds) = {
            let mut iov = [IoSliceMut::new(&mut name)];
            let msg = match recvmsg::<()>(
                sock.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => msg,
                Err(Errno::EINTR) => continue,
                Err(_) => std::process::exit(0),
            };
            if msg.bytes == 0 {
                // The master closed its end: nothing more will come.
                std::process::exit(0);
            }
            let mut fds: Vec<OwnedFd> = Vec::new();
            if let Ok(cmsgs) = msg.cmsgs() {
                for cmsg in cmsgs {
                    if let ControlMessageOwned::ScmRights(received) = cmsg {
                        // SAFETY: SCM_RIGHTS just installed these descriptors in this
                        // process; nothing else owns them.
                        fds.extend(
                            received
                                .into_iter()
                                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                        );
                    }
                }
            }
            (msg.bytes, fds)
        };
        let worker_name = OsString::from_vec(name[..len].to_vec());
        let answer = match fork_as_sibling() {
            Ok(0) => {
                // The child: becomes the worker and never returns to the loop. The server's
                // owners of descriptors are forgotten, not dropped: become_worker closed or
                // reused those numbers, which the worker may open again.
                let placed = become_worker(&fds);
                // `ps` and `top` show the worker's name (its command line is the server's).
                let shown = &worker_name.as_encoded_bytes()[..worker_name.len().min(15)];
                if let Ok(comm) = std::ffi::CString::new(shown.to_vec()) {
                    let _ = nix::sys::prctl::set_name(&comm);
                }
                std::mem::forget(fds);
                std::mem::forget(sock);
                let code = match placed {
                    Ok(()) => run_worker(master, worker_name),
                    Err(e) => {
                        eprintln!("forkserver: cannot set up a worker's descriptors: {e}");
                        2
                    }
                };
                // The worker wrote what it had to (the bootstrap flushed stdout; stderr is not
                // buffered); the exit handlers left are the server's, copied by the fork, with
                // nothing of the worker's to do. As Python's forked children, leave at once.
                // SAFETY: _exit takes an integer and never returns; nothing here relies on
                // destructors or exit handlers running.
                unsafe { libc::_exit(code) }
            }
            Ok(pid) => pid,
            Err(e) => -(e as i32),
        };
        drop(fds);
        let _ = super::write_all(sock.as_fd(), &answer.to_le_bytes());
    }
}

/// `fork`, but the child's parent is this process's parent (`CLONE_PARENT`): the master, who
/// reaps it. Returns 0 in the child and its pid here.
fn fork_as_sibling() -> Result<i32, Errno> {
    // SAFETY: clone with no new stack (0) and no CLONE_VM behaves as fork: the child runs on
    // a copy of this address space from this very point. This process is the forkserver:
    // single threaded (it runs nothing but this loop, from init() on), holding no lock, so
    // the copy is consistent. CLONE_PARENT only changes who the child's parent is; SIGCHLD is
    // the signal its parent gets when it exits, as for fork. glibc's fork wrapper is not used
    // because it cannot pass CLONE_PARENT; what it does beyond the system call (fork
    // handlers, none registered here; resetting locks, none held) is not needed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret as i32)
    }
}

/// In the forked child: `fds[i]` to descriptor `FIRST_CHILD_FD + i` without close-on-exec
/// (as a spawned worker finds them), every other descriptor above the standard streams closed,
/// a process group of its own, an empty signal mask.
fn become_worker(fds: &[OwnedFd]) -> io::Result<()> {
    let top = FIRST_CHILD_FD + fds.len() as RawFd;
    // First out of the way of the numbers they are going to, then into place.
    let mut high = Vec::with_capacity(fds.len());
    for fd in fds {
        let raw = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(top))?;
        // SAFETY: F_DUPFD_CLOEXEC just returned this new descriptor.
        high.push(unsafe { OwnedFd::from_raw_fd(raw) });
    }
    for (i, fd) in high.iter().enumerate() {
        let target = FIRST_CHILD_FD + i as RawFd;
        // SAFETY: dup2 onto a number this process does not otherwise use from here on (the
        // worker's descriptors start at FIRST_CHILD_FD; whatever sat there, the server's
        // socket or a received descriptor already copied above `top`, is closed by dup2).
        // The new descriptor has no close-on-exec, as a spawned worker's.
        if unsafe { libc::dup2(fd.as_raw_fd(), target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    drop(high);
    // This process adopted none of the descriptors it now has at those numbers: the server's
    // record of its own socket must not make the worker refuse descriptor 3.
    super::ADOPTED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    // SAFETY: closes every descriptor from `top` up; the OwnedFds that owned any of them are
    // gone (dropped above) or belong to the server's loop, which this child never returns
    // to (it exits after the worker), so no owner will use or close them again.
    if unsafe { libc::syscall(libc::SYS_close_range, top as u32, u32::MAX, 0u32) } < 0 {
        return Err(io::Error::last_os_error());
    }
    nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
    nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    )?;
    Ok(())
}

//! `--ipc mpi`: the same run on MPI, for past one machine.
//!
//! On one machine the workers are our own processes over pipes; across machines the standard
//! engine for this very program is MPI (MPICH's first example computes this pi), and this mode
//! runs on it rather than on a home-made cluster layer. Two halves:
//!
//! - `ranks` (built with the `mpi` feature): what each rank of
//!   `mpiexec -n P pi-master --ipc mpi` does. Rank r computes the r-th range of the pipe mode's
//!   split with the same kernel; rank 0 gathers the exact sums, so pi has the local run's bits.
//! - [`launch`]: `pi-master --ipc mpi --procs P` outside `mpiexec` runs `mpiexec` itself, and
//!   so does `--compare` for its `mpi` row. MPI's launcher stops the whole job when a rank dies
//!   and names only its pid; the launcher reads the ranks' [`RankLine`]s and names the rank.
//!
//! Without the feature nothing here needs MPI: [`AVAILABLE`] is false and `pi-master` says how
//! to build it.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::ops::Range;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use multiproc::signals::SignalWatch;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SIGHUP, SIGINT, SIGTERM};
use rust_i18n::t;

use super::RunError;

#[cfg(feature = "mpi")]
pub mod ranks;

/// Whether this binary was built with the `mpi` feature.
pub const AVAILABLE: bool = cfg!(feature = "mpi");

/// Set in the ranks' environment by [`launch`]: each announces itself with a [`RankLine`].
pub const LAUNCHER_ENV: &str = "PI_MASTER_MPI_LAUNCHER";

/// How to get `--ipc mpi`, for a binary built without it.
pub fn how_to_build() -> String {
    rust_i18n::t!("mpi.how_to_build").into_owned()
}

/// Whether this process is a rank started by an MPI launcher (MPICH's hydra, Open MPI, or
/// any PMI/PMIx launcher), as its environment says.
pub fn under_mpiexec() -> bool {
    ["PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

/// The `mpiexec` on the `PATH`, if any.
pub fn mpiexec() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("mpiexec"))
        .find(|p| p.is_file())
}

/// The host name, for a rank whose MPI library cannot say.
fn hostname_fallback() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| rust_i18n::t!("fault.unknown_host").into_owned())
}

/// The line a rank prints on stderr before it computes, like MPICH's `cpi` ("Process 0 of 4
/// is on host"): `rank 1 of 4: pid 1234 on host node7, computes [25000000, 50000000)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RankLine {
    /// The rank.
    pub rank: usize,
    /// Ranks in the job.
    pub size: usize,
    /// Its pid (on its host).
    pub pid: u32,
    /// Its host.
    pub host: String,
    /// The range it computes.
    pub range: Range<u64>,
}

impl fmt::Display for RankLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rank {} of {}: pid {} on host {}, computes [{}, {})",
            self.rank, self.size, self.pid, self.host, self.range.start, self.range.end
        )
    }
}

impl FromStr for RankLine {
    type Err = ();

    fn from_str(line: &str) -> Result<Self, ()> {
        let rest = line.strip_prefix("rank ").ok_or(())?;
        let (rank, rest) = rest.split_once(" of ").ok_or(())?;
        let (size, rest) = rest.split_once(": pid ").ok_or(())?;
        let (pid, rest) = rest.split_once(" on host ").ok_or(())?;
        let (host, rest) = rest.rsplit_once(", computes [").ok_or(())?;
        let (start, end) = rest
            .strip_suffix(')')
            .and_then(|r| r.split_once(", "))
            .ok_or(())?;
        Ok(RankLine {
            rank: rank.parse().map_err(|_| ())?,
            size: size.parse().map_err(|_| ())?,
            pid: pid.parse().map_err(|_| ())?,
            host: host.to_string(),
            range: start.parse().map_err(|_| ())?..end.parse().map_err(|_| ())?,
        })
    }
}

/// What a job run by [`launch`] gave.
#[derive(Debug)]
pub struct Launched {
    /// Rank 0's standard output, when it was captured.
    pub stdout: Vec<u8>,
    /// Seconds from starting `mpiexec` to its exit: the job's start and end included.
    pub wall_seconds: f64,
    /// The ranks, as they announced themselves.
    pub ranks: Vec<RankLine>,
}

/// How [`launch`] runs the job.
#[derive(Clone, Debug)]
pub struct LaunchOptions {
    /// Ranks to start (`mpiexec -n`).
    pub procs: usize,
    /// Midpoint-rule steps.
    pub steps: u64,
    /// Ask rank 0 for JSON instead of the report.
    pub json: bool,
    /// Pass the ranks' stdout through (else it is captured in [`Launched::stdout`]).
    pub inherit_stdout: bool,
    /// Relay the ranks' announcements to stderr as they come.
    pub verbose: bool,
}

/// Runs `mpiexec -n P <this program> --ipc mpi --steps N`, relays what the ranks say, and on
/// failure names the rank that ended it (from the launcher's banner and the ranks' own
/// announcements). SIGINT, SIGTERM and SIGHUP are passed on to `mpiexec`, which stops every
/// rank; the job is then waited for and the signal reported as [`RunError::Interrupted`].
pub fn launch(options: &LaunchOptions) -> Result<Launched, RunError> {
    let Some(mpiexec) = mpiexec() else {
        return Err(RunError::Failed(
            rust_i18n::t!("mpi.no_mpiexec").into_owned(),
        ));
    };
    let exe = std::env::current_exe().map_err(|e| {
        RunError::Failed(rust_i18n::t!("fault.cannot_find_program", error = e).into_owned())
    })?;
    let watch = SignalWatch::new(&[SIGINT as i32, SIGTERM as i32, SIGHUP as i32]).map_err(|e| {
        RunError::Failed(rust_i18n::t!("fault.cannot_watch_signals", error = e).into_owned())
    })?;
    let mut command = Command::new(&mpiexec);
    command
        .arg("-n")
        .arg(options.procs.to_string())
        .arg(&exe)
        .args(["--ipc", "mpi", "--steps", &options.steps.to_string()])
        .args(options.json.then_some("--json"))
        .env(LAUNCHER_ENV, "1")
        // Its own process group: a Ctrl-C at the terminal reaches this program alone, which
        // passes it on once (mpiexec takes a second Ctrl-C as "abort now").
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let clock = Instant::now();
    let mut child = command.spawn().map_err(|e| {
        RunError::Failed(
            rust_i18n::t!("fault.cannot_run", program = mpiexec.display(), error = e).into_owned(),
        )
    })?;
    // MPICH's launcher prints its banner about a failed rank on stdout, the ranks say who
    // they are on stderr: both streams are read and sorted.
    let verbose = options.verbose;
    let out_sink = if options.inherit_stdout {
        Sink::Stdout
    } else {
        Sink::Collect(Vec::new())
    };
    let stdout = child
        .stdout
        .take()
        .map(|out| std::thread::spawn(move || sort_lines(out, out_sink, verbose, None)));
    // The ranks announce themselves on stderr as they start; the loop below watches those on
    // this host, to see which one ends first.
    let announced: Arc<Mutex<Vec<RankLine>>> = Arc::default();
    let heard = Arc::clone(&announced);
    let stderr = child.stderr.take().map(|err| {
        std::thread::spawn(move || sort_lines(err, Sink::Stderr, verbose, Some(&heard)))
    });
    let mut exits = RankExits::new(hostname_fallback());
    let mut first_gone: Option<Vec<usize>> = None;
    let mut signal = None;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| {
            RunError::Failed(rust_i18n::t!("fault.cannot_wait_mpiexec", error = e).into_owned())
        })? {
            break status;
        }
        if let Some(&sig) = watch.take().first() {
            // The first signal is passed on; mpiexec stops every rank and exits.
            if signal.is_none() {
                signal = Some(sig);
            }
            if let Ok(sig) = nix::sys::signal::Signal::try_from(sig) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig);
            }
        }
        if first_gone.is_none() {
            first_gone = exits.first_gone(&announced.lock().unwrap_or_else(|p| p.into_inner()));
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let wall_seconds = clock.elapsed().as_secs_f64();
    let mut ranks = Vec::new();
    let mut banner = Vec::new();
    let mut stdout_bytes = Vec::new();
    for sorted in [stdout, stderr].into_iter().flatten() {
        if let Ok(sorted) = sorted.join() {
            ranks.extend(sorted.ranks);
            banner.extend(sorted.banner);
            if let Sink::Collect(bytes) = sorted.sink {
                stdout_bytes = bytes;
            }
        }
    }
    ranks.sort_by_key(|r| r.rank);
    if let Some(signal) = signal {
        return Err(RunError::Interrupted { signal });
    }
    if !status.success() {
        return Err(RunError::Failed(describe_failure(
            options.procs,
            &ranks,
            first_gone.as_deref().unwrap_or(&[]),
            &banner,
            status,
        )));
    }
    Ok(Launched {
        stdout: stdout_bytes,
        wall_seconds,
        ranks,
    })
}

/// Where the lines of one of the job's streams go.
enum Sink {
    /// Written to this program's stdout as they come.
    Stdout,
    /// Written to this program's stderr as they come.
    Stderr,
    /// Kept.
    Collect(Vec<u8>),
}

/// One stream of the job, sorted: the ranks' announcements, the launcher's banner, and the
/// rest (passed on through the sink).
struct Sorted {
    ranks: Vec<RankLine>,
    banner: Vec<String>,
    sink: Sink,
}

/// Reads one of the job's streams to its end: keeps the ranks' announcements (relayed when
/// `verbose`) and the launcher's banner (from its first `=====` line on); passes every other
/// line (rank 0's report, a rank's own error) on to `sink` as it comes. Blank lines are held
/// back until the next line shows whether they open the banner.
fn sort_lines(
    stream: impl Read,
    mut sink: Sink,
    verbose: bool,
    heard: Option<&Mutex<Vec<RankLine>>>,
) -> Sorted {
    let mut ranks = Vec::new();
    let mut banner = Vec::new();
    let mut blank = 0;
    let pass = |sink: &mut Sink, line: &str| match sink {
        Sink::Stdout => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        }
        Sink::Stderr => crate::stderr::line(line),
        Sink::Collect(bytes) => {
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
        }
    };
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        if !banner.is_empty() || line.starts_with("=====") {
            banner.push(line);
        } else if line.is_empty() {
            blank += 1;
        } else if let Ok(rank) = line.parse::<RankLine>() {
            // Watched before it is relayed: whoever reads the relayed line (and kills that
            // rank) acts on a rank already watched.
            if let Some(heard) = heard {
                heard
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(rank.clone());
            }
            if verbose {
                crate::stderr::line(line);
            }
            ranks.push(rank);
        } else {
            for _ in 0..std::mem::take(&mut blank) {
                pass(&mut sink, "");
            }
            pass(&mut sink, &line);
        }
    }
    if banner.is_empty() {
        for _ in 0..blank {
            pass(&mut sink, "");
        }
    }
    Sorted {
        ranks,
        banner,
        sink,
    }
}

/// The ends of the ranks on this host, watched through their exit descriptors (pidfds), so
/// the first to end is known at once, before MPI's launcher has stopped the others.
struct RankExits {
    host: String,
    /// Ranks announced so far on this host, each with its exit descriptor (`None`: it had
    /// already ended when it was heard of).
    watched: Vec<(usize, Option<OwnedFd>)>,
}

impl RankExits {
    fn new(host: String) -> Self {
        RankExits {
            host,
            watched: Vec::new(),
        }
    }

    /// Watches the ranks of `announced` not yet watched, then waits up to 1 ms for one to end;
    /// the ranks ended by then (the first to go, unless several went within that moment).
    fn first_gone(&mut self, announced: &[RankLine]) -> Option<Vec<usize>> {
        for r in announced {
            if r.host == self.host && !self.watched.iter().any(|(rank, _)| *rank == r.rank) {
                let exit = multiproc::supervise::exit_descriptor(r.pid).ok();
                self.watched.push((r.rank, exit));
            }
        }
        let mut polled: Vec<PollFd<'_>> = self
            .watched
            .iter()
            .filter_map(|(_, fd)| fd.as_ref())
            .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
            .collect();
        if polled.is_empty() {
            std::thread::sleep(Duration::from_millis(1));
        } else if let Err(e) = poll(&mut polled, PollTimeout::from(1u8))
            && e != nix::errno::Errno::EINTR
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut ready = polled
            .iter()
            .map(|p| p.revents().is_some_and(|r| !r.is_empty()));
        // A rank counts as gone from the moment it is being killed: its exit descriptor turns
        // readable only at the very end of its exit, after its sockets closed and MPI's
        // launcher may already have killed the others.
        let gone: Vec<usize> = self
            .watched
            .iter()
            .filter(|(rank, fd)| {
                let exited = fd.is_none() || ready.next() == Some(true);
                let pid = announced.iter().find(|r| r.rank == *rank).map(|r| r.pid);
                exited || pid.is_some_and(being_killed)
            })
            .map(|(rank, _)| *rank)
            .collect();
        (!gone.is_empty()).then_some(gone)
    }
}

/// Whether the process `pid` has a SIGKILL pending or has begun to exit (`/proc/PID/status`:
/// bit 9 of its pending signals; `/proc/PID/stat`: the kernel's `PF_EXITING` flag), or is gone.
fn being_killed(pid: u32) -> bool {
    const SIGKILL_BIT: u64 = 1 << (9 - 1);
    const PF_EXITING: u64 = 0x4;
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    let pending = status
        .lines()
        .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .any(|mask| mask & SIGKILL_BIT != 0);
    let exiting = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            // After the command: state, ppid, pgrp, session, tty, tpgid, flags.
            rest.split_whitespace().nth(6)?.parse::<u64>().ok()
        })
        .is_none_or(|flags| flags & PF_EXITING != 0);
    pending || exiting
}

/// The launcher's report of a failed job, in the user's terms: which rank, what happened.
///
/// MPICH's banner names one process that ended badly, by pid, which is not always the one that
/// ended first (it may name one it killed itself on the way). The ranks of this host are
/// watched while the job runs, so the one seen gone first (`first_gone`, alone) is named; the
/// banner says how it ended when it names that same process.
fn describe_failure(
    procs: usize,
    ranks: &[RankLine],
    first_gone: &[usize],
    banner: &[String],
    status: std::process::ExitStatus,
) -> String {
    let text = banner.join("\n");
    let banner_pid = text
        .split("PID ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse::<u32>().ok());
    let exit_code = text
        .split("EXIT CODE: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|c| c.parse::<i32>().ok());
    let signal = text
        .split("(signal ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|s| s.parse::<i32>().ok());
    let how = match (signal, exit_code) {
        (Some(sig), _) => Some(crate::lang::describe_exit(-sig, None)),
        (None, Some(code)) => Some(crate::lang::describe_exit(code, None)),
        (None, None) => None,
    };
    let name = |r: &RankLine| {
        t!(
            "mpi.rank",
            rank = r.rank,
            size = r.size,
            pid = r.pid,
            host = r.host,
            start = r.range.start,
            end = r.range.end
        )
        .into_owned()
    };
    let culprit = match first_gone {
        [only] => ranks.iter().find(|r| r.rank == *only),
        _ => banner_pid.and_then(|pid| ranks.iter().find(|r| r.pid == pid)),
    };
    match culprit {
        Some(r) if Some(r.pid) == banner_pid => t!(
            "mpi.ended",
            rank = name(r),
            how = how.unwrap_or_else(|| t!("mpi.ended_badly").into_owned())
        )
        .into_owned(),
        Some(r) => t!("mpi.ended_first", rank = name(r)).into_owned(),
        None => match (banner_pid, how) {
            (Some(pid), Some(how)) => t!("mpi.pid_ended", pid = pid, how = how).into_owned(),
            _ => t!(
                "mpi.job_failed",
                procs = procs,
                status = describe_status(status)
            )
            .into_owned(),
        },
    }
}

fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => crate::lang::describe_exit(code, None),
        (None, Some(sig)) => crate::lang::describe_exit(-sig, None),
        _ => "ended".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rank_line_reads_back() {
        let line = RankLine {
            rank: 2,
            size: 4,
            pid: 4321,
            host: "node 7".into(),
            range: 50..75,
        };
        assert_eq!(line.to_string().parse::<RankLine>(), Ok(line));
        assert!("pi-master: error: rank 2".parse::<RankLine>().is_err());
    }

    #[test]
    fn a_killed_rank_is_named_from_the_launchers_banner() {
        let ranks = vec![
            RankLine {
                rank: 0,
                size: 2,
                pid: 100,
                host: "vm".into(),
                range: 0..5,
            },
            RankLine {
                rank: 1,
                size: 2,
                pid: 101,
                host: "vm".into(),
                range: 5..10,
            },
        ];
        let banner: Vec<String> = [
            "=   BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES",
            "=   PID 101 RUNNING AT vm",
            "=   EXIT CODE: 9",
            "YOUR APPLICATION TERMINATED WITH THE EXIT STRING: Killed (signal 9)",
        ]
        .map(String::from)
        .to_vec();
        use std::os::unix::process::ExitStatusExt;
        let status = std::process::ExitStatus::from_raw(9 << 8);
        let said = describe_failure(2, &ranks, &[], &banner, status);
        assert_eq!(
            said,
            "rank 1 of 2 (pid 101 on host vm, range [5, 10)) was killed by signal 9 (SIGKILL); \
             mpiexec stopped the other ranks"
        );
        // The banner may name a rank MPICH killed itself: the one seen gone first is named.
        let said = describe_failure(2, &ranks, &[0], &banner, status);
        assert_eq!(
            said,
            "rank 0 of 2 (pid 100 on host vm, range [0, 5)) ended first; mpiexec stopped the \
             other ranks"
        );
    }
}

//! `pi-master --ipc mpi`: under `mpiexec` (the `mpi` feature, MPICH on the machine), and the
//! message a build without the feature gives.
//!
//! Every run has a deadline; every test that starts ranks checks that none is left.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);
const BIN: &str = env!("CARGO_BIN_EXE_pi-master");

/// `pi-master ARGS`, with its output, within the deadline.
fn pi_master(args: &[&str]) -> std::process::Output {
    let what = format!("pi-master {}", args.join(" "));
    common::output_within(common::command(BIN).args(args), DEADLINE, &what)
}

#[cfg(not(feature = "mpi"))]
#[test]
fn without_the_feature_ipc_mpi_says_how_to_build_it() {
    let out = pi_master(&["--ipc", "mpi", "--steps", "1e6"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("built without MPI"), "{stderr}");
    assert!(stderr.contains("--features mpi"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[cfg(feature = "mpi")]
mod under_mpiexec {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc::{Receiver, channel};
    use std::time::Instant;

    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use serde_json::Value;

    use super::*;

    /// `mpiexec -n RANKS pi-master ARGS`, with its output, within the deadline.
    fn mpiexec(ranks: usize, args: &[&str]) -> std::process::Output {
        let n = ranks.to_string();
        let what = format!("mpiexec -n {ranks} pi-master {}", args.join(" "));
        common::output_within(
            common::command("mpiexec").args(["-n", &n, BIN]).args(args),
            DEADLINE,
            &what,
        )
    }

    fn json_of(out: &std::process::Output, what: &str) -> Value {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{what}: {:?} {stderr}", out.status);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {stderr}"))
    }

    /// The ranks add up to the bits of the local pipe run, for step counts that split evenly
    /// and that do not, over 1, 2 and 3 ranks.
    #[test]
    fn the_ranks_give_the_bits_of_a_local_run() {
        for steps in ["1", "999", "1000", "1234567", "10000019", "1e8"] {
            for ranks in [1, 2, 3] {
                let procs = ranks.to_string();
                let local = json_of(
                    &pi_master(&["--procs", &procs, "--steps", steps, "--json"]),
                    "local",
                );
                let mpi = json_of(
                    &mpiexec(ranks, &["--ipc", "mpi", "--steps", steps, "--json"]),
                    "mpi",
                );
                let bits = |v: &Value| v["pi"].as_f64().expect("pi").to_bits();
                assert_eq!(
                    bits(&mpi),
                    bits(&local),
                    "{steps} steps over {ranks}: mpi {} local {}",
                    mpi["pi"],
                    local["pi"]
                );
            }
        }
    }

    #[test]
    fn the_json_report_names_every_rank_its_pid_and_host() {
        let out = mpiexec(3, &["--ipc", "mpi", "--steps", "3e6", "--json"]);
        let json = json_of(&out, "mpi json");
        assert_eq!(json["ipc"], "mpi");
        assert_eq!(json["procs"], 3);
        assert_eq!(json["steps"], 3_000_000);
        assert_eq!(json["messages"], 2, "one result from each rank but 0");
        let workers = json["workers"].as_array().expect("workers");
        assert_eq!(workers.len(), 3);
        let mut pids = Vec::new();
        let mut next = 0;
        for (rank, w) in workers.iter().enumerate() {
            assert_eq!(w["index"], rank);
            let pid = w["pid"].as_u64().expect("pid");
            assert!(pid > 0);
            pids.push(pid);
            let host = w["host"].as_str().expect("host");
            assert!(!host.is_empty());
            let range = &w["ranges"][0];
            assert_eq!(range[0].as_u64(), Some(next), "ranges follow each other");
            next = range[1].as_u64().expect("end");
        }
        assert_eq!(next, 3_000_000, "the ranges cover every step");
        pids.sort();
        pids.dedup();
        assert_eq!(pids.len(), 3, "separate processes: {pids:?}");
        assert_eq!(json["master_pid"], workers[0]["pid"], "rank 0 reports");
        // The other modes' reports have no host: the field is MPI's alone.
        let local = json_of(
            &pi_master(&["--procs", "2", "--steps", "1e6", "--json"]),
            "local",
        );
        assert!(local["workers"][0].get("host").is_none());
    }

    #[test]
    fn the_report_for_people_names_ranks_and_hosts() {
        let out = mpiexec(2, &["--ipc", "mpi", "--steps", "1e6"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert!(
            stdout.contains("over 2 MPI ranks\n(ipc: mpi, rank 0 pid"),
            "{stdout}"
        );
        assert!(stdout.contains("rank  host"), "{stdout}");
        let wide: Vec<&str> = stdout.lines().filter(|l| l.chars().count() > 80).collect();
        assert!(wide.is_empty(), "wider than 80 columns: {wide:?}\n{stdout}");
        assert!(
            stdout.contains("1 message (70 bytes) from the other ranks to rank 0"),
            "{stdout}"
        );
    }

    /// Outside mpiexec, pi-master runs it: the same report, and `--procs` ranks.
    #[test]
    fn outside_mpiexec_pi_master_runs_it_with_procs_ranks() {
        let json = json_of(
            &pi_master(&["--ipc", "mpi", "--procs", "3", "--steps", "1e6", "--json"]),
            "launched",
        );
        assert_eq!(json["ipc"], "mpi");
        assert_eq!(json["workers"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn procs_that_contradict_mpiexec_and_flags_mpi_cannot_honour_are_usage_errors() {
        let out = mpiexec(2, &["--ipc", "mpi", "--procs", "3", "--steps", "1e6"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains("--procs 3 does not match this MPI job of 2 ranks"),
            "{stderr}"
        );
        for flag in [
            &["--timeout", "5"][..],
            &["--retries", "1"],
            &["--chunks", "9"],
        ] {
            let mut args = vec!["--ipc", "mpi", "--steps", "1e6"];
            args.extend_from_slice(flag);
            let out = pi_master(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{flag:?}: {stderr}");
            assert!(
                stderr.contains(&format!("{} does not apply to --ipc mpi", flag[0])),
                "{stderr}"
            );
        }
    }

    #[test]
    fn without_mpiexec_on_the_path_the_launcher_says_so() {
        let out = common::output_within(
            common::command(BIN)
                .args(["--ipc", "mpi", "--steps", "1e6"])
                .env("PATH", "/nonexistent"),
            DEADLINE,
            "pi-master without mpiexec",
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("needs `mpiexec` on the PATH"), "{stderr}");
    }

    /// A job being watched: its stderr read line by line as it comes.
    struct LiveJob {
        child: Child,
        lines: Receiver<String>,
        seen: Vec<String>,
        what: String,
    }

    /// A job a failed test leaves behind is stopped: Ctrl-C to its launcher (which passes it
    /// on to every rank), then SIGKILL if it is still there.
    impl Drop for LiveJob {
        fn drop(&mut self) {
            if let Ok(None) = self.child.try_wait() {
                let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT);
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline {
                    if let Ok(Some(_)) = self.child.try_wait() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }

    impl LiveJob {
        fn start(command: &mut Command, what: &str) -> LiveJob {
            let mut child = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
            let (tx, lines) = channel();
            let err = child.stderr.take().expect("piped");
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            LiveJob {
                child,
                lines,
                seen: Vec::new(),
                what: what.to_string(),
            }
        }

        /// The pids of the ranks, by rank, from their announcements (`-v`).
        fn rank_pids(&mut self, ranks: usize) -> Vec<u32> {
            let deadline = Instant::now() + DEADLINE;
            let mut pids = vec![0; ranks];
            while pids.contains(&0) {
                let left = deadline.saturating_duration_since(Instant::now());
                let Ok(line) = self.lines.recv_timeout(left) else {
                    let _ = self.child.kill();
                    panic!(
                        "{}: the ranks never announced themselves: {:?}",
                        self.what, self.seen
                    );
                };
                if let Some(rest) = line.strip_prefix("rank ") {
                    let rank: usize = rest.split(' ').next().unwrap().parse().unwrap();
                    let pid = rest
                        .split("pid ")
                        .nth(1)
                        .unwrap()
                        .split(' ')
                        .next()
                        .unwrap();
                    pids[rank] = pid.parse().unwrap();
                }
                self.seen.push(line);
            }
            pids
        }

        fn finish(mut self) -> (std::process::ExitStatus, String) {
            let status = common::wait_within(&mut self.child, DEADLINE, &self.what);
            while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
                self.seen.push(line);
            }
            (status, self.seen.join("\n"))
        }
    }

    fn launched_job(ranks: usize) -> LiveJob {
        let procs = ranks.to_string();
        LiveJob::start(
            common::command(BIN).args(["--ipc", "mpi", "--procs", &procs, "--steps", "1e13", "-v"]),
            "pi-master --ipc mpi (launched)",
        )
    }

    /// A rank killed mid-run ends the job within seconds; pi-master names the rank, its pid,
    /// host and range; no rank is left.
    #[test]
    fn a_killed_rank_fails_the_run_naming_it_and_leaves_nothing() {
        let mut job = launched_job(3);
        let pids = job.rank_pids(3);
        let killed_at = Instant::now();
        kill(Pid::from_raw(pids[1] as i32), Signal::SIGKILL).unwrap();
        let (status, stderr) = job.finish();
        assert!(killed_at.elapsed() < Duration::from_secs(10), "{stderr}");
        assert_eq!(status.code(), Some(1), "{stderr}");
        let named = format!("rank 1 of 3 (pid {} on host ", pids[1]);
        assert!(stderr.contains(&named), "names the rank: {stderr}");
        // How it ended is said when MPICH's banner names that same process.
        assert!(
            stderr.contains("was killed by signal 9 (SIGKILL)") || stderr.contains("ended first"),
            "{stderr}"
        );
        for other in [0, 2] {
            assert!(
                !stderr.contains(&format!("rank {other} of 3 (pid")),
                "blames another rank: {stderr}"
            );
        }
        assert!(
            !stderr.contains("BAD TERMINATION"),
            "the banner is translated: {stderr}"
        );
        let left = common::wait_gone(&pids, Duration::from_secs(5));
        assert!(left.is_empty(), "ranks left behind: {left:?}\n{stderr}");
    }

    /// Straight under mpiexec, MPI's launcher itself ends the job and names the pid, which the
    /// ranks' announcements (`-v`) tie to a rank; nothing is left either.
    #[test]
    fn a_killed_rank_under_mpiexec_ends_the_job_and_leaves_nothing() {
        let mut job = LiveJob::start(
            common::command("mpiexec")
                .args(["-n", "2", BIN, "--ipc", "mpi", "--steps", "1e13", "-v"]),
            "mpiexec -n 2 pi-master --ipc mpi",
        );
        let pids = job.rank_pids(2);
        kill(Pid::from_raw(pids[1] as i32), Signal::SIGKILL).unwrap();
        let (status, stderr) = job.finish();
        assert!(!status.success(), "{stderr}");
        let left = common::wait_gone(&pids, Duration::from_secs(5));
        assert!(left.is_empty(), "ranks left behind: {left:?}\n{stderr}");
    }

    /// Ctrl-C (SIGINT) to pi-master reaches every rank; pi-master then dies of it.
    #[test]
    fn sigint_reaches_every_rank() {
        for signal in [Signal::SIGINT, Signal::SIGTERM] {
            let mut job = launched_job(2);
            let pids = job.rank_pids(2);
            kill(Pid::from_raw(job.child.id() as i32), signal).unwrap();
            let (status, stderr) = job.finish();
            assert_eq!(status.signal(), Some(signal as i32), "{status:?} {stderr}");
            let left = common::wait_gone(&pids, Duration::from_secs(5));
            assert!(left.is_empty(), "ranks left behind: {left:?}\n{stderr}");
        }
    }

    /// Straight under mpiexec, Ctrl-C goes to mpiexec (the terminal's foreground group), which
    /// passes it on to every rank.
    #[test]
    fn sigint_to_mpiexec_reaches_every_rank() {
        let mut job = LiveJob::start(
            common::command("mpiexec")
                .args(["-n", "2", BIN, "--ipc", "mpi", "--steps", "1e13", "-v"]),
            "mpiexec -n 2 pi-master --ipc mpi",
        );
        let pids = job.rank_pids(2);
        kill(Pid::from_raw(job.child.id() as i32), Signal::SIGINT).unwrap();
        // MPICH's mpiexec exits 0 or not after passing a Ctrl-C on, depending on timing; what
        // matters is that a job of hours ended (within the deadline) and no rank is left.
        let (_, stderr) = job.finish();
        let left = common::wait_gone(&pids, Duration::from_secs(5));
        assert!(left.is_empty(), "ranks left behind: {left:?}\n{stderr}");
    }

    /// `--compare` gains an `mpi` row with the same bits.
    #[test]
    fn compare_adds_an_mpi_row() {
        let out = pi_master(&["--compare", "--procs", "2", "--steps", "1e6", "--json"]);
        let rows = json_of(&out, "compare");
        let rows = rows.as_array().expect("rows");
        let mpi = rows.iter().find(|r| r["ipc"] == "mpi").expect("an mpi row");
        assert_eq!(mpi["pi"], rows[0]["pi"]);
        assert!(mpi["job_seconds"].as_f64().is_some());
    }
}

//! `pi-master` through the real binary: results, process facts, bad input, faults, signals.
//!
//! Every run has a deadline; on failure the whole command line and its output are printed.

// The helpers every test binary of the workspace shares.
#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::thread;
use std::time::{Duration, Instant};

use common::{ScratchDir, wait_gone, wait_within};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(60);
const BIN: &str = env!("CARGO_BIN_EXE_pi-master");

struct Output {
    command: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "\n$ {}\n[{}]\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

fn command_line(args: &[&str]) -> String {
    format!("pi-master {}", args.join(" "))
}

/// Runs pi-master to completion within the deadline.
fn pi_master(args: &[&str]) -> Output {
    let out = common::output_within(
        common::command(BIN).args(args),
        DEADLINE,
        &command_line(args),
    );
    Output {
        command: command_line(args),
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs pi-master with `args`, expecting a usage error (exit 2) whose message has `needle`.
fn assert_usage_error(args: &[&str], needle: &str) -> Output {
    let out = pi_master(args);
    assert_eq!(out.status.code(), Some(2), "{out}");
    assert!(out.stderr.contains(needle), "missing {needle:?}:{out}");
    out
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "run failed:{out}");
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("bad JSON ({e}):{out}"))
}

fn worker_pids(json: &Value) -> Vec<u32> {
    json["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["pid"].as_u64().unwrap() as u32)
        .collect()
}

fn ulp(x: f64) -> f64 {
    f64::from_bits(x.to_bits() + 1) - x
}

#[test]
fn workers_are_separate_processes_and_are_reaped() {
    let out = pi_master(&["--procs", "4", "--steps", "100000", "--json"]);
    let json = json_of(&out);
    let master = json["master_pid"].as_u64().unwrap() as u32;
    let mut pids = worker_pids(&json);
    assert_eq!(pids.len(), 4, "{out}");
    assert!(
        !pids.contains(&master),
        "a worker has the master's pid:{out}"
    );
    assert!(!pids.contains(&std::process::id()));
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 4, "worker pids are not distinct:{out}");
    for w in json["workers"].as_array().unwrap() {
        assert_eq!(w["exit_code"], 0, "{out}");
    }
    // The master reaped them: not even zombies remain.
    assert!(wait_gone(&pids, Duration::from_secs(2)).is_empty(), "{out}");
}

#[test]
fn json_has_the_documented_fields() {
    let json = json_of(&pi_master(&["--procs", "2", "--steps", "1e4", "--json"]));
    for key in [
        "pi",
        "abs_error",
        "steps",
        "procs",
        "ipc",
        "wall_seconds",
        "master_pid",
        "workers",
    ] {
        assert!(json.get(key).is_some(), "missing {key}: {json}");
    }
    assert_eq!(json["steps"], 10_000);
    assert_eq!(json["procs"], 2);
    assert_eq!(json["ipc"], "pipe");
    for w in json["workers"].as_array().unwrap() {
        for key in ["index", "pid", "ranges", "compute_seconds"] {
            assert!(w.get(key).is_some(), "missing workers[].{key}: {json}");
        }
    }
}

#[test]
fn ranges_cover_every_index_once() {
    for (steps, procs) in [
        (10u64, 4usize),
        (7, 7),
        (3, 5),
        (1, 3),
        (1000, 3),
        (12_345_678, 7),
    ] {
        let out = pi_master(&[
            "--procs",
            &procs.to_string(),
            "--steps",
            &steps.to_string(),
            "--json",
        ]);
        let json = json_of(&out);
        let mut next = 0;
        for w in json["workers"].as_array().unwrap() {
            for r in w["ranges"].as_array().unwrap() {
                let (s, e) = (r[0].as_u64().unwrap(), r[1].as_u64().unwrap());
                assert_eq!(s, next, "gap or overlap:{out}");
                assert!(e >= s);
                next = e;
            }
        }
        assert_eq!(next, steps, "ranges do not end at steps:{out}");
    }
}

#[test]
fn remainders_are_spread() {
    let json = json_of(&pi_master(&["--procs", "4", "--steps", "10", "--json"]));
    let lens: Vec<u64> = json["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let r = &w["ranges"][0];
            r[1].as_u64().unwrap() - r[0].as_u64().unwrap()
        })
        .collect();
    assert_eq!(lens, vec![3, 3, 2, 2]);
}

#[test]
fn pi_matches_the_exact_midpoint_sum() {
    const PI_LO: f64 = 1.2246467991473532e-16;
    for steps in [1000u64, 1001, 4099, 65_537, 1_000_000] {
        let json = json_of(&pi_master(&[
            "--procs",
            "3",
            "--steps",
            &steps.to_string(),
            "--json",
        ]));
        let pi = json["pi"].as_f64().unwrap();
        let n = steps as f64;
        let exact = std::f64::consts::PI + (PI_LO + 1.0 / (12.0 * n * n));
        assert!(
            (pi - exact).abs() <= ulp(exact),
            "steps {steps}: pi {pi:e} is {} ulp from {exact:e}",
            (pi - exact) / ulp(exact)
        );
    }
}

#[test]
fn human_report_shows_pi_error_time_and_workers() {
    let out = pi_master(&["--procs", "2", "--steps", "1e6"]);
    assert!(out.status.success(), "{out}");
    for needle in [
        "pi          3.14159265358",
        "true pi",
        "error",
        "wall time",
        "worker",
        "pid",
        "partial sum",
        "compute s",
    ] {
        assert!(out.stdout.contains(needle), "missing {needle:?}:{out}");
    }
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
            .count(),
        2,
        "{out}"
    );
}

#[test]
fn verbose_narrates_the_lifecycle() {
    let out = pi_master(&["--procs", "2", "--steps", "1e5", "--verbose", "--json"]);
    let json = json_of(&out);
    for pid in worker_pids(&json) {
        assert!(out.stderr.contains(&format!("pid {pid}")), "{out}");
    }
    for needle in [
        "started worker 0",
        "sent worker 1 its range",
        "received from worker 0",
        "exited with status 0 and was reaped",
    ] {
        assert!(out.stderr.contains(needle), "missing {needle:?}:{out}");
    }
}

#[test]
fn bad_input_is_a_usage_error() {
    let cases: &[(&[&str], &str)] = &[
        (&["--procs", "0"], "at least 1"),
        (&["--procs", "-3"], "positive"),
        (&["--procs", "many"], "not a number"),
        (&["--procs", ""], "got nothing"),
        (&["--procs", "99999999999999999999999"], "too large"),
        (&["--procs", "100000"], "1024"),
        (&["--procs", "2.5"], "whole number"),
        (&["--steps", "0"], "at least 1"),
        (&["--steps", "-100"], "positive"),
        (&["--steps", "lots"], "not a number"),
        (&["--steps", "1e99"], "too large"),
        (&["--steps", "1e16"], "2^52"),
        (&["--ipc", "carrier-pigeon"], "possible values: pipe, queue"),
        (&["--frobnicate"], "unexpected argument"),
        (&["--procs"], "a value is required"),
        (&["--repeat", "3"], "--compare"),
        (&["--compare", "--repeat", "0"], "at least 1"),
        (&["--compare", "--repeat", "100"], "at most 99"),
        (&["sweep", "--repeat", "5000"], "at most 99"),
    ];
    for (args, needle) in cases {
        let out = assert_usage_error(args, needle);
        assert!(!out.stderr.contains("panicked"), "{out}");
        assert!(out.stdout.is_empty(), "{out}");
    }
}

#[test]
fn a_worker_started_by_hand_refuses_to_run() {
    let out = pi_master(&["--multiproc-worker", "1", "pi-worker-0"]);
    assert_eq!(out.status.code(), Some(2), "{out}");
    assert!(out.stderr.contains("refusing to run as a worker"), "{out}");
    // Right parent, but descriptors 3 and 4 are not the pipes a worker expects.
    let me = std::process::id().to_string();
    let out = pi_master(&["--multiproc-worker", &me, "pi-worker-0"]);
    assert_eq!(out.status.code(), Some(2), "{out}");
    assert!(out.stderr.contains("descriptor 3"), "{out}");
    assert!(!out.stderr.contains("panicked"), "{out}");
}

/// The lines of a child's stderr as they come, read on a thread of their own (so a test can
/// wait for one with a deadline).
fn stderr_lines(stderr: std::process::ChildStderr) -> Receiver<String> {
    let (tx, lines) = channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// A long run whose narration is read line by line while it goes.
struct LiveRun {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    command: String,
    /// What it prints on stdout, read as it comes (so a full pipe never blocks it).
    stdout: Option<thread::JoinHandle<String>>,
}

/// A run the test did not finish (it failed half-way) is killed, not left computing: its
/// workers and forkserver die with it.
impl Drop for LiveRun {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl LiveRun {
    fn start(procs: usize) -> LiveRun {
        Self::start_with(procs, &[])
    }

    fn start_with(procs: usize, extra: &[&str]) -> LiveRun {
        let procs_text = procs.to_string();
        let mut args = vec!["--procs", &procs_text, "--steps", "1e15"];
        args.extend_from_slice(extra);
        Self::start_args(&args)
    }

    /// Starts `pi-master ARGS --verbose`.
    fn start_args(args: &[&str]) -> LiveRun {
        let mut args = args.to_vec();
        args.push("--verbose");
        let mut child = common::command(BIN)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pi-master");
        let lines = stderr_lines(child.stderr.take().unwrap());
        let mut out = child.stdout.take().unwrap();
        let stdout = thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        });
        LiveRun {
            child,
            lines,
            seen: Vec::new(),
            command: command_line(&args),
            stdout: Some(stdout),
        }
    }

    /// What it printed on stdout, once it has exited.
    fn stdout(&mut self) -> String {
        self.stdout
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }

    /// Waits until every worker has been sent (pipe) or has taken (queue) a range; returns
    /// the worker pids by index.
    fn wait_until_running(&mut self, procs: usize) -> Vec<u32> {
        let deadline = Instant::now() + DEADLINE;
        let mut pids = vec![0u32; procs];
        let mut sent = 0;
        while sent < procs {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                let _ = self.child.kill();
                panic!("no progress from `{}`: {:?}", self.command, self.seen)
            });
            if let Some(rest) = line.split("started worker ").nth(1) {
                let index: usize = rest.split(':').next().unwrap().parse().unwrap();
                pids[index] = rest.rsplit("pid ").next().unwrap().parse().unwrap();
            }
            if line.contains("its range") || line.contains("from the task queue") {
                sent += 1;
            }
            if line.contains("over the pool's workers") {
                // Pool mode: the pool hands the chunks out itself; give it a moment.
                std::thread::sleep(Duration::from_millis(200));
                sent = procs;
            }
            self.seen.push(line);
        }
        pids
    }

    fn finish(&mut self) -> (ExitStatus, String) {
        let status = wait_within(&mut self.child, DEADLINE, &self.command);
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status, self.seen.join("\n"))
    }
}

fn kill_one_worker(signal: Signal, expect: &str) {
    let mut run = LiveRun::start(3);
    let pids = run.wait_until_running(3);
    let killed_at = Instant::now();
    kill(Pid::from_raw(pids[1] as i32), signal).unwrap();
    let (status, stderr) = run.finish();
    // Noticed at once (end of stream), not after some timeout: a generous bound for a loaded
    // machine, far below any timeout the master could be waiting on.
    assert!(
        killed_at.elapsed() < Duration::from_secs(5),
        "slow to notice: {stderr}"
    );
    assert_eq!(status.code(), Some(1), "{stderr}");
    let named = format!("worker 1 (pid {}, range [", pids[1]);
    assert!(
        stderr.contains(&named),
        "failure does not name the worker: {stderr}"
    );
    assert!(stderr.contains(expect), "missing {expect:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let left = wait_gone(&pids, Duration::from_secs(2));
    assert!(left.is_empty(), "workers left behind: {left:?}\n{stderr}");
}

#[test]
fn a_killed_worker_fails_the_run_and_is_named() {
    kill_one_worker(
        Signal::SIGKILL,
        "was killed by signal 9 (SIGKILL) before sending its result",
    );
}

#[test]
fn a_crashed_worker_fails_the_run_and_is_named() {
    // SIGABRT is what a Rust worker that aborts dies of. (A SIGSEGV sent with `kill` is
    // absorbed once by Rust's stack-overflow handler; a real fault is not.)
    kill_one_worker(Signal::SIGABRT, "was killed by signal 6 (SIGABRT)");
}

#[test]
fn a_terminated_worker_fails_the_run_and_is_named() {
    kill_one_worker(Signal::SIGTERM, "was killed by signal 15 (SIGTERM)");
}

fn signal_master(signal: Signal, name: &str) {
    let mut run = LiveRun::start(2);
    let pids = run.wait_until_running(2);
    kill(Pid::from_raw(run.child.id() as i32), signal).unwrap();
    let (status, stderr) = run.finish();
    assert_eq!(
        status.signal(),
        Some(signal as i32),
        "dies of {name}: {status:?} {stderr}"
    );
    assert!(
        stderr.contains(&format!("interrupted by {name}")),
        "{stderr}"
    );
    assert!(stderr.contains("stopping workers"), "{stderr}");
    // The master reaped them before exiting.
    let left = wait_gone(&pids, Duration::from_millis(200));
    assert!(left.is_empty(), "workers left behind: {left:?}\n{stderr}");
}

#[test]
fn sigint_to_the_master_stops_and_reaps_every_worker() {
    signal_master(Signal::SIGINT, "SIGINT");
}

/// Ctrl-C at a terminal signals the whole foreground group: the shell and pi-master. A master
/// that dies of SIGINT (rather than exiting 130) makes the shell stop its loop, as Python does.
#[test]
fn one_ctrl_c_stops_a_shell_loop() {
    let script = format!(
        "for i in 1 2 3; do '{BIN}' --procs 2 --steps 1e15 --no-progress; echo after $i; done"
    );
    let mut shell = common::command("bash")
        .arg("-c")
        .arg(&script)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start bash");
    let group = Pid::from_raw(-(shell.id() as i32));
    // Whenever it lands (before pi-master watches for it, or after), one SIGINT must end all.
    thread::sleep(Duration::from_millis(800));
    kill(group, Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = shell.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    // Nothing of the loop may outlive the test, whatever happened.
    let _ = kill(group, Signal::SIGKILL);
    let _ = shell.wait();
    let mut out = String::new();
    let _ = shell.stdout.take().unwrap().read_to_string(&mut out);
    let status = status.expect("the loop went on after Ctrl-C");
    assert!(!out.contains("after"), "the loop went on: {out:?}");
    assert_eq!(status.signal(), Some(Signal::SIGINT as i32), "{status:?}");
}

#[test]
fn sigterm_to_the_master_stops_and_reaps_every_worker() {
    signal_master(Signal::SIGTERM, "SIGTERM");
}

#[test]
fn workers_die_with_a_killed_master() {
    let mut run = LiveRun::start(2);
    let pids = run.wait_until_running(2);
    run.child.kill().unwrap();
    let (status, stderr) = run.finish();
    assert_eq!(status.code(), None, "master was killed");
    let left = wait_gone(&pids, Duration::from_secs(5));
    assert!(left.is_empty(), "orphaned workers: {left:?}\n{stderr}");
}

#[test]
fn progress_goes_to_stderr_and_never_into_json() {
    let out = pi_master(&["--procs", "2", "--steps", "2e6", "--json", "--progress"]);
    let json = json_of(&out);
    assert_eq!(json["steps"], 2_000_000);
    assert!(out.stdout.trim().lines().count() == 1, "{out}");
    assert!(out.stderr.contains("progress: 100%"), "{out}");
    assert!(!out.stdout.contains("progress"), "{out}");
}

#[test]
fn sweep_reports_speedup_and_draws_a_well_formed_svg_or_png() {
    let dir = std::env::temp_dir().join(format!("pi-master-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("speedup.svg");
    let svg_arg = svg.to_str().unwrap();
    let out = pi_master(&[
        "sweep", "--procs", "2,3", "--steps", "1e5", "--repeat", "1", "--plot", svg_arg, "--json",
    ]);
    let json = json_of(&out);
    let points = json["points"].as_array().unwrap();
    let procs: Vec<u64> = points
        .iter()
        .map(|p| p["procs"].as_u64().unwrap())
        .collect();
    assert_eq!(procs, vec![1, 2, 3], "1 is always the baseline:{out}");
    assert_eq!(points[0]["speedup"], 1.0, "{out}");
    for p in points {
        for key in ["wall_seconds", "speedup", "efficiency", "pi"] {
            assert!(p[key].is_number(), "missing {key}:{out}");
        }
        assert_eq!(p["pi"], points[0]["pi"], "same bits for every count:{out}");
    }
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the plot is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let labels: String = doc.descendants().filter_map(|n| n.text()).collect();
    for needle in ["speedup", "worker processes", "measured", "ideal"] {
        assert!(labels.contains(needle), "plot lacks {needle:?}");
    }
    // A PNG when the name asks for one: a real picture, of the chart's size.
    let png = dir.join("speedup.png");
    let out = pi_master(&[
        "sweep",
        "--procs",
        "2",
        "--steps",
        "1e5",
        "--repeat",
        "1",
        "--plot",
        png.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out}");
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let reader = decoder.read_info().expect("a well-formed PNG");
    assert_eq!((reader.info().width, reader.info().height), (1280, 720));
    // Any other name is refused before anything runs.
    let jpg = dir.join("speedup.jpg");
    let out = assert_usage_error(
        &["sweep", "--steps", "10", "--plot", jpg.to_str().unwrap()],
        ".svg or .png",
    );
    assert!(!jpg.exists(), "{out}");
    let table = pi_master(&["sweep", "--procs", "2", "--steps", "1e4", "--repeat", "1"]);
    assert!(table.status.success(), "{table}");
    for needle in ["speedup", "efficiency", "Amdahl"] {
        assert!(table.stdout.contains(needle), "missing {needle:?}:{table}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sweep_refuses_a_malformed_list_or_plot_path() {
    for (args, needle) in [
        (&["sweep", "--procs", "1,,x"][..], "empty"),
        (&["sweep", "--procs", "1,x"][..], "not a number"),
        (&["sweep", "--procs", "0,2"][..], "at least 1"),
        (
            &["sweep", "--plot", "/nonexistent-dir/p.svg", "--steps", "10"][..],
            "cannot write the plot",
        ),
    ] {
        assert_usage_error(args, needle);
    }
}

#[test]
fn queue_mode_names_a_killed_worker_and_its_chunk() {
    let mut run = LiveRun::start_with(2, &["--ipc", "queue", "--chunks", "4"]);
    let pids = run.wait_until_running(2);
    kill(Pid::from_raw(pids[0] as i32), Signal::SIGKILL).unwrap();
    let (status, stderr) = run.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    // Which chunk worker 0 had is up to the race for the task queue; the narration says.
    let took = stderr
        .lines()
        .filter_map(|l| l.split("worker 0 took ").nth(1))
        .next_back()
        .and_then(|rest| rest.split(" from").next())
        .unwrap_or_else(|| panic!("worker 0 took no chunk: {stderr}"))
        .to_string();
    let named = format!("worker 0 (pid {}, range {took})", pids[0]);
    assert!(
        stderr.contains(&named),
        "failure does not name the worker and its chunk {named:?}: {stderr}"
    );
    assert!(
        stderr.contains("was killed by signal 9 (SIGKILL) before sending the result"),
        "{stderr}"
    );
    let left = wait_gone(&pids, Duration::from_secs(2));
    assert!(left.is_empty(), "workers left behind: {left:?}\n{stderr}");
}

/// Kills worker `which` of a long run in the mode `extra` selects with SIGKILL: the run
/// fails naming it (with `named_as` and its pid, then its range) and `expect`, and leaves
/// nothing behind.
fn a_killed_worker_in(extra: &[&str], which: usize, named_as: &str, expect: &str) {
    let mut run = LiveRun::start_with(2, extra);
    let pids = run.wait_until_running(2);
    kill(Pid::from_raw(pids[which] as i32), Signal::SIGKILL).unwrap();
    let (status, stderr) = run.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let named = format!("{named_as}(pid {}, range [", pids[which]);
    assert!(stderr.contains(&named), "missing {named:?}: {stderr}");
    assert!(stderr.contains(expect), "missing {expect:?}: {stderr}");
    let left = wait_gone(&pids, Duration::from_secs(2));
    assert!(left.is_empty(), "workers left behind: {left:?}\n{stderr}");
}

/// SIGINT to the master of a long run in the mode `extra` selects: it dies of SIGINT once
/// every worker is reaped.
fn sigint_stops_and_reaps_in(extra: &[&str]) {
    let mut run = LiveRun::start_with(2, extra);
    let pids = run.wait_until_running(2);
    kill(Pid::from_raw(run.child.id() as i32), Signal::SIGINT).unwrap();
    let (status, stderr) = run.finish();
    assert_eq!(
        status.signal(),
        Some(Signal::SIGINT as i32),
        "{status:?} {stderr}"
    );
    let left = wait_gone(&pids, Duration::from_millis(200));
    assert!(left.is_empty(), "workers left behind: {left:?}\n{stderr}");
}

#[test]
fn shm_mode_names_a_killed_worker_and_its_range() {
    a_killed_worker_in(
        &["--ipc", "shm"],
        1,
        "worker 1 ",
        "was killed by signal 9 (SIGKILL) before writing its result",
    );
}

#[test]
fn sigint_in_shm_mode_stops_and_reaps_every_worker() {
    sigint_stops_and_reaps_in(&["--ipc", "shm"]);
}

#[test]
fn shm_mode_json_says_shm_and_covers_every_index() {
    let json = json_of(&pi_master(&[
        "--ipc", "shm", "--procs", "3", "--steps", "1000003", "--json",
    ]));
    assert_eq!(json["ipc"], "shm");
    assert_eq!(json["messages"], 0);
    assert_tiles(&json, 1000003);
}

#[test]
fn shm_channel_mode_names_a_killed_worker_and_its_range() {
    a_killed_worker_in(
        &["--ipc", "shm-channel"],
        1,
        "worker 1 ",
        "was killed by signal 9 (SIGKILL) before sending its result",
    );
}

#[test]
fn sigint_in_shm_channel_mode_stops_and_reaps_every_worker() {
    sigint_stops_and_reaps_in(&["--ipc", "shm-channel"]);
}

#[test]
fn shm_channel_mode_carries_the_pipe_protocol_and_counts_its_messages() {
    let json = json_of(&pi_master(&[
        "--ipc",
        "shm-channel",
        "--procs",
        "3",
        "--steps",
        "1000003",
        "--json",
    ]));
    assert_eq!(json["ipc"], "shm-channel");
    // A range and a stop out, a result back, per worker: as in pipe mode.
    assert_eq!(json["messages"], 9);
    assert_tiles(&json, 1000003);
}

#[test]
fn retries_replace_a_killed_worker_in_shm_channel_mode() {
    retried_after_a_kill_in(&["--ipc", "shm-channel"]);
}

#[test]
fn pool_mode_names_a_killed_worker_and_its_chunk() {
    a_killed_worker_in(
        &["--ipc", "pool", "--chunks", "4"],
        0,
        "",
        "was killed by signal 9 (SIGKILL) before sending the result",
    );
}

#[test]
fn pool_mode_json_lists_the_chunks_each_worker_computed() {
    let json = json_of(&pi_master(&[
        "--ipc", "pool", "--procs", "2", "--steps", "1000003", "--chunks", "6", "--json",
    ]));
    assert_eq!(json["ipc"], "pool");
    assert_eq!(json["chunks"], 6);
    assert_tiles(&json, 1000003);
}

#[test]
fn sigint_in_queue_mode_stops_and_reaps_every_worker() {
    sigint_stops_and_reaps_in(&["--ipc", "queue"]);
}

#[test]
fn pi_is_the_same_for_any_number_of_processes_and_every_ipc() {
    for steps in ["1", "999", "100003", "12345678"] {
        let mut bits = Vec::new();
        for procs in ["1", "2", "3", "7", "16"] {
            for ipc in [
                &["--ipc", "pipe"][..],
                &["--ipc", "queue"],
                &["--ipc", "queue", "--chunks", "5"],
                &["--ipc", "shm"],
                &["--ipc", "shm-channel"],
                &["--ipc", "pool"],
            ] {
                let mut args = vec!["--procs", procs, "--steps", steps, "--json"];
                args.extend_from_slice(ipc);
                let json = json_of(&pi_master(&args));
                bits.push((procs, ipc.join(" "), json["pi"].as_f64().unwrap().to_bits()));
            }
        }
        assert!(
            bits.windows(2).all(|w| w[0].2 == w[1].2),
            "steps {steps}: {bits:x?}"
        );
    }
}

/// Every `[start, end)` of every worker, sorted: must tile `[0, steps)` exactly.
fn assert_tiles(json: &Value, steps: u64) {
    let mut ranges: Vec<(u64, u64)> = json["workers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["ranges"].as_array().unwrap().clone())
        .map(|r| (r[0].as_u64().unwrap(), r[1].as_u64().unwrap()))
        .collect();
    ranges.sort();
    let mut next = 0;
    for (s, e) in ranges {
        assert_eq!(s, next, "gap or overlap: {json}");
        next = e;
    }
    assert_eq!(next, steps, "{json}");
}

#[test]
fn queue_mode_balances_chunks_and_covers_every_index() {
    let json = json_of(&pi_master(&[
        "--ipc", "queue", "--procs", "3", "--steps", "1e6", "--chunks", "12", "--json",
    ]));
    assert_eq!(json["ipc"], "queue");
    assert_eq!(json["chunks"], 12);
    let taken: usize = json["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["ranges"].as_array().unwrap().len())
        .sum();
    assert_eq!(taken, 12, "every chunk taken once: {json}");
    assert_tiles(&json, 1_000_000);
    // More chunks than there is work are clamped.
    let json = json_of(&pi_master(&[
        "--ipc", "queue", "--procs", "2", "--steps", "10", "--chunks", "1000", "--json",
    ]));
    assert_eq!(json["chunks"], 10, "{json}");
    assert_tiles(&json, 10);
}

#[test]
fn chunks_must_be_a_positive_number_for_queue_mode() {
    for (args, needle) in [
        (&["--ipc", "queue", "--chunks", "0"][..], "at least 1"),
        (&["--ipc", "queue", "--chunks", "some"][..], "not a number"),
        (&["--ipc", "queue", "--chunks", "-2"][..], "positive"),
        (
            &["--ipc", "pipe", "--chunks", "4"][..],
            "--ipc queue and pool only",
        ),
    ] {
        assert_usage_error(args, needle);
    }
}

#[test]
fn compare_shows_every_mode_side_by_side() {
    let out = pi_master(&["--compare", "--procs", "2", "--steps", "1e5", "--json"]);
    let json = json_of(&out);
    let rows = json.as_array().expect("a list");
    let modes: Vec<&str> = rows.iter().map(|r| r["ipc"].as_str().unwrap()).collect();
    assert_eq!(
        modes,
        vec!["pipe", "queue", "shm", "shm-channel", "pool"],
        "{out}"
    );
    for r in rows {
        for key in [
            "pi",
            "abs_error",
            "wall_seconds",
            "speedup",
            "messages",
            "bytes",
        ] {
            assert!(r[key].is_number(), "missing {key}:{out}");
        }
        // Shared memory carries the results (nothing crosses a pipe after start-up), and a
        // pool's own pipes are not counted.
        let messages = r["messages"].as_u64().unwrap();
        let counted = r["ipc"] != "shm" && r["ipc"] != "pool";
        assert!(
            if counted {
                messages >= 4
            } else {
                messages == 0
            },
            "{out}"
        );
        assert_eq!(r["pi"], rows[0]["pi"], "{out}");
        // Three runs of each by default, and the medians shown.
        for (runs, median) in [
            ("runs", "wall_seconds"),
            ("one_process_runs", "one_process_wall_seconds"),
        ] {
            let mut times: Vec<f64> = r[runs]
                .as_array()
                .unwrap_or_else(|| panic!("missing {runs}:{out}"))
                .iter()
                .map(|t| t.as_f64().unwrap())
                .collect();
            assert_eq!(times.len(), 3, "{out}");
            times.sort_by(f64::total_cmp);
            assert_eq!(r[median].as_f64(), Some(times[1]), "{out}");
        }
        let speedup =
            r["one_process_wall_seconds"].as_f64().unwrap() / r["wall_seconds"].as_f64().unwrap();
        // (JSON's decimal digits can move the last bit of a parsed number.)
        let shown = r["speedup"].as_f64().unwrap();
        assert!((shown - speedup).abs() <= 1e-12 * speedup, "{out}");
    }
    // One run each, when asked, and the table says which.
    let once_args = [
        "--compare",
        "--repeat",
        "1",
        "--procs",
        "2",
        "--steps",
        "1e5",
    ];
    let once = json_of(&pi_master(&[&once_args[..], &["--json"]].concat()));
    for r in once.as_array().expect("a list") {
        assert_eq!(r["runs"].as_array().map(Vec::len), Some(1), "{once}");
    }
    let table = pi_master(&once_args);
    assert!(table.stdout.contains("one run of each mode"), "{table}");
    let table = pi_master(&["--compare", "--procs", "2", "--steps", "1e5"]);
    assert!(table.status.success(), "{table}");
    assert!(
        table.stdout.contains("median wall time of 3 runs"),
        "{table}"
    );
    for needle in [
        "pipe",
        "queue",
        "shm",
        "speedup",
        "messages",
        "bytes",
        "same bits",
    ] {
        assert!(table.stdout.contains(needle), "missing {needle:?}:{table}");
    }
}

#[test]
fn the_largest_number_of_workers_runs_in_every_mode() {
    for ipc in ["pipe", "queue", "shm", "shm-channel", "pool"] {
        let json = json_of(&pi_master(&[
            "--procs", "1024", "--steps", "4096", "--ipc", ipc, "--json",
        ]));
        let pids = worker_pids(&json);
        assert_eq!(pids.len(), 1024, "{ipc}");
        assert_tiles(&json, 4096);
        assert!(
            wait_gone(&pids, Duration::from_secs(5)).is_empty(),
            "{ipc}: workers left"
        );
    }
}

/// Starts a long sweep plotting to `plot`, waits until its first worker runs, and sends the
/// master `signal`; returns the exit status and the worker's pid.
fn interrupt_a_sweep(plot: &std::path::Path, signal: Signal) -> (ExitStatus, u32) {
    let plot_arg = plot.to_str().unwrap().to_string();
    let args = [
        "sweep", "--procs", "1,2", "--steps", "1e15", "--repeat", "1", "--plot", &plot_arg, "-v",
    ];
    let mut child = common::command(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pi-master");
    let lines = stderr_lines(child.stderr.take().unwrap());
    let pid = loop {
        let Ok(line) = lines.recv_timeout(DEADLINE) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the sweep did not start a worker within {DEADLINE:?}");
        };
        if line.contains("started worker 0") {
            break line.rsplit("pid ").next().unwrap().parse::<u32>().unwrap();
        }
    };
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    let status = wait_within(&mut child, DEADLINE, "pi-master sweep");
    assert!(wait_gone(&[pid], Duration::from_secs(2)).is_empty());
    (status, pid)
}

#[test]
fn an_interrupted_sweep_stops_its_workers_and_leaves_no_plot_file() {
    let dir = ScratchDir::new("interrupted");
    let (status, _) = interrupt_a_sweep(&dir.join("speedup.svg"), Signal::SIGINT);
    assert_eq!(status.signal(), Some(Signal::SIGINT as i32), "{status:?}");
    assert!(dir.names().is_empty(), "files left: {:?}", dir.names());
}

#[test]
fn an_interrupted_sweep_leaves_an_existing_plot_file_intact() {
    let dir = ScratchDir::new("kept");
    let svg = dir.join("speedup.svg");
    std::fs::write(&svg, "the plot of last week").unwrap();
    let (status, _) = interrupt_a_sweep(&svg, Signal::SIGTERM);
    assert_eq!(status.signal(), Some(Signal::SIGTERM as i32), "{status:?}");
    assert_eq!(
        std::fs::read_to_string(&svg).unwrap(),
        "the plot of last week",
        "the existing plot was changed by a run that failed"
    );
    assert_eq!(dir.names(), ["speedup.svg"], "no temporary file left");
}

#[test]
fn a_plot_target_that_is_not_a_regular_file_is_never_removed() {
    // /dev/null as a plot target must survive a failed run (as root, removing it would
    // break the machine); a FIFO stands for it here, so the test is safe as any user.
    let dir = ScratchDir::new("fifo");
    let fifo = dir.join("plot.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let (status, _) = interrupt_a_sweep(&fifo, Signal::SIGINT);
    assert_eq!(status.signal(), Some(Signal::SIGINT as i32), "{status:?}");
    use std::os::unix::fs::FileTypeExt;
    let kind = std::fs::symlink_metadata(&fifo)
        .expect("the FIFO is still there")
        .file_type();
    assert!(kind.is_fifo(), "{kind:?}");
    assert_eq!(dir.names(), ["plot.fifo"]);
}

#[test]
fn a_successful_sweep_replaces_the_plot_file_whole() {
    let dir = ScratchDir::new("replaced");
    let svg = dir.join("speedup.svg");
    std::fs::write(&svg, "old").unwrap();
    let plot = svg.to_str().unwrap();
    let out = pi_master(&[
        "sweep", "--procs", "1,2", "--steps", "1e5", "--repeat", "1", "--plot", plot,
    ]);
    assert!(out.status.success(), "{out}");
    let text = std::fs::read_to_string(&svg).unwrap();
    roxmltree::Document::parse(&text).expect("well-formed SVG");
    assert_eq!(dir.names(), ["speedup.svg"]);
}

#[test]
fn default_procs_follow_the_cpu_affinity() {
    // `taskset` (util-linux) pins the master to one CPU; cpu_count() must see just that one.
    let Ok(mut child) = common::command("taskset")
        .args(["-c", "0", BIN, "--steps", "1000", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("taskset is not installed; skipping");
        return;
    };
    let status = wait_within(&mut child, DEADLINE, "taskset -c 0 pi-master");
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(status.success(), "{status}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["procs"], 1, "{json}");
}

#[test]
fn a_master_started_with_sigchld_ignored_still_sees_its_workers_exit() {
    // `trap '' CHLD` is inherited across exec; with it, the kernel would reap the workers and
    // their exit statuses would be lost (every worker looked killed).
    for ipc in ["pipe", "queue"] {
        let script = format!("trap '' CHLD; exec '{BIN}' --procs 2 --steps 1e6 --ipc {ipc} --json");
        let out = common::output_within(
            common::command("sh").args(["-c", &script]),
            DEADLINE,
            &script,
        );
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        for w in json["workers"].as_array().unwrap() {
            assert_eq!(w["exit_code"], 0, "{json}");
        }
    }
}

/// `--timeout` in the mode `extra` selects: a worker that cannot finish in time is stopped,
/// named with its range and "timed out", and nobody is left behind.
fn times_out_in(extra: &[&str]) {
    let mut args = vec!["--timeout", "1"];
    args.extend_from_slice(extra);
    let mut run = LiveRun::start_with(2, &args);
    let pids = run.wait_until_running(2);
    let (status, stderr) = run.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("timed out: no result within 1 s (--timeout)"),
        "{stderr}"
    );
    assert!(stderr.contains(", range ["), "names the range: {stderr}");
    let left = wait_gone(&pids, Duration::from_secs(2));
    assert!(left.is_empty(), "workers left behind: {left:?}\n{stderr}");
}

#[test]
fn a_worker_past_the_timeout_fails_the_run_in_pipe_mode() {
    times_out_in(&[]);
}

#[test]
fn a_worker_past_the_timeout_fails_the_run_in_queue_mode() {
    times_out_in(&["--ipc", "queue"]);
}

#[test]
fn a_worker_past_the_timeout_fails_the_run_in_shm_mode() {
    times_out_in(&["--ipc", "shm"]);
}

#[test]
fn a_worker_past_the_timeout_fails_the_run_in_pool_mode() {
    times_out_in(&["--ipc", "pool"]);
}

/// A stopped worker never sees SIGTERM: after the grace period it is killed, and said so.
#[test]
fn a_stopped_worker_is_killed_after_the_grace_period() {
    let mut run = LiveRun::start_with(2, &["--timeout", "1.5"]);
    let pids = run.wait_until_running(2);
    kill(Pid::from_raw(pids[1] as i32), Signal::SIGSTOP).unwrap();
    kill(Pid::from_raw(pids[0] as i32), Signal::SIGSTOP).unwrap();
    let (status, stderr) = run.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .contains("did not stop within 1 s of SIGTERM (stopped or ignoring it) and was killed"),
        "{stderr}"
    );
    let left = wait_gone(&pids, Duration::from_secs(2));
    assert!(left.is_empty(), "workers left behind: {left:?}\n{stderr}");
}

#[test]
fn a_timeout_that_is_not_a_positive_number_is_a_usage_error() {
    for bad in ["0", "-1", "abc", "inf", "1e12"] {
        let out = common::command(BIN)
            .args(["--timeout", bad, "--steps", "10"])
            .output()
            .expect("run pi-master");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--timeout {bad}: {stderr}");
        assert!(stderr.contains("--timeout"), "--timeout {bad}: {stderr}");
    }
}

#[test]
fn a_run_within_its_timeout_is_unchanged() {
    let out = common::command(BIN)
        .args([
            "--procs",
            "2",
            "--steps",
            "1e6",
            "--timeout",
            "30",
            "--json",
        ])
        .output()
        .expect("run pi-master");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        v["pi"]
            .as_f64()
            .is_some_and(|pi| (pi - std::f64::consts::PI).abs() < 1e-9)
    );
}

/// Steps for a run that lasts long enough to kill a worker in the middle of it (about a
/// second of work per worker on two cores), and short enough to finish it again.
const RETRY_STEPS: &str = "3e9";

/// The bits of pi for [`RETRY_STEPS`] from a clean run.
fn clean_bits() -> u64 {
    static BITS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BITS.get_or_init(|| {
        let json = json_of(&pi_master(&[
            "--procs",
            "2",
            "--steps",
            RETRY_STEPS,
            "--json",
        ]));
        json["pi"].as_f64().unwrap().to_bits()
    })
}

/// `--retries` in the mode `extra` selects: worker 1 killed in the middle of its work is
/// replaced, its range computed again, and pi has the clean run's bits; the report says what
/// was retried, and nobody is left behind.
fn retried_after_a_kill_in(extra: &[&str]) {
    let mut args = vec![
        "--procs",
        "2",
        "--steps",
        RETRY_STEPS,
        "--retries",
        "2",
        "--json",
    ];
    args.extend_from_slice(extra);
    let mut run = LiveRun::start_args(&args);
    let pids = run.wait_until_running(2);
    let victim = *pids.iter().rev().find(|p| **p != 0).expect("a worker pid");
    kill(Pid::from_raw(victim as i32), Signal::SIGKILL).unwrap();
    let (status, stderr) = run.finish();
    let stdout = run.stdout();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("retry 1 of 2"),
        "the retry is announced: {stderr}"
    );
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(
        json["pi"].as_f64().unwrap().to_bits(),
        clean_bits(),
        "pi after a retry differs from a clean run: {stdout}"
    );
    let retries = json["retries"].as_array().expect("retries listed");
    assert_eq!(retries.len(), 1, "{stdout}");
    assert_eq!(retries[0]["pid"].as_u64(), Some(victim as u64), "{stdout}");
    assert!(
        retries[0]["cause"].as_str().unwrap().contains("SIGKILL"),
        "{stdout}"
    );
    assert!(
        retries[0]["range"].is_array(),
        "the range retried: {stdout}"
    );
    assert_tiles(&json, 3_000_000_000);
    let left = wait_gone(&pids, Duration::from_secs(2));
    assert!(left.is_empty(), "workers left behind: {left:?}\n{stderr}");
}

#[test]
fn retries_replace_a_killed_worker_in_pipe_mode() {
    retried_after_a_kill_in(&[]);
}

#[test]
fn retries_replace_a_killed_worker_in_queue_mode() {
    retried_after_a_kill_in(&["--ipc", "queue"]);
}

#[test]
fn retries_replace_a_killed_worker_in_shm_mode() {
    retried_after_a_kill_in(&["--ipc", "shm"]);
}

#[test]
fn retries_replace_a_killed_worker_in_pool_mode() {
    retried_after_a_kill_in(&["--ipc", "pool"]);
}

/// A worker past `--timeout` is retried too, and a run that keeps timing out stops once the
/// retries are spent, naming the last one.
#[test]
fn retries_run_out_after_repeated_timeouts() {
    let mut run = LiveRun::start_with(2, &["--timeout", "0.5", "--retries", "2"]);
    let pids = run.wait_until_running(2);
    let (status, stderr) = run.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("retry 2 of 2"), "{stderr}");
    assert!(
        stderr.contains("timed out: no result within 0.5 s"),
        "{stderr}"
    );
    let left = wait_gone(&pids, Duration::from_secs(2));
    assert!(left.is_empty(), "workers left behind: {left:?}\n{stderr}");
}

/// The forkservers running for the master `master`: processes whose command line is the
/// server's, naming that master, but the `workers` (forks of the server, they share its
/// command line).
fn forkservers_of(master: u32, workers: &[u32]) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmd| {
                let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
                args.get(1) == Some(&&b"--multiproc-forkserver"[..])
                    && args.get(2) == Some(&master.to_string().as_bytes())
            })
        })
        .filter(|pid| !common::process_gone(*pid) && !workers.contains(pid))
        .collect()
}

/// Every mode started through the forkserver prints the bits of the spawned run, and says
/// how its workers were started.
#[test]
fn forkserver_gives_the_bits_of_spawn_in_every_mode() {
    for ipc in ["pipe", "queue", "shm", "shm-channel", "pool"] {
        let args = ["--procs", "3", "--steps", "1000003", "--ipc", ipc, "--json"];
        let spawned = json_of(&pi_master(&args));
        let mut forked_args = args.to_vec();
        forked_args.extend(["--start", "forkserver"]);
        let forked = json_of(&pi_master(&forked_args));
        assert_eq!(spawned["start"], "spawn", "{ipc}");
        assert_eq!(forked["start"], "forkserver", "{ipc}");
        assert_eq!(
            forked["pi"].as_f64().map(f64::to_bits),
            spawned["pi"].as_f64().map(f64::to_bits),
            "{ipc}: {} vs {}",
            forked["pi"],
            spawned["pi"]
        );
        let master = forked["master_pid"].as_u64().unwrap() as u32;
        assert!(
            forkservers_of(master, &[]).is_empty(),
            "{ipc}: the server outlived its master"
        );
    }
}

#[test]
fn forkserver_runs_and_reaps_256_workers() {
    let out = pi_master(&[
        "--procs",
        "256",
        "--steps",
        "256",
        "--start",
        "forkserver",
        "--json",
    ]);
    let json = json_of(&out);
    let workers = json["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 256);
    assert!(workers.iter().all(|w| w["exit_code"] == 0), "{out}");
    let mut pids = worker_pids(&json);
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 256, "256 processes");
    assert!(
        wait_gone(&pids, Duration::from_secs(2)).is_empty(),
        "all reaped"
    );
}

/// A worker forked by the server and killed is named as a spawned one is; a master stopped
/// by SIGINT takes its workers and its server along.
#[test]
fn forkserver_workers_fail_and_stop_as_spawned_ones_do() {
    let mut run = LiveRun::start_with(3, &["--start", "forkserver"]);
    let pids = run.wait_until_running(3);
    kill(Pid::from_raw(pids[1] as i32), Signal::SIGKILL).unwrap();
    let master = run.child.id();
    let (status, stderr) = run.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("worker 1 (pid {}, range [", pids[1])),
        "{stderr}"
    );
    assert!(
        stderr.contains("was killed by signal 9 (SIGKILL)"),
        "{stderr}"
    );
    assert!(
        wait_gone(&pids, Duration::from_secs(2)).is_empty(),
        "{stderr}"
    );
    assert!(
        forkservers_of(master, &[]).is_empty(),
        "the server outlived its master"
    );

    let mut run = LiveRun::start_with(2, &["--start", "forkserver"]);
    let pids = run.wait_until_running(2);
    let master = run.child.id();
    let server = forkservers_of(master, &pids);
    assert_eq!(server.len(), 1, "one forkserver while it runs");
    kill(Pid::from_raw(master as i32), Signal::SIGINT).unwrap();
    let (status, stderr) = run.finish();
    assert_eq!(status.signal(), Some(Signal::SIGINT as i32), "{stderr}");
    let mut all = pids.clone();
    all.extend(server);
    assert!(
        wait_gone(&all, Duration::from_secs(2)).is_empty(),
        "workers or server left: {stderr}"
    );
}

/// `pi-master ARGS` under `sh -c 'SETUP; exec pi-master ARGS'`.
fn under_shell(setup: &str, args: &str) -> std::process::Output {
    let script = format!("{setup}; exec '{BIN}' {args}");
    common::output_within(
        common::command("sh").arg("-c").arg(&script),
        DEADLINE,
        &script,
    )
}

#[test]
fn too_few_descriptors_is_said_before_any_worker_starts() {
    let out = under_shell("ulimit -n 32", "--procs 8 --steps 1e6 -v");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("(ulimit -n)"), "names the limit: {stderr}");
    assert!(
        stderr.contains("needs about"),
        "says what is needed: {stderr}"
    );
    assert!(
        !stderr.contains("started worker"),
        "no worker started: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_low_soft_descriptor_limit_is_raised_to_the_hard_one() {
    // The soft limit alone is lowered (the hard one stays): 30 workers need more than 64.
    let out = under_shell("ulimit -Sn 64", "--procs 30 --steps 1e6 --json");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["workers"].as_array().map(Vec::len), Some(30));
}

/// `pi-master ARGS` under `bash -c 'ulimit -u LIMIT; exec pi-master ARGS'`, as an ordinary
/// user: root is not held to `ulimit -u`, so a test run as root drops to `nobody` first.
fn under_process_limit(limit: u64, args: &str) -> std::process::Output {
    let script = format!("ulimit -u {limit} && exec '{BIN}' {args}");
    let mut command = if running_as_root() {
        let mut c = common::command("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "bash",
            "-c",
        ]);
        c
    } else {
        let mut c = common::command("bash");
        c.arg("-c");
        c
    };
    command.arg(&script).current_dir("/");
    common::output_within(&mut command, DEADLINE, &script)
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|rest| rest.split_whitespace().next().map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Too low a `ulimit -u` is said before any worker starts, naming the limit and the value to
/// give; and the value it names is enough, in the pool mode (whose thread counts) as in the
/// pipe mode, and with a forkserver (one process more).
#[test]
fn too_few_processes_is_said_before_any_worker_starts_with_a_limit_that_works() {
    for mode in ["pipe", "pool", "pipe --start forkserver"] {
        let args = format!("--procs 8 --steps 1e6 --ipc {mode} -v");
        let out = under_process_limit(3, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{mode}: {stderr}");
        assert!(
            stderr.contains("(ulimit -u)"),
            "{mode}: names the limit: {stderr}"
        );
        assert!(
            !stderr.contains("started worker"),
            "{mode}: no worker started: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        let advice: u64 = stderr
            .split("allow more (ulimit -u ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{mode}: says what to allow: {stderr}"));
        let out = under_process_limit(
            advice,
            &format!("--procs 8 --steps 1e6 --ipc {mode} --json"),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{mode} under ulimit -u {advice}: {stderr}"
        );
        let json: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(json["workers"].as_array().map(Vec::len), Some(8));
    }
}

/// The fault matrix: a worker made to fail at a chosen moment (the `fault-injection`
/// feature's `PI_MASTER_FAULT`), every case with a deadline and a check that no worker is
/// left.
#[cfg(feature = "fault-injection")]
mod faults {
    use super::*;

    struct Outcome {
        status: ExitStatus,
        stdout: String,
        stderr: String,
    }

    /// `pi-master ARGS -v` with worker `spec` armed (spent after its first use); checks that
    /// every worker it started is gone afterwards.
    fn run_with_fault(spec: &str, args: &[&str]) -> Outcome {
        // One directory per run: tests run side by side, and each fault is spent once.
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let scratch = ScratchDir::new(&format!("fault-{run}"));
        let spent = scratch.join("spent");
        let out = common::output_within(
            common::command(BIN)
                .args(args)
                .arg("-v")
                .env("PI_MASTER_FAULT", spec)
                .env("PI_MASTER_FAULT_SPENT", &spent)
                .env("RUST_BACKTRACE", "0"),
            DEADLINE,
            &format!("{spec} {args:?}"),
        );
        let status = out.status;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let pids: Vec<u32> = stderr
            .lines()
            .filter_map(|l| l.split("a new process, pid ").nth(1))
            .filter_map(|p| p.trim().parse().ok())
            .collect();
        assert!(!pids.is_empty(), "no worker started: {stderr}");
        let left = wait_gone(&pids, Duration::from_secs(2));
        assert!(left.is_empty(), "workers left behind: {left:?}\n{stderr}");
        Outcome {
            status,
            stdout,
            stderr,
        }
    }

    /// A failed run: exit 1, the worker named, `expect` in the message, no panic in the master.
    fn fails(spec: &str, args: &[&str], expect: &str) {
        let o = run_with_fault(spec, args);
        assert_eq!(o.status.code(), Some(1), "{spec}: {}", o.stderr);
        let error = o
            .stderr
            .lines()
            .find(|l| l.starts_with("pi-master: error: worker 1 "))
            .unwrap_or_else(|| panic!("{spec}: worker 1 not named: {}", o.stderr));
        assert!(
            error.contains(expect),
            "{spec}: missing {expect:?} in {error}"
        );
    }

    const PIPE: &[&str] = &["--procs", "2", "--steps", "1e8"];
    const QUEUE: &[&str] = &["--procs", "2", "--steps", "1e8", "--ipc", "queue"];
    const SHM: &[&str] = &["--procs", "2", "--steps", "1e8", "--ipc", "shm"];

    #[test]
    fn a_worker_that_crashes_anywhere_is_named() {
        for moment in ["start", "computing", "result"] {
            for mode in [PIPE, QUEUE, SHM] {
                fails(
                    &format!("1:{moment}:crash"),
                    mode,
                    "was killed by signal 6 (SIGABRT)",
                );
            }
        }
    }

    #[test]
    fn a_worker_that_exits_early_is_named() {
        fails(
            "1:computing:exit",
            PIPE,
            "exited with status 3 before sending its result",
        );
        fails(
            "1:after:exit",
            PIPE,
            "finished its work but then exited with status 3",
        );
        fails("1:computing:exit", SHM, "exited with status 3");
    }

    #[test]
    fn a_panic_reaches_the_master_with_message_and_location() {
        fails(
            "1:result:panic",
            PIPE,
            "panicked at bin/src/master/fault.rs",
        );
        fails("1:result:panic", QUEUE, "fault injected at Result");
    }

    #[test]
    fn garbage_from_a_worker_is_refused_and_named() {
        fails(
            "1:computing:garbage",
            PIPE,
            "sent bytes that are not a message",
        );
        fails("1:computing:garbage", QUEUE, "a range it was not computing");
    }

    #[test]
    fn a_hung_worker_is_stopped_at_the_timeout() {
        let mut args = PIPE.to_vec();
        args.extend(["--timeout", "1"]);
        fails("1:computing:hang", &args, "it was stopped with SIGTERM");
    }

    #[test]
    fn a_worker_ignoring_sigterm_is_killed_after_the_grace() {
        let mut args = SHM.to_vec();
        args.extend(["--timeout", "1"]);
        fails(
            "1:computing:stubborn",
            &args,
            "did not stop within 1 s of SIGTERM (stopped or ignoring it) and was killed",
        );
    }

    /// `--retries` after a crash and after a timeout, at every moment that loses work, in the
    /// modes with worker indices: the clean run's bits.
    #[test]
    fn retries_give_the_clean_bits_after_any_fault() {
        let clean = json_of(&pi_master(&["--procs", "2", "--steps", "1e8", "--json"]))["pi"]
            .as_f64()
            .unwrap()
            .to_bits();
        let cases: &[(&str, &[&str])] = &[
            ("1:start:crash", PIPE),
            ("1:computing:crash", PIPE),
            ("1:result:exit", PIPE),
            ("1:computing:garbage", PIPE),
            ("1:took:crash", QUEUE),
            ("1:computing:crash", QUEUE),
            ("1:computing:garbage", QUEUE),
            ("1:computing:crash", SHM),
            ("1:computing:hang", PIPE),
            ("1:computing:hang", QUEUE),
            ("1:computing:hang", SHM),
        ];
        for (spec, mode) in cases {
            let mut args = mode.to_vec();
            args.extend(["--retries", "1", "--timeout", "2", "--json"]);
            let o = run_with_fault(spec, &args);
            assert_eq!(o.status.code(), Some(0), "{spec} {mode:?}: {}", o.stderr);
            let json: Value = serde_json::from_str(&o.stdout).expect("json");
            assert_eq!(
                json["pi"].as_f64().unwrap().to_bits(),
                clean,
                "{spec} {mode:?}: {}",
                o.stdout
            );
            assert_eq!(json["retries"].as_array().map(Vec::len), Some(1), "{spec}");
            assert!(o.stderr.contains("retry 1 of 1"), "{spec}: {}", o.stderr);
        }
    }
}

/// Runs back to back in every mode: every one succeeds with the same bits, and nothing is
/// left: no worker, no file in /dev/shm.
#[test]
fn a_soak_of_runs_back_to_back_leaks_nothing() {
    let shm_before: Vec<_> = std::fs::read_dir("/dev/shm")
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    let mut bits = std::collections::BTreeSet::new();
    let mut masters = Vec::new();
    for round in 0..40 {
        for ipc in ["pipe", "queue", "shm", "pool"] {
            let procs = if round % 2 == 0 { "2" } else { "3" };
            let out = pi_master(&[
                "--procs", procs, "--steps", "100003", "--ipc", ipc, "--json",
            ]);
            assert_eq!(out.status.code(), Some(0), "round {round}, {ipc}: {out}");
            let json = json_of(&out);
            bits.insert(json["pi"].as_f64().unwrap().to_bits());
            masters.push(json["master_pid"].as_u64().unwrap() as u32);
        }
    }
    assert_eq!(bits.len(), 1, "{bits:x?}");
    // No process whose parent was one of these masters is alive.
    let orphans: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("cmdline")).ok())
        .filter(|cmd| cmd.contains("--multiproc-worker"))
        .filter(|cmd| {
            masters
                .iter()
                .any(|m| cmd.split('\0').any(|arg| arg == m.to_string()))
        })
        .collect();
    assert!(orphans.is_empty(), "workers left behind: {orphans:?}");
    let shm_after: Vec<_> = std::fs::read_dir("/dev/shm")
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(shm_before, shm_after, "files left in /dev/shm");
}

/// A stderr nobody reads (a pipe left full) must not keep the master from Ctrl-C: its
/// narration is dropped rather than waited for, and it stops, reaps and dies of SIGINT.
#[test]
fn a_stderr_nobody_reads_does_not_block_ctrl_c() {
    // A million tiny chunks, two narrated lines each: the pipe is full within milliseconds.
    let mut child = common::command(BIN)
        .args([
            "--procs", "2", "--steps", "4e10", "--ipc", "queue", "--chunks", "1000000", "-v",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pi-master");
    // The pipe is never read; keep its read end open so writes block rather than fail.
    let _unread = child.stderr.take();
    let master = child.id();
    let workers = || -> Vec<u32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|s| {
                        s.rsplit(')')
                            .next()?
                            .split_whitespace()
                            .nth(1)?
                            .parse()
                            .ok()
                    })
                    == Some(master)
            })
            .collect()
    };
    let deadline = Instant::now() + DEADLINE;
    let mut pids = workers();
    while pids.len() < 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
        pids = workers();
    }
    // Long enough for the narration to fill the pipe many times over.
    thread::sleep(Duration::from_millis(1500));
    kill(Pid::from_raw(master as i32), Signal::SIGINT).unwrap();
    let status = wait_within(
        &mut child,
        Duration::from_secs(20),
        "pi-master with a full stderr",
    );
    assert_eq!(status.signal(), Some(Signal::SIGINT as i32), "{status:?}");
    let left = wait_gone(&pids, Duration::from_secs(2));
    assert!(left.is_empty(), "workers left behind: {left:?}");
}

/// Lines of `text` wider than a projector's 80-column terminal.
fn too_wide(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.chars().count() > 80).collect()
}

#[test]
fn default_reports_fit_80_columns() {
    let runs: &[&[&str]] = &[
        &["--procs", "2", "--steps", "1e6"],
        &["--procs", "4", "--ipc", "queue", "--steps", "1e6"],
        &[
            "--procs", "3", "--ipc", "queue", "--chunks", "64", "--steps", "1e6",
        ],
        &["--procs", "2", "--ipc", "pool", "--steps", "1e6"],
        &["--procs", "2", "--ipc", "shm", "--steps", "1e6"],
        &["--compare", "--procs", "2", "--steps", "1e5"],
        &["sweep", "--procs", "2", "--steps", "1e5", "--repeat", "1"],
        &["--help"],
        &["-h"],
        &["sweep", "--help"],
    ];
    for args in runs {
        let out = pi_master(args);
        assert!(out.status.success(), "{out}");
        assert_eq!(too_wide(&out.stdout), Vec::<&str>::new(), "{out}");
    }
}

#[test]
fn counts_agree_with_their_nouns_and_a_debug_build_says_so() {
    let out = pi_master(&["--procs", "1", "--steps", "1"]);
    assert!(out.status.success(), "{out}");
    assert!(
        out.stdout.contains("1 step over 1 worker process\n"),
        "{out}"
    );
    assert!(!out.stdout.contains("1 steps"), "{out}");
    // The tests run the build they were compiled with.
    assert_eq!(
        out.stdout.contains("a debug build"),
        cfg!(debug_assertions),
        "{out}"
    );
    if cfg!(debug_assertions) {
        assert!(out.stdout.contains("--release"), "{out}");
    }
}

#[test]
fn the_timeline_shows_every_workers_phases_in_order_in_80_columns() {
    let dir = ScratchDir::new("pi-master-timeline");
    for ipc in ["pipe", "queue", "shm", "pool"] {
        let args = [
            "--procs",
            "3",
            "--steps",
            "1e7",
            "--ipc",
            ipc,
            "--timeline",
            "--json",
        ];
        let json = json_of(&pi_master(&args));
        let workers = json["timeline"]["workers"].as_array().expect("a timeline");
        assert_eq!(workers.len(), 3, "{ipc}: {json}");
        let end = json["timeline"]["seconds"].as_f64().unwrap();
        for w in workers {
            let moments = |key: &str| -> Vec<f64> {
                w[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|v| match v.as_array() {
                        Some(pair) => pair.iter().map(|x| x.as_f64().unwrap()).collect(),
                        None => vec![v.as_f64().unwrap()],
                    })
                    .collect()
            };
            let computing = moments("computing");
            let mut order: Vec<f64> = w["started"].as_f64().into_iter().collect();
            if ipc != "pool" {
                order.extend(moments("given").first());
            }
            order.extend(&computing);
            order.extend(w["reaped"].as_f64());
            order.push(end);
            assert!(
                order.windows(2).all(|p| p[0] <= p[1] + 1e-9),
                "{ipc}: worker {} out of order: {order:?}",
                w["index"]
            );
            // In queue and pool modes a worker may find no chunk left.
            if ipc == "pipe" || ipc == "shm" {
                assert!(!computing.is_empty(), "{ipc}: {w}");
            }
            if ipc != "pool" {
                assert!(w["reaped"].is_number(), "{ipc}: {w}");
            }
        }
    }
    // The drawing: a row per worker, phases left to right, 80 columns.
    let svg = dir.join("timeline.svg");
    let png = dir.join("timeline.png");
    for (picture, args) in [
        (&svg, vec!["--procs", "4", "--steps", "1e7", "--timeline"]),
        (
            &png,
            vec![
                "--procs",
                "2",
                "--steps",
                "1e7",
                "--ipc",
                "queue",
                "--timeline",
            ],
        ),
    ] {
        let mut args = args;
        args.push(picture.to_str().unwrap());
        let out = pi_master(&args);
        assert!(out.status.success(), "{out}");
        assert_eq!(too_wide(&out.stdout), Vec::<&str>::new(), "{out}");
        let rows: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("worker "))
            .collect();
        assert_eq!(rows.len(), if picture == &svg { 4 } else { 2 }, "{out}");
        assert!(
            rows.iter().any(|row| row[10..70].contains('#')),
            "computing shows:\n{out}"
        );
        for row in rows {
            let track = &row[10..70];
            if let (Some(last_work), Some(reaped)) = (track.rfind('#'), track.find('|')) {
                assert!(reaped > last_work, "reaped after computing: {row}");
            }
        }
        assert!(out.stdout.contains("# computing"), "{out}");
    }
    let doc_text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&doc_text).expect("well-formed SVG");
    let labels: String = doc.descendants().filter_map(|n| n.text()).collect();
    for needle in ["worker 3 (pid", "computing", "starting"] {
        assert!(labels.contains(needle), "the picture lacks {needle:?}");
    }
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let reader = decoder.read_info().expect("a well-formed PNG");
    assert_eq!((reader.info().width, reader.info().height), (1280, 720));
    // One run only, and a picture's name says its format.
    assert_usage_error(&["--compare", "--timeline"], "--timeline");
    let bad = dir.join("timeline.gif");
    assert_usage_error(&["--timeline", bad.to_str().unwrap()], ".svg or .png");
}

//! Start methods: a process started through the forkserver behaves as a spawned one (exit
//! codes, panics, signals, its descriptors, its parent, its death seen at once), the server
//! dies with its master and is started again if it dies, and a pool runs through it.
//!
//! Harness-less, like every test binary that starts processes: its `main` calls
//! `multiproc::init!` first.

mod common;

use std::time::{Duration, Instant};

use common::{Test, check, process_gone, run_trials, wait_gone};
use libtest_mimic::Failed;
use multiproc::context::{self, Context, StartMethod};
use multiproc::{Connection, Failure, Process, pipe};
use serde::{Deserialize, Serialize};

const LIMIT: Duration = Duration::from_secs(60);

fn main() {
    multiproc::init!(
        aborts,
        exits_with,
        fails,
        middle_master,
        panics,
        sleeps,
        square,
        stops_its_server,
        tell_facts,
        waits_for_a_message
    );
    let tests: Vec<(&str, Test)> = vec![
        (
            "a_forked_worker_is_our_child_with_the_descriptors_a_spawned_one_has",
            a_forked_worker_is_our_child_with_the_descriptors_a_spawned_one_has,
        ),
        (
            "exit_codes_panics_and_signals_through_the_forkserver",
            exit_codes_panics_and_signals_through_the_forkserver,
        ),
        (
            "a_killed_forked_worker_is_seen_at_once_and_reaped",
            a_killed_forked_worker_is_seen_at_once_and_reaped,
        ),
        (
            "the_server_and_its_workers_die_with_their_master",
            the_server_and_its_workers_die_with_their_master,
        ),
        (
            "a_server_that_died_is_started_again",
            a_server_that_died_is_started_again,
        ),
        (
            "a_pool_through_a_forkserver_context",
            a_pool_through_a_forkserver_context,
        ),
        (
            "many_workers_through_the_forkserver",
            many_workers_through_the_forkserver,
        ),
        ("methods_by_name", methods_by_name),
        (
            "a_stopped_server_is_reaped_and_a_new_one_starts",
            a_stopped_server_is_reaped_and_a_new_one_starts,
        ),
        (
            "the_program_start_method_is_chosen_once",
            the_program_start_method_is_chosen_once,
        ),
    ];
    run_trials(tests, LIMIT)
}

fn forkserver() -> Context {
    Context::new(StartMethod::Forkserver)
}

fn spawn() -> Context {
    Context::new(StartMethod::Spawn)
}

/// What a worker says about itself.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Facts {
    pid: u32,
    parent: u32,
    name: String,
    /// Its open descriptors, by number (0, 1, 2 and what it was handed).
    fds: Vec<i32>,
    /// Its process group (its own pid: a group of its own).
    group: u32,
}

/// This process's open descriptors, by number, but the one that lists them.
fn open_fds() -> Vec<i32> {
    let listing = format!("/proc/{}/fd", std::process::id());
    let mut fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.flatten()
                .filter(|e| std::fs::read_link(e.path()).ok().as_deref() != Some(listing.as_ref()))
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    fds.sort();
    fds
}

fn tell_facts(mut conn: Connection) -> Result<(), String> {
    let fds = open_fds();
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(|e| e.to_string())?;
    let group = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(2))
        .and_then(|g| g.parse().ok())
        .unwrap_or(0);
    let facts = Facts {
        pid: std::process::id(),
        parent: std::os::unix::process::parent_id(),
        name: multiproc::current_process().name,
        fds,
        group,
    };
    conn.send(&facts).map_err(|e| e.to_string())
}

fn facts_through(ctx: Context) -> Result<Facts, Failed> {
    let (mut mine, theirs) = pipe()?;
    let mut p = ctx.process(tell_facts, theirs).with_name("teller");
    p.start()?;
    let facts: Facts = mine.recv()?;
    check(p.join()? == 0, "the teller exits 0")?;
    check(process_gone(facts.pid), "reaped by join: no zombie left")?;
    Ok(facts)
}

fn a_forked_worker_is_our_child_with_the_descriptors_a_spawned_one_has() -> Result<(), Failed> {
    let forked = facts_through(forkserver())?;
    let spawned = facts_through(spawn())?;
    let me = std::process::id();
    check(
        forked.parent == me,
        format!("parent {} is us ({me})", forked.parent),
    )?;
    check(forked.pid != me, "a process of its own")?;
    check(forked.name == "teller", format!("name {}", forked.name))?;
    check(
        forked.group == forked.pid,
        format!(
            "a process group of its own: {} vs {}",
            forked.group, forked.pid
        ),
    )?;
    check(
        forked.fds == spawned.fds,
        format!(
            "the same descriptors as a spawned worker: forked {:?}, spawned {:?}",
            forked.fds, spawned.fds
        ),
    )?;
    // The standard streams, the status pipe (4) and the two ends of its connection: nothing
    // the master happened to have open (a test runner's jobserver pipe, say).
    check(
        forked.fds.iter().all(|fd| *fd <= 6),
        format!("only what it was handed: {:?}", forked.fds),
    )?;
    let server = context::forkserver_pid().ok_or("a forkserver runs")?;
    check(
        server != forked.pid && server != me,
        "the worker is not the server, and the server is not us",
    )?;
    Ok(())
}

fn exits_with(code: i32) -> Result<(), String> {
    std::process::exit(code)
}

fn panics(message: String) {
    common::quiet_stderr();
    panic!("{message}");
}

fn aborts(_: ()) {
    std::process::abort();
}

fn fails(why: String) -> Result<(), String> {
    common::quiet_stderr();
    Err(why)
}

fn sleeps(seconds: u64) {
    std::thread::sleep(Duration::from_secs(seconds));
}

fn exit_codes_panics_and_signals_through_the_forkserver() -> Result<(), Failed> {
    let ctx = forkserver();
    let mut p = ctx.process(exits_with, 3);
    p.start()?;
    check(p.join()? == 3, "exit status 3")?;

    let mut p = ctx.process(panics, "on purpose".to_string());
    p.start()?;
    check(p.join()? == 1, "a panic exits 1")?;
    match p.failure() {
        Some(Failure::Panic { message, location }) => {
            check(message == "on purpose", format!("message {message}"))?;
            check(
                location
                    .as_deref()
                    .is_some_and(|l| l.contains("context.rs")),
                format!("location {location:?}"),
            )?;
        }
        other => return Err(format!("not a panic: {other:?}").into()),
    }

    let mut p = ctx.process(fails, "no disk".to_string());
    p.start()?;
    check(p.join()? == 1, "an Err exits 1")?;
    check(
        p.failure() == Some(&Failure::Error("no disk".into())),
        format!("{:?}", p.failure()),
    )?;

    // abort() raises SIGABRT on the calling thread: in a forked worker too.
    let mut p = ctx.process(aborts, ());
    p.start()?;
    let code = p.join()?;
    check(code == -6, format!("abort gives -6, got {code}"))?;

    let mut p = ctx.process(sleeps, 60);
    p.start()?;
    p.terminate()?;
    let code = p.join()?;
    check(code == -15, format!("terminate gives -15, got {code}"))
}

fn a_killed_forked_worker_is_seen_at_once_and_reaped() -> Result<(), Failed> {
    let (mut mine, theirs) = pipe()?;
    let mut p = forkserver().process(waits_for_a_message, theirs);
    p.start()?;
    let pid = p.pid().ok_or("a pid")?;
    check(p.is_alive(), "alive")?;
    let killed_at = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    // Its pipe reads as closed at once, and its exit is known without a poll loop.
    check(mine.recv::<u32>().is_err(), "its end of the pipe is closed")?;
    let code = p.join()?;
    check(code == -9, format!("exit code {code}"))?;
    check(
        killed_at.elapsed() < Duration::from_secs(2),
        format!("noticed after {:?}", killed_at.elapsed()),
    )?;
    check(process_gone(pid), "reaped")?;
    drop(mine);
    Ok(())
}

fn waits_for_a_message(mut conn: Connection) -> Result<(), String> {
    conn.recv::<u32>().map(|_| ()).map_err(|e| e.to_string())
}

/// An intermediate master, spawned, which starts a forked worker that sleeps and says the
/// pids of both the worker and the server, then waits.
fn middle_master(mut conn: Connection) -> Result<(), String> {
    // Killed on purpose: a worker still starting when it dies says so (its parent is gone),
    // which is right, but not for a passing test's output.
    common::quiet_stderr();
    let mut worker = Context::new(StartMethod::Forkserver).process(sleeps, 600);
    worker.start().map_err(|e| e.to_string())?;
    let server = context::forkserver_pid().ok_or("no server")?;
    conn.send(&(worker.pid().unwrap_or(0), server))
        .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_secs(600));
    Ok(())
}

fn the_server_and_its_workers_die_with_their_master() -> Result<(), Failed> {
    let (mut mine, theirs) = pipe()?;
    let mut master = spawn().process(middle_master, theirs);
    master.start()?;
    let (worker, server): (u32, u32) = mine.recv()?;
    check(worker > 0 && server > 0, "pids")?;
    check(
        !process_gone(worker) && !process_gone(server),
        "both run while their master does",
    )?;
    master.kill()?;
    check(master.join()? == -9, "the master was killed")?;
    let left = wait_gone(&[worker, server], Duration::from_secs(5));
    check(
        left.is_empty(),
        format!("left behind when their master died: {left:?}"),
    )
}

fn a_server_that_died_is_started_again() -> Result<(), Failed> {
    let mut p = forkserver().process(exits_with, 0);
    p.start()?;
    check(p.join()? == 0, "first worker")?;
    let first = context::forkserver_pid().ok_or("a server")?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    // Gone for good (a zombie of ours until the next start reaps it).
    let left = wait_gone(&[first], Duration::from_secs(5));
    check(left.is_empty(), "the server died")?;
    let mut p = forkserver().process(exits_with, 4);
    p.start()?;
    check(p.join()? == 4, "a worker after the server died")?;
    let second = context::forkserver_pid().ok_or("a server again")?;
    check(second != first, "a new server")?;
    check(
        !common::exists(&format!("/proc/{first}")),
        "the dead server was reaped",
    )
}

fn square(x: u64) -> u64 {
    x * x
}

fn a_pool_through_a_forkserver_context() -> Result<(), Failed> {
    let pool = forkserver().pool().processes(2).build()?;
    let got = pool.map(square, 0..1000u64)?;
    check(
        got == (0..1000u64).map(|x| x * x).collect::<Vec<_>>(),
        "map through forked workers",
    )?;
    pool.close();
    pool.join()?;
    Ok(())
}

fn many_workers_through_the_forkserver() -> Result<(), Failed> {
    let mut workers: Vec<Process> = (0..64)
        .map(|i| forkserver().process(exits_with, i % 7))
        .collect();
    for w in &mut workers {
        w.start()?;
    }
    let mut pids = Vec::new();
    for (i, w) in workers.iter_mut().enumerate() {
        pids.push(w.pid().ok_or("pid")?);
        let code = w.join()?;
        check(code == (i % 7) as i32, format!("worker {i} exit {code}"))?;
    }
    pids.sort();
    pids.dedup();
    check(pids.len() == 64, "64 processes")?;
    check(
        wait_gone(&pids, Duration::from_secs(1)).is_empty(),
        "all reaped",
    )
}

fn a_stopped_server_is_reaped_and_a_new_one_starts() -> Result<(), Failed> {
    // Started on purpose in a process of its own: other tests of this binary share the
    // program's server.
    let mut p = spawn().process(stops_its_server, ());
    p.start()?;
    check(p.join()? == 0, format!("{:?}", p.failure()))
}

fn stops_its_server(_: ()) -> Result<(), String> {
    let run = |code| {
        let mut p = Context::new(StartMethod::Forkserver).process(exits_with, code);
        p.start().map_err(|e| e.to_string())?;
        p.join().map_err(|e| e.to_string())
    };
    if run(3)? != 3 {
        return Err("first worker".into());
    }
    let server = context::forkserver_pid().ok_or("a server")?;
    context::stop_forkserver();
    if context::forkserver_pid().is_some() {
        return Err("still known after stop".into());
    }
    // Reaped: not even a zombie is left.
    if std::path::Path::new(&format!("/proc/{server}")).exists() {
        return Err(format!("server {server} not reaped"));
    }
    if run(4)? != 4 {
        return Err("a worker after the stop".into());
    }
    context::stop_forkserver();
    Ok(())
}

fn methods_by_name() -> Result<(), Failed> {
    check(
        context::get_context("spawn")?.start_method() == StartMethod::Spawn,
        "spawn",
    )?;
    check(
        "forkserver".parse::<StartMethod>()? == StartMethod::Forkserver,
        "forkserver",
    )?;
    let fork = context::get_context("fork").unwrap_err().to_string();
    check(fork.contains("no `fork` start method"), fork.clone())?;
    let typo = context::get_context("forkservr").unwrap_err().to_string();
    check(
        typo.contains("spawn") && typo.contains("forkserver"),
        typo.clone(),
    )?;
    check(
        context::get_all_start_methods() == StartMethod::ALL.to_vec(),
        "all methods",
    )
}

fn the_program_start_method_is_chosen_once() -> Result<(), Failed> {
    // Every other test here names its method, so changing the program's is safe.
    context::set_start_method(StartMethod::Forkserver)?;
    context::set_start_method(StartMethod::Forkserver)?;
    check(
        context::set_start_method(StartMethod::Spawn).is_err(),
        "a second, different method is refused",
    )?;
    check(
        context::get_start_method() == StartMethod::Forkserver,
        "the program's method",
    )?;
    let mut p = Process::new(exits_with, 5);
    check(
        p.start_method() == StartMethod::Forkserver,
        "a process without a method of its own takes the program's",
    )?;
    p.start()?;
    check(p.join()? == 5, "and runs")
}

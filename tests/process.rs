//! `Process` and `Pipe` across real child processes.
//!
//! This test binary re-executes itself for every child, so it has its own `main` (harness =
//! false, with libtest-mimic for the usual test-runner interface) that calls
//! `multiproc::init!` first, listing the children's functions, exactly as a user's program does.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Test, check, process_gone, run_trials};
use libtest_mimic::Failed;
use multiproc::{Connection, Failure, Process, active_children, cpu_count, current_process, pipe};
use serde::{Deserialize, Serialize};

const LIMIT: Duration = Duration::from_secs(30);

fn main() {
    multiproc::init!(
        crashes,
        echo,
        exit_with,
        fails,
        fails_aloud,
        list_fds,
        nothing,
        panics,
        report_identity,
        send_huge,
        send_three,
        shrugs_off_sigterm,
        sleeps,
        starts_until_out_of_descriptors
    );
    if std::env::var_os(ERR_CHILD).is_some() {
        // Re-run by `a_target_error_is_printed_on_the_childs_stderr`: start a child that
        // fails, and exit.
        let mut p = Process::new(fails_aloud, "the disk is full".to_string()).with_name("writer");
        let _ = p.start();
        let _ = p.join();
        return;
    }
    let mut tests: Vec<(&str, Test)> = vec![
        (
            "exitcode_zero_when_target_returns",
            exitcode_zero_when_target_returns,
        ),
        ("exitcode_is_the_exit_status", exitcode_is_the_exit_status),
        (
            "panic_is_exitcode_1_with_message_and_location",
            panic_is_exitcode_1_with_message_and_location,
        ),
        (
            "err_is_exitcode_1_with_message",
            err_is_exitcode_1_with_message,
        ),
        (
            "killed_child_has_exitcode_minus_9",
            killed_child_has_exitcode_minus_9,
        ),
        (
            "terminated_child_has_exitcode_minus_15",
            terminated_child_has_exitcode_minus_15,
        ),
        (
            "crashed_child_has_exitcode_minus_6",
            crashed_child_has_exitcode_minus_6,
        ),
        ("join_timeout_then_is_alive", join_timeout_then_is_alive),
        (
            "child_has_own_pid_name_and_memory",
            child_has_own_pid_name_and_memory,
        ),
        (
            "active_children_lists_live_children",
            active_children_lists_live_children,
        ),
        (
            "start_twice_and_join_unstarted_are_errors",
            start_twice_and_join_unstarted_are_errors,
        ),
        (
            "dropping_a_running_process_kills_and_reaps_it",
            dropping_a_running_process_kills_and_reaps_it,
        ),
        (
            "a_function_not_in_the_table_is_refused_by_name",
            a_function_not_in_the_table_is_refused_by_name,
        ),
        (
            "a_forged_start_up_message_runs_nothing_unlisted",
            a_forged_start_up_message_runs_nothing_unlisted,
        ),
        (
            "pipe_round_trips_types_and_sizes",
            pipe_round_trips_types_and_sizes,
        ),
        (
            "parent_copy_of_handed_end_is_closed",
            parent_copy_of_handed_end_is_closed,
        ),
        (
            "child_killed_mid_message_is_truncated",
            child_killed_mid_message_is_truncated,
        ),
        (
            "children_do_not_inherit_other_pipes",
            children_do_not_inherit_other_pipes,
        ),
        ("cpu_count_is_positive", cpu_count_is_positive),
    ];
    tests.push((
        "a_target_error_is_printed_on_the_childs_stderr",
        a_target_error_is_printed_on_the_childs_stderr,
    ));
    tests.push((
        "a_child_outlives_the_thread_that_started_it",
        a_child_outlives_the_thread_that_started_it,
    ));
    tests.push((
        "running_out_of_descriptors_names_the_limit",
        running_out_of_descriptors_names_the_limit,
    ));
    tests.push((
        "stop_one_terminates_or_kills_a_stopped_process",
        stop_one_terminates_or_kills_a_stopped_process,
    ));
    run_trials(tests, LIMIT);
}

fn nothing(_: ()) {}

fn exit_with(code: i32) {
    std::process::exit(code);
}

fn panics(msg: String) {
    common::quiet_stderr();
    panic!("{msg}");
}

fn fails(msg: String) -> Result<(), String> {
    common::quiet_stderr();
    Err(msg)
}

/// `fails`, saying so on stderr as every failing child does.
fn fails_aloud(msg: String) -> Result<(), String> {
    Err(msg)
}

fn sleeps(seconds: u64) {
    std::thread::sleep(Duration::from_secs(seconds));
}

fn crashes(_: ()) {
    std::process::abort();
}

fn exitcode_zero_when_target_returns() -> Result<(), Failed> {
    let mut p = Process::new(nothing, ());
    check(
        p.exitcode().is_none() && p.pid().is_none(),
        "no exit code or pid before start",
    )?;
    p.start()?;
    check(p.join()? == 0, "exit code 0")?;
    check(
        p.exitcode() == Some(0) && p.failure().is_none(),
        "no failure",
    )
}

fn exitcode_is_the_exit_status() -> Result<(), Failed> {
    let mut p = Process::new(exit_with, 3);
    p.start()?;
    let code = p.join()?;
    check(code == 3, format!("exit code {code}, expected 3"))
}

fn panic_is_exitcode_1_with_message_and_location() -> Result<(), Failed> {
    let mut p = Process::new(panics, "the answer is not 42".to_string());
    p.start()?;
    check(p.join()? == 1, "exit code 1")?;
    match p.failure() {
        Some(Failure::Panic {
            message,
            location: Some(location),
        }) => {
            check(
                message == "the answer is not 42",
                format!("message {message:?}"),
            )?;
            check(
                location.contains("tests/process.rs"),
                format!("location {location}"),
            )
        }
        other => Err(format!("expected a panic report, got {other:?}").into()),
    }
}

fn err_is_exitcode_1_with_message() -> Result<(), Failed> {
    let mut p = Process::new(fails, "disk on fire".to_string());
    p.start()?;
    check(p.join()? == 1, "exit code 1")?;
    check(
        p.failure() == Some(&Failure::Error("disk on fire".into())),
        format!("failure {:?}", p.failure()),
    )
}

fn killed_child_has_exitcode_minus_9() -> Result<(), Failed> {
    let mut p = Process::new(sleeps, 60);
    p.start()?;
    check(p.is_alive(), "alive after start")?;
    p.kill()?;
    let code = p.join()?;
    check(code == -9, format!("exit code {code}, expected -9"))?;
    check(!p.is_alive(), "not alive after join")?;
    // Signalling an exited process is harmless.
    p.kill()?;
    p.terminate()?;
    Ok(())
}

fn terminated_child_has_exitcode_minus_15() -> Result<(), Failed> {
    let mut p = Process::new(sleeps, 60);
    p.start()?;
    p.terminate()?;
    let code = p.join()?;
    check(code == -15, format!("exit code {code}, expected -15"))
}

fn crashed_child_has_exitcode_minus_6() -> Result<(), Failed> {
    let mut p = Process::new(crashes, ());
    p.start()?;
    let code = p.join()?;
    check(
        code == -6,
        format!("exit code {code}, expected -6 (SIGABRT)"),
    )
}

fn join_timeout_then_is_alive() -> Result<(), Failed> {
    let mut p = Process::new(sleeps, 60);
    p.start()?;
    check(
        p.join_timeout(Duration::from_millis(100))?.is_none(),
        "still running",
    )?;
    check(
        p.is_alive() && p.exitcode().is_none(),
        "alive, no exit code",
    )?;
    p.kill()?;
    let code = p.join_timeout(Duration::from_secs(10))?;
    check(code == Some(-9), format!("exit code {code:?}"))
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Identity {
    name: String,
    pid: u32,
    parent: Option<u32>,
    is_worker: bool,
    counter_after: u64,
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn report_identity(mut conn: Connection) -> multiproc::Result<()> {
    // The child's copy of COUNTER starts from the program's initial value, not the parent's.
    let counter_after = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    let me = current_process();
    conn.send(&Identity {
        is_worker: me.is_worker(),
        name: me.name,
        pid: me.pid,
        parent: me.parent_pid,
        counter_after,
    })
}

fn child_has_own_pid_name_and_memory() -> Result<(), Failed> {
    COUNTER.store(1000, std::sync::atomic::Ordering::SeqCst);
    let (mut here, there) = pipe()?;
    let mut p = Process::new(report_identity, there).with_name("reporter-7");
    check(p.name() == "reporter-7", "name before start")?;
    p.start()?;
    let id: Identity = here.recv()?;
    check(p.join()? == 0, "clean exit")?;
    check(id.name == "reporter-7", format!("child name {}", id.name))?;
    check(
        Some(id.pid) == p.pid(),
        "child reports the pid the parent sees",
    )?;
    check(
        id.pid != std::process::id(),
        "child pid differs from the parent's",
    )?;
    check(
        id.parent == Some(std::process::id()),
        "child knows its master",
    )?;
    check(id.is_worker, "child is a worker")?;
    check(
        id.counter_after == 1,
        format!("child saw counter {}", id.counter_after),
    )?;
    check(
        COUNTER.load(std::sync::atomic::Ordering::SeqCst) == 1000,
        "parent memory untouched",
    )?;
    let me = current_process();
    check(
        me.name == "MainProcess" && !me.is_worker(),
        "parent is MainProcess",
    )
}

fn active_children_lists_live_children() -> Result<(), Failed> {
    let mut a = Process::new(sleeps, 60).with_name("sleeper-a");
    let mut b = Process::new(nothing, ()).with_name("quick-b");
    a.start()?;
    b.start()?;
    b.join()?;
    let live = active_children();
    let a_pid = a.pid().unwrap();
    let b_pid = b.pid().unwrap();
    check(
        live.iter().any(|c| c.pid == a_pid && c.name == "sleeper-a"),
        format!("sleeper listed: {live:?}"),
    )?;
    check(
        !live.iter().any(|c| c.pid == b_pid),
        "finished child not listed",
    )?;
    a.kill()?;
    a.join()?;
    check(
        !active_children().iter().any(|c| c.pid == a_pid),
        "killed child not listed",
    )
}

fn start_twice_and_join_unstarted_are_errors() -> Result<(), Failed> {
    let mut p = Process::new(nothing, ());
    check(p.join().is_err(), "join before start fails")?;
    check(p.terminate().is_err(), "terminate before start fails")?;
    p.start()?;
    let again = p.start();
    check(
        again
            .as_ref()
            .is_err_and(|e| e.to_string().contains("already started")),
        format!("second start: {again:?}"),
    )?;
    p.join()?;
    Ok(())
}

/// Not listed in `init!`: a child could not be told to run it.
fn unlisted(_: u32) {}

fn a_function_not_in_the_table_is_refused_by_name() -> Result<(), Failed> {
    let before = active_children().len();
    let mut p = Process::new(unlisted, 1);
    let err = p.start().expect_err("an unlisted function is refused");
    check(
        err.kind() == multiproc::ErrorKind::Misuse,
        format!("kind: {err:?}"),
    )?;
    let msg = err.to_string();
    check(
        msg.contains("process::unlisted") && msg.contains("multiproc::init!"),
        format!("the error names the function and the fix: {msg}"),
    )?;
    check(p.pid().is_none(), "no child was started")?;
    let mut p = Process::new(|n: u32| println!("{n}"), 1);
    let err = p.start().expect_err("a closure is refused");
    check(
        err.to_string().contains("a closure"),
        format!("the error says it is a closure: {err}"),
    )?;
    check(active_children().len() == before, "no child was left")?;
    // The listed one next to them still runs.
    let mut p = Process::new(nothing, ());
    p.start()?;
    check(p.join()? == 0, "a listed function runs")?;
    Ok(())
}

/// A worker's start-up message as a process that is not our master could write it: the right
/// magic and executable, but a target of its choosing.
#[derive(Serialize)]
struct ForgedBoot {
    magic: [u8; 8],
    exe: (u64, u64),
    target: u32,
    table: u64,
    name: String,
    handed: Vec<u8>,
    args: Vec<u8>,
}

fn a_forged_start_up_message_runs_nothing_unlisted() -> Result<(), Failed> {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe()?;
    let me = std::fs::metadata("/proc/self/exe")?;
    // Target 0 is listed (the pool's worker), so the third is refused by the table's
    // fingerprint alone; the format before the table (a code address in place of the index)
    // is refused by its magic.
    let v2 = *b"mproc\0v2";
    for (magic, target, table, expected) in [
        (
            v2,
            9999,
            0,
            "it was sent target number 9999, and the program lists",
        ),
        (v2, u32::MAX, 0, "target number 4294967295"),
        (
            v2,
            0,
            12345,
            "the master lists other functions in its table",
        ),
        (*b"mproc\0v1", 0, 0, "not from a compatible master"),
    ] {
        let boot = ForgedBoot {
            magic,
            exe: (me.dev(), me.ino()),
            target,
            table,
            name: "forged".into(),
            handed: Vec::new(),
            args: multiproc::codec::encode_value(&())?,
        };
        let mut frame = Vec::new();
        multiproc::codec::encode_frame(&boot, 1 << 20, &mut frame)?;
        // The shell puts our pipes at descriptors 3 and 4 and becomes the worker, so the
        // worker's parent is this process, as its command line says.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" --multiproc-worker "$1" forged 3<&0 4>&1 0</dev/null"#)
            .arg(&exe)
            .arg(std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child.stdin.take().expect("stdin").write_all(&frame)?;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while child.try_wait()?.is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the worker did not exit within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = child.wait_with_output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        check(
            out.status.code() == Some(2)
                && stderr.contains("refusing to run as a worker")
                && stderr.contains(expected),
            format!(
                "target {target}, table {table}: {:?}, stderr: {stderr}",
                out.status
            ),
        )?;
        check(out.stdout.is_empty(), "nothing ran, nothing was reported")?;
    }
    Ok(())
}

fn dropping_a_running_process_kills_and_reaps_it() -> Result<(), Failed> {
    let mut p = Process::new(sleeps, 60);
    p.start()?;
    let pid = p.pid().unwrap();
    drop(p);
    // Reaped by the drop itself: not even a zombie remains.
    check(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        format!("pid {pid} still exists after drop"),
    )
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Payload {
    Unit,
    Byte(u8),
    Signed(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    Numbers(Vec<f64>),
    Nested(BTreeMap<String, Vec<Option<i32>>>),
    Stop,
}

fn echo(mut conn: Connection) -> multiproc::Result<()> {
    loop {
        let p: Payload = conn.recv()?;
        if p == Payload::Stop {
            return Ok(());
        }
        conn.send(&p)?;
    }
}

fn pipe_round_trips_types_and_sizes() -> Result<(), Failed> {
    let (mut here, there) = pipe()?;
    let mut p = Process::new(echo, there);
    p.start()?;
    let mut values = vec![
        Payload::Unit,
        Payload::Byte(255),
        Payload::Signed(i64::MIN),
        Payload::Float(-0.1),
        Payload::Text("olá, processos".into()),
        Payload::Nested(BTreeMap::from([
            ("a".to_string(), vec![Some(1), None, Some(-3)]),
            ("b".to_string(), vec![]),
        ])),
        Payload::Numbers((0..100_000).map(|i| i as f64 * 0.5).collect()),
    ];
    // Around the 64 KiB pipe buffer and the 64 KiB read buffer, and well past both.
    for size in [
        0,
        1,
        65_531,
        65_532,
        65_535,
        65_536,
        65_537,
        1 << 20,
        16 << 20,
    ] {
        values.push(Payload::Bytes(
            (0..size).map(|i| (i * 7 + 3) as u8).collect(),
        ));
    }
    for v in &values {
        here.send(v)?;
        let back: Payload = here.recv()?;
        check(&back == v, "echoed value differs")?;
    }
    // Several messages in flight at once, to exercise buffering of many frames per read.
    for i in 0..1000 {
        here.send(&Payload::Signed(i))?;
    }
    for i in 0..1000 {
        check(here.recv::<Payload>()? == Payload::Signed(i), "order kept")?;
    }
    here.send(&Payload::Stop)?;
    check(p.join()? == 0, "echo exits cleanly")?;
    let end = here.recv::<Payload>();
    check(
        end.as_ref().is_err_and(|e| e.is_closed()),
        format!("clean end of stream: {end:?}"),
    )
}

fn send_three(mut conn: Connection) -> multiproc::Result<()> {
    for i in 0..3u32 {
        conn.send(&i)?;
    }
    Ok(())
}

fn parent_copy_of_handed_end_is_closed() -> Result<(), Failed> {
    let (mut here, there) = pipe()?;
    let mut p = Process::new(send_three, there);
    p.start()?;
    for i in 0..3u32 {
        check(here.recv::<u32>()? == i, "message order")?;
    }
    // If the parent still held the child's end, this would block for ever instead.
    let end = here.recv::<u32>();
    check(
        end.as_ref().is_err_and(|e| e.is_closed()),
        format!("closed: {end:?}"),
    )?;
    p.join()?;
    Ok(())
}

/// 64 MiB as one byte string (encoded with one copy, not byte by byte): far more than a pipe
/// holds, so the child blocks in the middle of the frame.
fn send_huge(mut conn: Connection) -> multiproc::Result<()> {
    conn.send(&serde_bytes::ByteBuf::from(vec![7u8; 64 << 20]))
}

fn child_killed_mid_message_is_truncated() -> Result<(), Failed> {
    let (mut here, there) = pipe()?;
    let mut p = Process::new(send_huge, there);
    p.start()?;
    // Wait until the child has filled the pipe and is blocked mid-message, then kill it.
    check(
        here.poll(Some(Duration::from_secs(10)))?,
        "child started sending",
    )?;
    std::thread::sleep(Duration::from_millis(50));
    p.kill()?;
    check(p.join()? == -9, "killed")?;
    let got = here.recv::<serde_bytes::ByteBuf>();
    check(
        got.as_ref()
            .is_err_and(|e| e.is_truncated() && e.is_disconnected()),
        format!("expected a cut-short frame, got {:?}", got.map(|v| v.len())),
    )
}

fn list_fds(mut conn: Connection) -> multiproc::Result<()> {
    let fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut targets = Vec::new();
    for fd in fds {
        if let Ok(t) = std::fs::read_link(format!("/proc/self/fd/{fd}")) {
            targets.push(t.to_string_lossy().into_owned());
        }
    }
    conn.send(&targets)
}

fn pipe_ids(conn: &Connection) -> Vec<String> {
    // Both directions of a duplex connection: our reader is one pipe, and a peer's reader the
    // other; here we only know our own reader, so callers pass both ends.
    conn.reader_fd()
        .and_then(|fd| {
            use std::os::fd::AsRawFd;
            std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()
        })
        .map(|t| vec![t.to_string_lossy().into_owned()])
        .unwrap_or_default()
}

fn children_do_not_inherit_other_pipes() -> Result<(), Failed> {
    // A sibling worker holding its own pipe, and a pipe the parent keeps for itself.
    let (sibling_here, sibling_there) = pipe()?;
    let (kept_a, kept_b) = pipe()?;
    let mut foreign = pipe_ids(&sibling_here);
    foreign.extend(pipe_ids(&kept_a));
    foreign.extend(pipe_ids(&kept_b));
    let mut sibling = Process::new(sleeps, 60);
    let mut sibling_with_pipe = Process::new(echo, sibling_there);
    sibling.start()?;
    sibling_with_pipe.start()?;

    let (mut here, there) = pipe()?;
    let own = pipe_ids(&here);
    let mut p = Process::new(list_fds, there);
    p.start()?;
    let targets: Vec<String> = here.recv()?;
    p.join()?;
    sibling.kill()?;
    drop(sibling_with_pipe);
    check(foreign.len() == 3 && own.len() == 1, "pipe ids found")?;
    check(
        !targets.iter().any(|t| foreign.contains(t)),
        format!("child holds a pipe that is not its own: {targets:?} vs {foreign:?}"),
    )?;
    check(
        targets.iter().filter(|t| own.contains(t)).count() == 1,
        format!("child holds the write end of its own pipe once: {targets:?}"),
    )
}

fn cpu_count_is_positive() -> Result<(), Failed> {
    let n = cpu_count();
    let online = std::thread::available_parallelism().map_or(1, |n| n.get());
    check(n >= 1 && n <= online.max(1), format!("cpu_count {n}"))?;
    check(process_gone(u32::MAX), "a pid that cannot exist is gone")
}

/// Catches SIGTERM (and does nothing about it), says so, and sleeps.
fn shrugs_off_sigterm(mut conn: Connection) -> Result<(), String> {
    let _watch = multiproc::signals::SignalWatch::new(&[multiproc::signals::SIGTERM])
        .map_err(|e| e.to_string())?;
    conn.send(&"watching").map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_secs(60));
    Ok(())
}

/// `Shutdown::stop_one`: SIGTERM ends a sleeping child within the grace; a child that does
/// not end on SIGTERM (it catches it, or is stopped) is killed once the grace is over. Both
/// are reaped.
fn stop_one_terminates_or_kills_a_stopped_process() -> Result<(), Failed> {
    use multiproc::supervise::{Reaped, Shutdown};
    let shutdown = Shutdown::new(Duration::from_millis(300));
    let mut sleeping = Process::new(sleeps, 60);
    sleeping.start()?;
    let outcome = shutdown.stop_one(&mut sleeping)?;
    check(outcome == Reaped::Exited(-15), format!("{outcome:?}"))?;

    let (mut mine, theirs) = pipe()?;
    let mut stubborn = Process::new(shrugs_off_sigterm, theirs);
    stubborn.start()?;
    let _: String = mine.recv()?;
    let pid = stubborn.pid().ok_or("no pid")?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGSTOP,
    )?;
    let started = std::time::Instant::now();
    let outcome = shutdown.stop_one(&mut stubborn)?;
    check(outcome == Reaped::Killed(-9), format!("{outcome:?}"))?;
    check(
        started.elapsed() >= Duration::from_millis(300),
        "the grace period was given",
    )?;
    check(process_gone(pid), "reaped")
}

/// In a child with a tiny descriptor limit: start processes until it runs out; the error is
/// `LimitReached` and names `ulimit -n`, not a bare "Too many open files".
fn starts_until_out_of_descriptors(_: ()) -> Result<(), String> {
    use nix::sys::resource::{Resource, setrlimit};
    setrlimit(Resource::RLIMIT_NOFILE, 24, 24).map_err(|e| e.to_string())?;
    let mut started = Vec::new();
    for _ in 0..100 {
        let mut p = Process::new(sleeps, 30);
        match p.start() {
            Ok(()) => started.push(p),
            Err(e) if e.kind() == multiproc::ErrorKind::LimitReached => {
                let text = e.to_string();
                return if text.contains("ulimit -n") {
                    Ok(())
                } else {
                    Err(format!("the message does not name the limit: {text}"))
                };
            }
            Err(e) => return Err(format!("{:?}: {e}", e.kind())),
        }
    }
    Err("a limit of 24 descriptors never ran out".into())
}

fn running_out_of_descriptors_names_the_limit() -> Result<(), Failed> {
    let mut p = Process::new(starts_until_out_of_descriptors, ());
    p.start()?;
    let code = p.join()?;
    check(code == 0, format!("exit code {code}: {:?}", p.failure()))
}

/// Set to make this test binary start one failing child and exit.
const ERR_CHILD: &str = "MULTIPROC_TEST_ERR_CHILD";

/// A target's `Err` is said on the child's stderr (as Python prints a child's traceback), not
/// only carried back in `failure()`.
fn a_target_error_is_printed_on_the_childs_stderr() -> Result<(), Failed> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .env(ERR_CHILD, "1")
        .stdin(std::process::Stdio::null())
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    check(
        stderr.contains("Process writer (pid ")
            && stderr.contains("returned an error: the disk is full"),
        format!("stderr: {stderr}"),
    )
}

/// A worker's parent-death signal follows the thread that started it; the runtime starts
/// every child from a thread that lives as long as the process, so a child started from a
/// short-lived thread is not killed when that thread ends.
fn a_child_outlives_the_thread_that_started_it() -> Result<(), Failed> {
    let mut p = std::thread::spawn(|| {
        let mut p = Process::new(sleeps, 2);
        p.start().map(|()| p)
    })
    .join()
    .map_err(|_| "the starting thread panicked")??;
    // The thread has ended: the child must still be sleeping.
    std::thread::sleep(Duration::from_millis(300));
    check(
        p.is_alive(),
        "the child died with the thread that started it",
    )?;
    let code = p.join()?;
    check(code == 0, format!("exit code {code}"))
}

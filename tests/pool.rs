//! `Pool` across real worker processes: order, errors, faults, replacement, timeouts,
//! termination, and nothing left behind.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Test, check, run_trials, wait_gone};
use libtest_mimic::Failed;
use multiproc::pool::{Pool, PoolError, TaskError};
use multiproc::{Process, Value};

fn main() {
    multiproc::init!(
        add,
        count_start,
        die,
        double,
        fallible,
        inflate,
        my_pid,
        nap_ms,
        nested,
        picky,
        read_value,
        sleepy,
        slow_pid,
        touch,
        vec_of
    );
    let tests: Vec<(&str, Test)> = vec![
        (
            "functions_not_in_the_table_are_refused_by_name",
            functions_not_in_the_table_are_refused_by_name,
        ),
        (
            "map_and_imap_keep_input_order",
            map_and_imap_keep_input_order,
        ),
        (
            "imap_unordered_yields_every_task_once",
            imap_unordered_yields_every_task_once,
        ),
        (
            "next_timeout_waits_no_longer_than_asked",
            next_timeout_waits_no_longer_than_asked,
        ),
        (
            "errors_and_panics_come_back_per_task",
            errors_and_panics_come_back_per_task,
        ),
        (
            "a_worker_killed_mid_task_fails_only_that_task",
            a_worker_killed_mid_task_fails_only_that_task,
        ),
        (
            "apply_survives_its_worker_dying",
            apply_survives_its_worker_dying,
        ),
        (
            "apply_honours_the_task_timeout",
            apply_honours_the_task_timeout,
        ),
        (
            "apply_honours_maxtasksperchild",
            apply_honours_maxtasksperchild,
        ),
        (
            "apply_from_many_threads_beside_a_map",
            apply_from_many_threads_beside_a_map,
        ),
        (
            "slow_chunks_spread_over_the_workers",
            slow_chunks_spread_over_the_workers,
        ),
        (
            "maxtasksperchild_replaces_workers",
            maxtasksperchild_replaces_workers,
        ),
        (
            "initializer_runs_once_per_worker",
            initializer_runs_once_per_worker,
        ),
        (
            "a_task_timeout_kills_and_replaces",
            a_task_timeout_kills_and_replaces,
        ),
        (
            "a_get_timeout_kills_the_task_and_the_pool_goes_on",
            a_get_timeout_kills_the_task_and_the_pool_goes_on,
        ),
        (
            "a_dropped_async_result_still_runs",
            a_dropped_async_result_still_runs,
        ),
        (
            "terminate_mid_map_leaves_nothing",
            terminate_mid_map_leaves_nothing,
        ),
        (
            "dropping_an_open_pool_reaps_its_workers",
            dropping_an_open_pool_reaps_its_workers,
        ),
        ("a_pool_inside_a_worker_works", a_pool_inside_a_worker_works),
        ("misuse_is_refused_clearly", misuse_is_refused_clearly),
        (
            "large_inputs_and_results_do_not_deadlock",
            large_inputs_and_results_do_not_deadlock,
        ),
    ];
    run_trials(tests, Duration::from_secs(60));
}

fn double(x: u64) -> u64 {
    2 * x
}

fn add(a: u64, b: u64) -> u64 {
    a + b
}

fn map_and_imap_keep_input_order() -> Result<(), Failed> {
    let pool = Pool::new(3)?;
    for n in [0u64, 1, 2, 7, 100, 1001] {
        let want: Vec<u64> = (0..n).map(double).collect();
        check(pool.map(double, 0..n)? == want, format!("map of {n}"))?;
        for chunk in [1, 3, 64] {
            check(
                pool.map_chunked(double, 0..n, chunk)? == want,
                format!("map {n}/{chunk}"),
            )?;
            let got: Vec<u64> = pool
                .imap(double, 0..n, chunk)?
                .map(|(_, r)| r.expect("no failure"))
                .collect();
            check(got == want, format!("imap of {n} by {chunk}"))?;
        }
    }
    let sums = pool.starmap(add, (0..10u64).map(|i| (i, 100)))?;
    check(sums == (100..110).collect::<Vec<u64>>(), "starmap")?;
    check(pool.apply(double, 21)? == 42, "apply")
}

fn imap_unordered_yields_every_task_once() -> Result<(), Failed> {
    let pool = Pool::new(2)?;
    let mut seen: Vec<usize> = pool
        .imap_unordered(double, 0..500u64, 1)?
        .map(|(i, r)| {
            assert_eq!(r.expect("no failure"), 2 * i as u64);
            i
        })
        .collect();
    seen.sort_unstable();
    check(
        seen == (0..500).collect::<Vec<_>>(),
        "every position exactly once",
    )
}

fn nap_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn next_timeout_waits_no_longer_than_asked() -> Result<(), Failed> {
    let pool = Pool::new(2)?;
    let mut results = pool.imap_unordered(nap_ms, [600u64, 600], 1)?;
    // Nothing can be in before the naps end: a short wait says so, and comes back in time.
    let asked = Instant::now();
    let first = results.next_timeout(Duration::from_millis(50));
    check(
        matches!(first, Err(PoolError::Timeout)),
        format!("nothing in yet: {first:?}"),
    )?;
    check(
        asked.elapsed() < Duration::from_millis(400),
        format!("waited {:?} for 50 ms", asked.elapsed()),
    )?;
    // The call goes on: both results come, then the end.
    let mut got = Vec::new();
    while got.len() < 2 {
        match results.next_timeout(Duration::from_secs(10)) {
            Ok(Some((i, r))) => got.push((i, r?)),
            other => return Err(format!("expected a result, got {other:?}").into()),
        }
    }
    got.sort_unstable();
    check(got == vec![(0, 600), (1, 600)], format!("{got:?}"))?;
    let end = results.next_timeout(Duration::from_secs(10));
    check(matches!(end, Ok(None)), format!("the end: {end:?}"))
}

fn picky(x: u64) -> u64 {
    if x == 3 {
        common::quiet_stderr();
        panic!("three is not allowed");
    }
    x
}

fn vec_of(x: u64) -> Vec<u64> {
    vec![x; 3]
}

fn fallible(x: u64) -> Result<u64, String> {
    if x % 4 == 1 {
        Err(format!("{x} is odd in a bad way"))
    } else {
        Ok(x)
    }
}

/// Not listed in `init!`.
fn unlisted_double(x: u64) -> u64 {
    2 * x
}

fn unlisted_init(_: u32) {}

fn functions_not_in_the_table_are_refused_by_name() -> Result<(), Failed> {
    let pool = Pool::new(1)?;
    let names_it = |what: &str, e: &PoolError| {
        let msg = e.to_string();
        check(
            matches!(e, PoolError::Pool(err) if err.kind() == multiproc::ErrorKind::Misuse)
                && msg.contains("unlisted_double")
                && msg.contains("multiproc::init!"),
            format!("{what}: {msg}"),
        )
    };
    names_it(
        "map",
        &pool.map(unlisted_double, 0..4u64).expect_err("map refused"),
    )?;
    names_it(
        "apply",
        &pool.apply(unlisted_double, 1).expect_err("apply refused"),
    )?;
    names_it(
        "apply_async",
        &pool
            .apply_async(unlisted_double, 1)
            .get(None)
            .expect_err("apply_async refused"),
    )?;
    let streamed = pool.imap(unlisted_double, 0..4u64, 1);
    check(
        streamed
            .as_ref()
            .is_err_and(|e| e.to_string().contains("unlisted_double")),
        "imap refused",
    )?;
    // Nothing of them ran, and the pool goes on with a listed function.
    check(
        pool.map(double, 0..4u64)? == [0, 2, 4, 6],
        "the pool still works",
    )?;
    let built = Pool::builder()
        .processes(1)
        .initializer(unlisted_init, 0)
        .build();
    check(
        built
            .as_ref()
            .is_err_and(|e| e.to_string().contains("unlisted_init")),
        format!("an unlisted initializer: {:?}", built.err()),
    )?;
    Ok(())
}

fn errors_and_panics_come_back_per_task() -> Result<(), Failed> {
    let pool = Pool::new(2)?;
    // get_each keeps the values of the tasks that succeeded beside the failures.
    let each = pool.map_async(picky, 0..6u64, Some(2))?.get_each(None)?;
    check(
        each.len() == 6
            && each.iter().enumerate().all(|(i, r)| match r {
                Ok(v) => *v == i as u64 && i != 3,
                Err(TaskError::Panicked { .. }) => i == 3,
                Err(_) => false,
            }),
        format!("{each:?}"),
    )?;
    check(
        matches!(
            pool.apply_async(vec_of, 1).get_each(None),
            Err(PoolError::Pool(_))
        ),
        "get_each is for a map, not an apply that returns a Vec",
    )?;
    match pool.map_chunked(picky, 0..6u64, 2) {
        Err(PoolError::Tasks(failed)) => {
            check(failed.len() == 1 && failed[0].0 == 3, format!("{failed:?}"))?;
            let TaskError::Panicked { message, location } = &failed[0].1 else {
                return Err(format!("{failed:?}").into());
            };
            check(message == "three is not allowed", message.clone())?;
            check(
                location.as_deref().is_some_and(|l| l.contains("pool.rs")),
                format!("{location:?}"),
            )?;
        }
        other => return Err(format!("expected one failure, got {other:?}").into()),
    }
    match pool.try_map(fallible, 0..8u64) {
        Err(PoolError::Tasks(failed)) => check(
            failed.iter().map(|f| f.0).collect::<Vec<_>>() == [1, 5]
                && matches!(&failed[0].1, TaskError::Failed(m) if m.contains("odd")),
            format!("{failed:?}"),
        )?,
        other => return Err(format!("expected two failures, got {other:?}").into()),
    }
    check(pool.apply(double, 5)? == 10, "the pool goes on")
}

fn sleepy(x: u64) -> u64 {
    if x == 7 {
        std::thread::sleep(Duration::from_secs(30));
    }
    std::thread::sleep(Duration::from_millis(2));
    x
}

fn a_worker_killed_mid_task_fails_only_that_task() -> Result<(), Failed> {
    let pool = Pool::new(2)?;
    let result = pool.map_async(sleepy, 0..40u64, Some(1))?;
    // Find the worker running task 7, the one asleep in nanosleep (35) or clock_nanosleep
    // (230) once the others are done, and kill it.
    let before = pool.pids();
    let asleep = |pid: &u32| {
        std::fs::read_to_string(format!("/proc/{pid}/syscall"))
            .is_ok_and(|s| matches!(s.split(' ').next(), Some("35" | "230")))
    };
    let started = Instant::now();
    let victim = loop {
        std::thread::sleep(Duration::from_millis(100));
        let sleeping: Vec<u32> = before.iter().copied().filter(asleep).collect();
        if sleeping.len() == 1 && started.elapsed() > Duration::from_millis(300) {
            break sleeping[0];
        }
        check(
            started.elapsed() < Duration::from_secs(10),
            "found the sleeping worker",
        )?;
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim as i32),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    match result.get(Some(Duration::from_secs(20))) {
        Err(PoolError::Tasks(failed)) => {
            check(
                failed.len() == 1 && failed[0].0 == 7,
                format!("only task 7 fails: {failed:?}"),
            )?;
            check(
                matches!(&failed[0].1, TaskError::WorkerDied { pid, how, .. } if *pid == victim && how.contains("SIGKILL")),
                format!("{:?}", failed[0].1),
            )?;
        }
        other => return Err(format!("expected task 7 to fail, got {other:?}").into()),
    }
    let after = pool.pids();
    check(
        after.len() == 2 && !after.contains(&victim),
        format!("replaced: {before:?} -> {after:?}"),
    )?;
    check(pool.apply(double, 1)? == 2, "the pool goes on")
}

fn die(code: i32) -> u32 {
    std::process::exit(code)
}

/// `apply` on an idle pool runs on a borrowed worker: its death is named all the same.
fn apply_survives_its_worker_dying() -> Result<(), Failed> {
    let pool = Pool::new(1)?;
    let first = pool.apply(my_pid, 0)?;
    check(pool.apply(my_pid, 0)? == first, "the same worker again")?;
    match pool.apply(die, 3) {
        Err(PoolError::Tasks(failed)) => check(
            matches!(&failed[..], [(0, TaskError::WorkerDied { pid, how, .. })]
                if *pid == first && how.contains("status 3")),
            format!("{failed:?}"),
        )?,
        other => return Err(format!("expected the worker's death, got {other:?}").into()),
    }
    let second = pool.apply(my_pid, 0)?;
    check(second != first, "replaced")?;
    check(
        wait_gone(&[first], Duration::from_secs(2)).is_empty(),
        "the dead worker is reaped",
    )?;
    check(pool.pids() == vec![second], format!("{:?}", pool.pids()))
}

/// Direct and queued tasks mixed, from several threads at once: every result right.
fn apply_from_many_threads_beside_a_map() -> Result<(), Failed> {
    let pool = Pool::new(2)?;
    let mapped = pool.map_async(double, 0..20_000u64, Some(10))?;
    let wrong = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let pool = &pool;
                scope.spawn(move || {
                    (0..300u64)
                        .filter(|i| {
                            pool.apply(double, t * 1000 + i).ok() != Some(2 * (t * 1000 + i))
                        })
                        .count()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|h| h.join().unwrap_or(usize::MAX))
            .sum::<usize>()
    });
    check(wrong == 0, format!("{wrong} wrong apply results"))?;
    let out = mapped.get(Some(Duration::from_secs(30)))?;
    check(
        out.iter().enumerate().all(|(i, &v)| v == 2 * i as u64),
        "map results",
    )?;
    // Now idle: applies run directly, and all workers are still there.
    check(pool.apply(double, 8)? == 16, "direct")?;
    check(pool.pids().len() == 2, "no worker lost")
}

fn apply_honours_the_task_timeout() -> Result<(), Failed> {
    let pool = Pool::builder()
        .processes(1)
        .task_timeout(Duration::from_millis(200))
        .build()?;
    let before = pool.pids();
    let started = Instant::now();
    match pool.apply(sleepy, 7) {
        Err(PoolError::Tasks(failed)) => check(
            matches!(&failed[..], [(0, TaskError::TimedOut { pid, .. })] if before == [*pid]),
            format!("{failed:?}"),
        )?,
        other => return Err(format!("expected a timeout, got {other:?}").into()),
    }
    check(
        started.elapsed() < Duration::from_secs(5),
        "did not wait for the sleeper",
    )?;
    check(pool.apply(double, 4)? == 8, "the pool goes on")?;
    check(
        wait_gone(&before, Duration::from_secs(2)).is_empty(),
        "the slow worker is killed and reaped",
    )
}

fn apply_honours_maxtasksperchild() -> Result<(), Failed> {
    let pool = Pool::builder().processes(1).maxtasksperchild(2).build()?;
    let pids: Vec<u32> = (0..6)
        .map(|i| pool.apply(my_pid, i))
        .collect::<Result<_, _>>()?;
    let distinct: BTreeSet<u32> = pids.iter().copied().collect();
    check(
        distinct.len() == 3 && pids[0] == pids[1] && pids[2] == pids[3],
        format!("two tasks per worker: {pids:?}"),
    )?;
    check(
        wait_gone(&pids[..4], Duration::from_secs(2)).is_empty(),
        "retired workers are reaped",
    )
}

fn slow_pid(_: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(40));
    std::process::id()
}

/// Eight slow chunks over two workers: each does about half (a worker does not take every
/// chunk ahead while the other idles).
fn slow_chunks_spread_over_the_workers() -> Result<(), Failed> {
    let pool = Pool::new(2)?;
    let pids = pool.map_chunked(slow_pid, 0..8u64, 1)?;
    let mut count: std::collections::BTreeMap<u32, usize> = Default::default();
    for pid in &pids {
        *count.entry(*pid).or_default() += 1;
    }
    check(
        count.len() == 2 && count.values().all(|&n| n >= 3),
        format!("chunks per worker: {count:?}"),
    )
}

fn my_pid(_: u64) -> u32 {
    std::process::id()
}

fn maxtasksperchild_replaces_workers() -> Result<(), Failed> {
    let pool = Pool::builder().processes(2).maxtasksperchild(2).build()?;
    let pids: BTreeSet<u32> = pool.map_chunked(my_pid, 0..12u64, 1)?.into_iter().collect();
    check(
        pids.len() >= 6,
        format!("12 chunks, 2 per worker: {pids:?}"),
    )
}

fn count_start(counter: Value<u32>) {
    *counter.get_lock().expect("lock") += 1;
}

fn initializer_runs_once_per_worker() -> Result<(), Failed> {
    let counter = Value::new(0u32)?;
    let pool = Pool::builder()
        .processes(3)
        .initializer(count_start, counter.try_clone()?)
        .build()?;
    let _ = pool.map(double, 0..100u64)?;
    // A worker that got no task may still be starting: once joined, all three have run it.
    pool.close();
    pool.join()?;
    check(
        counter.get()? == 3,
        format!("{} initializations", counter.get()?),
    )
}

fn a_task_timeout_kills_and_replaces() -> Result<(), Failed> {
    let pool = Pool::builder()
        .processes(2)
        .task_timeout(Duration::from_millis(300))
        .build()?;
    let started = Instant::now();
    match pool.map_chunked(sleepy, 5..10u64, 1) {
        Err(PoolError::Tasks(failed)) => check(
            failed.len() == 1
                && failed[0].0 == 2
                && matches!(failed[0].1, TaskError::TimedOut { .. }),
            format!("{failed:?}"),
        )?,
        other => return Err(format!("expected a timeout, got {other:?}").into()),
    }
    check(
        started.elapsed() < Duration::from_secs(10),
        "did not wait for the sleeper",
    )?;
    check(pool.pids().len() == 2, "replaced")
}

fn a_get_timeout_kills_the_task_and_the_pool_goes_on() -> Result<(), Failed> {
    let pool = Pool::new(2)?;
    let before = pool.pids();
    let started = Instant::now();
    let result = pool
        .apply_async(sleepy, 7)
        .get(Some(Duration::from_millis(200)));
    check(
        matches!(result, Err(PoolError::Timeout)),
        format!("{result:?}"),
    )?;
    check(
        started.elapsed() < Duration::from_secs(5),
        "get returned at its timeout",
    )?;
    // The sleeper's worker is killed (nobody wants its result) and replaced.
    let deadline = Instant::now() + Duration::from_secs(10);
    while pool.pids() == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let after = pool.pids();
    check(
        after.len() == 2 && before.iter().filter(|p| after.contains(p)).count() == 1,
        format!("one worker replaced: {before:?} -> {after:?}"),
    )?;
    check(
        wait_gone(&before, Duration::from_secs(2)).len() == 1,
        "the killed worker is reaped",
    )?;
    check(pool.apply(double, 21)? == 42, "the pool goes on")
}

fn touch(path: String) {
    std::fs::write(path, b"ran").expect("write");
}

fn a_dropped_async_result_still_runs() -> Result<(), Failed> {
    let pool = Pool::new(1)?;
    let path = std::env::temp_dir().join(format!("multiproc-dropped-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    // As in Python, a task whose result nobody reads still runs.
    drop(pool.apply_async(touch, path.display().to_string()));
    pool.close();
    pool.join()?;
    let ran = std::fs::read(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    check(ran == b"ran", "the task ran")
}

fn terminate_mid_map_leaves_nothing() -> Result<(), Failed> {
    let mut pool = Pool::new(2)?;
    let pids = pool.pids();
    let result = pool.map_async(sleepy, 0..50u64, Some(1))?;
    std::thread::sleep(Duration::from_millis(100));
    pool.terminate();
    check(
        matches!(
            result.get(Some(Duration::from_secs(5))),
            Err(PoolError::Tasks(_))
        ),
        "unfinished tasks are cancelled",
    )?;
    check(
        wait_gone(&pids, Duration::from_secs(2)).is_empty(),
        "workers reaped",
    )
}

fn dropping_an_open_pool_reaps_its_workers() -> Result<(), Failed> {
    let pool = Pool::new(3)?;
    let pids = pool.pids();
    let _ = pool.apply_async(sleepy, 7);
    drop(pool);
    check(
        wait_gone(&pids, Duration::from_secs(2)).is_empty(),
        "workers reaped",
    )
}

fn nested(n: u64) -> Result<(), String> {
    let pool = Pool::new(2).map_err(|e| e.to_string())?;
    let got = pool.map(double, 0..n).map_err(|e| e.to_string())?;
    if got != (0..n).map(double).collect::<Vec<_>>() {
        return Err("wrong results".into());
    }
    Ok(())
}

fn a_pool_inside_a_worker_works() -> Result<(), Failed> {
    let mut p = Process::new(nested, 50);
    p.start()?;
    check(p.join()? == 0, format!("{:?}", p.failure()))
}

fn misuse_is_refused_clearly() -> Result<(), Failed> {
    check(Pool::new(0).is_err(), "no processes")?;
    let pool = Pool::new(1)?;
    pool.close();
    check(
        matches!(pool.map(double, 0..3u64), Err(PoolError::Pool(_))),
        "closed",
    )?;
    pool.join()?;
    let open = Pool::new(1)?;
    // A shared object travels to workers only at their start, through the initializer.
    let shared = Value::new(0u64)?;
    match open.apply_async(read_value, shared).get(None) {
        Err(PoolError::Pool(e)) => check(
            e.to_string().contains("initializer"),
            format!("the message points to the initializer: {e}"),
        )?,
        other => return Err(format!("a Value as a task's input: {other:?}").into()),
    }
    check(open.join().is_err(), "join before close")
}

fn read_value(v: Value<u64>) -> u64 {
    v.get().expect("get")
}

fn inflate(seed: Vec<u8>) -> Vec<u8> {
    seed.iter().cycle().take(300_000).copied().collect()
}

/// Chunks and results far larger than a pipe's buffer, several handed to each worker at once:
/// the pool never blocks writing to a worker that is itself blocked writing back.
fn large_inputs_and_results_do_not_deadlock() -> Result<(), Failed> {
    let pool = Pool::new(2)?;
    let inputs: Vec<Vec<u8>> = (0..24u8).map(|i| vec![i; 200_000]).collect();
    let out = pool.map_chunked(inflate, inputs, 1)?;
    check(
        out.len() == 24
            && out
                .iter()
                .enumerate()
                .all(|(i, v)| v.len() == 300_000 && v[0] == i as u8),
        "every large result intact",
    )
}

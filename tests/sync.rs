//! Shared state and synchronisation across real child processes: `Value`, `Array`, `Lock`,
//! `RLock`, `Semaphore`, `BoundedSemaphore`, `Event`, `Barrier`, `Condition`, and what each
//! does when a process dies holding it.

mod common;

use std::time::{Duration, Instant};

use common::{Test, check, run_trials};
use libtest_mimic::Failed;
use multiproc::sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore};
use multiproc::{Array, ErrorKind, Process, Value};

fn main() {
    multiproc::init!(
        add_under_lock,
        add_under_rlock,
        enter,
        hold_condition,
        hold_lock,
        hold_permit,
        hold_rlock,
        hold_value,
        party,
        produce,
        release_many,
        release_without_owning,
        sleep_holding_barrier,
        wait_for_flag,
        wait_then_report,
        write_shared
    );
    let tests: Vec<(&str, Test)> = vec![
        (
            "try_acquire_finds_a_permit_while_others_release",
            try_acquire_finds_a_permit_while_others_release,
        ),
        (
            "lock_makes_a_shared_counter_exact",
            lock_makes_a_shared_counter_exact,
        ),
        (
            "rlock_is_reentrant_and_exclusive",
            rlock_is_reentrant_and_exclusive,
        ),
        (
            "rlock_release_by_a_process_that_does_not_own_it_is_refused",
            rlock_release_by_a_process_that_does_not_own_it_is_refused,
        ),
        (
            "semaphore_never_admits_more_than_its_count",
            semaphore_never_admits_more_than_its_count,
        ),
        (
            "bounded_semaphore_refuses_over_release",
            bounded_semaphore_refuses_over_release,
        ),
        (
            "event_wakes_waiters_in_other_processes",
            event_wakes_waiters_in_other_processes,
        ),
        ("event_wait_times_out", event_wait_times_out),
        (
            "barrier_releases_all_parties_together",
            barrier_releases_all_parties_together,
        ),
        (
            "barrier_breaks_on_timeout_and_abort",
            barrier_breaks_on_timeout_and_abort,
        ),
        (
            "condition_notify_notify_all_and_wait_for",
            condition_notify_notify_all_and_wait_for,
        ),
        (
            "value_and_array_writes_by_children_are_seen",
            value_and_array_writes_by_children_are_seen,
        ),
        (
            "raw_values_and_misuse_are_refused_clearly",
            raw_values_and_misuse_are_refused_clearly,
        ),
        (
            "a_killed_lock_holder_is_named",
            a_killed_lock_holder_is_named,
        ),
        (
            "a_killed_rlock_holder_is_named",
            a_killed_rlock_holder_is_named,
        ),
        (
            "a_killed_semaphore_holder_is_named",
            a_killed_semaphore_holder_is_named,
        ),
        (
            "a_killed_condition_holder_is_named",
            a_killed_condition_holder_is_named,
        ),
        (
            "a_killed_value_lock_holder_is_named",
            a_killed_value_lock_holder_is_named,
        ),
        (
            "a_killed_party_breaks_the_barrier",
            a_killed_party_breaks_the_barrier,
        ),
        ("nothing_is_left_in_dev_shm", nothing_is_left_in_dev_shm),
    ];
    run_trials(tests, Duration::from_secs(60));
}

/// Starts `target(args)` and checks it exits 0 when joined by `finish`.
fn start<F, A, R>(target: F, args: A) -> Result<Process, Failed>
where
    F: Fn(A) -> R + Copy + 'static,
    A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    R: multiproc::TargetOutput + 'static,
{
    let mut p = Process::new(target, args);
    p.start()?;
    Ok(p)
}

fn finish(processes: &mut [Process]) -> Result<(), Failed> {
    for p in processes {
        let code = p.join()?;
        check(
            code == 0,
            format!("{} exited {code}: {:?}", p.name(), p.failure()),
        )?;
    }
    Ok(())
}

/// Adds 1 to the counter 2000 times, each read and write under the lock (the counter itself
/// has no lock: only `lock` makes the sum exact).
fn add_under_lock((lock, counter): (Lock, Value<u64>)) -> multiproc::Result<()> {
    for _ in 0..2000 {
        let _held = lock.acquire()?;
        let n = counter.get()?;
        std::hint::black_box(());
        counter.set(n + 1)?;
    }
    Ok(())
}

fn lock_makes_a_shared_counter_exact() -> Result<(), Failed> {
    let lock = Lock::new()?;
    let counter = Value::new_raw(0u64)?;
    let mut ps = Vec::new();
    for _ in 0..4 {
        ps.push(start(
            add_under_lock,
            (lock.try_clone()?, counter.try_clone()?),
        )?);
    }
    finish(&mut ps)?;
    check(
        counter.get()? == 8000,
        format!("counter {}", counter.get()?),
    )
}

fn add_under_rlock((lock, counter): (RLock, Value<u64>)) -> multiproc::Result<()> {
    for _ in 0..1000 {
        let _outer = lock.acquire()?;
        let _inner = lock.acquire()?; // re-entry by the holder
        let n = counter.get()?;
        counter.set(n + 1)?;
    }
    Ok(())
}

fn rlock_is_reentrant_and_exclusive() -> Result<(), Failed> {
    let lock = RLock::new()?;
    let counter = Value::new_raw(0u64)?;
    let mut ps = Vec::new();
    for _ in 0..3 {
        ps.push(start(
            add_under_rlock,
            (lock.try_clone()?, counter.try_clone()?),
        )?);
    }
    finish(&mut ps)?;
    check(
        counter.get()? == 3000,
        format!("counter {}", counter.get()?),
    )?;
    let a = lock.acquire()?;
    let b = lock.acquire()?;
    drop(a); // out of order: still held by b
    check(
        lock.release().is_ok(),
        "b's level can be released explicitly",
    )?;
    std::mem::forget(b);
    check(
        lock.release().is_err(),
        "fully released: nothing left to release",
    )
}

fn release_without_owning(lock: RLock) -> Result<(), String> {
    match lock.release() {
        Err(e) if e.kind() == ErrorKind::Misuse => Ok(()),
        other => Err(format!("release by a non-owner gave {other:?}")),
    }
}

fn rlock_release_by_a_process_that_does_not_own_it_is_refused() -> Result<(), Failed> {
    let lock = RLock::new()?;
    let held = lock.acquire()?;
    let mut ps = vec![start(release_without_owning, lock.try_clone()?)?];
    finish(&mut ps)?;
    drop(held);
    check(lock.try_clone()?.acquire().is_ok(), "still usable")
}

/// Enters the semaphore 20 times, counting those inside in `inside[0]` and the most seen at
/// once in `inside[1]`.
fn enter((sem, inside): (Semaphore, Array<u32>)) -> multiproc::Result<()> {
    for _ in 0..20 {
        let _permit = sem.acquire()?;
        inside.with_lock(|v| {
            v[0] += 1;
            v[1] = v[1].max(v[0]);
        })?;
        std::thread::sleep(Duration::from_micros(200));
        inside.with_lock(|v| v[0] -= 1)?;
    }
    Ok(())
}

fn semaphore_never_admits_more_than_its_count() -> Result<(), Failed> {
    let sem = Semaphore::new(2)?;
    let inside = Array::new(&[0u32, 0])?;
    let mut ps = Vec::new();
    for _ in 0..5 {
        ps.push(start(enter, (sem.try_clone()?, inside.try_clone()?))?);
    }
    finish(&mut ps)?;
    let [now, most] = inside.to_vec()?[..] else {
        return Err("two counters".into());
    };
    check(
        now == 0 && (1..=2).contains(&most),
        format!("inside {now}, at most {most}"),
    )?;
    check(
        sem.value() == 2,
        format!("all permits back: {}", sem.value()),
    )
}

fn bounded_semaphore_refuses_over_release() -> Result<(), Failed> {
    let sem = BoundedSemaphore::new(1)?;
    let err = sem.release().unwrap_err();
    check(err.kind() == ErrorKind::Misuse, format!("{err}"))?;
    let permit = sem.acquire()?;
    check(sem.try_acquire()?.is_none(), "one permit only")?;
    permit.release()?;
    check(sem.value() == 1, "back to one")
}

fn wait_then_report((event, seen): (Event, Array<u32>)) -> multiproc::Result<()> {
    event.wait()?;
    seen.with_lock(|v| v[0] += 1)
}

fn event_wakes_waiters_in_other_processes() -> Result<(), Failed> {
    let event = Event::new()?;
    let seen = Array::new(&[0u32])?;
    let mut ps = Vec::new();
    for _ in 0..3 {
        ps.push(start(
            wait_then_report,
            (event.try_clone()?, seen.try_clone()?),
        )?);
    }
    std::thread::sleep(Duration::from_millis(50));
    check(seen.get(0)? == 0, "nobody passes before the event is set")?;
    event.set();
    finish(&mut ps)?;
    check(seen.get(0)? == 3, format!("{} woke", seen.get(0)?))
}

fn event_wait_times_out() -> Result<(), Failed> {
    let event = Event::new()?;
    let started = Instant::now();
    check(!event.wait_timeout(Duration::from_millis(50))?, "not set")?;
    let took = started.elapsed();
    check(
        took >= Duration::from_millis(50) && took < Duration::from_secs(2),
        format!("took {took:?}"),
    )?;
    event.set();
    event.clear();
    check(!event.is_set(), "cleared")
}

/// Waits at the barrier after `delay_ms`, then writes the time it passed (ms since `t0`).
fn party(
    (barrier, passed, slot, delay_ms): (Barrier, Array<u64>, usize, u64),
) -> multiproc::Result<()> {
    std::thread::sleep(Duration::from_millis(delay_ms));
    barrier.wait()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    passed.set(slot, now)
}

fn barrier_releases_all_parties_together() -> Result<(), Failed> {
    let barrier = Barrier::new(3)?;
    let passed = Array::new(&[0u64; 3])?;
    let mut ps = Vec::new();
    for (slot, delay) in [(0, 0), (1, 100), (2, 300)] {
        ps.push(start(
            party,
            (barrier.try_clone()?, passed.try_clone()?, slot, delay),
        )?);
    }
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    finish(&mut ps)?;
    let times = passed.to_vec()?;
    let (first, last) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
    check(
        first >= started + 250 && last - first < 200,
        format!("passed at {times:?}, started {started}"),
    )?;
    check(
        barrier.n_waiting() == 0 && !barrier.broken(),
        "ready for another round",
    )
}

fn barrier_breaks_on_timeout_and_abort() -> Result<(), Failed> {
    let barrier = Barrier::new(2)?;
    let err = barrier.wait_timeout(Duration::from_millis(30)).unwrap_err();
    check(err.is_timeout(), format!("{err}"))?;
    check(barrier.broken(), "a timeout breaks it")?;
    let err = barrier.wait().unwrap_err();
    check(err.kind() == ErrorKind::Broken, format!("{err}"))?;
    barrier.reset()?;
    check(!barrier.broken(), "reset")?;
    barrier.abort();
    let err = barrier.wait().unwrap_err();
    check(err.to_string().contains("aborted"), format!("{err}"))
}

/// Puts three items one at a time, notifying one waiter each; then raises a flag for all.
fn produce((cond, items): (Condition, Array<u32>)) -> multiproc::Result<()> {
    for _ in 0..3 {
        let guard = cond.acquire()?;
        items.with_lock(|v| v[0] += 1)?;
        guard.notify(1);
        drop(guard);
        std::thread::sleep(Duration::from_millis(10));
    }
    let guard = cond.acquire()?;
    items.with_lock(|v| v[1] = 1)?;
    guard.notify_all();
    Ok(())
}

fn wait_for_flag((cond, items): (Condition, Array<u32>)) -> Result<(), String> {
    let mut guard = cond.acquire().map_err(|e| e.to_string())?;
    let flag = || items.get(1).unwrap_or(0) == 1;
    match guard.wait_for(flag, Some(Duration::from_secs(20))) {
        Ok(true) => Ok(()),
        Ok(false) => Err("the flag was not raised in time".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn condition_notify_notify_all_and_wait_for() -> Result<(), Failed> {
    let cond = Condition::new()?;
    let items = Array::new(&[0u32, 0])?;
    let mut ps = vec![
        start(wait_for_flag, (cond.try_clone()?, items.try_clone()?))?,
        start(wait_for_flag, (cond.try_clone()?, items.try_clone()?))?,
    ];
    // Consume the three items as they are notified, one wait at a time.
    let mut guard = cond.acquire()?;
    ps.push(start(produce, (cond.try_clone()?, items.try_clone()?))?);
    let mut taken = 0;
    while taken < 3 {
        if items.get(0)? > 0 {
            items.with_lock(|v| v[0] -= 1)?;
            taken += 1;
            continue;
        }
        check(
            guard.wait(Some(Duration::from_secs(10)))?,
            "notified in time",
        )?;
    }
    drop(guard);
    finish(&mut ps)?;
    check(items.to_vec()? == [0, 1], format!("{:?}", items.to_vec()?))?;
    let mut guard = cond.acquire()?;
    check(
        !guard.wait(Some(Duration::from_millis(20)))?,
        "an unnotified wait times out",
    )
}

fn write_shared((v, a): (Value<f64>, Array<i32>)) -> multiproc::Result<()> {
    v.set(1.25)?;
    a.with_lock(|s| s.iter_mut().for_each(|x| *x = -*x))
}

fn value_and_array_writes_by_children_are_seen() -> Result<(), Failed> {
    let v = Value::new(0.0f64)?;
    let a = Array::new(&(0..10).collect::<Vec<i32>>())?;
    let mut ps = vec![start(write_shared, (v.try_clone()?, a.try_clone()?))?];
    finish(&mut ps)?;
    check(v.get()? == 1.25, format!("{}", v.get()?))?;
    check(
        a.to_vec()? == [0, -1, -2, -3, -4, -5, -6, -7, -8, -9],
        format!("{:?}", a.to_vec()?),
    )?;
    let z: Array<[u8; 3]> = Array::zeroed(4)?;
    z.set(3, [1, 2, 3])?;
    check(
        z.to_vec()? == [[0; 3], [0; 3], [0; 3], [1, 2, 3]],
        "arrays of arrays",
    )
}

fn raw_values_and_misuse_are_refused_clearly() -> Result<(), Failed> {
    let raw = Value::new_raw(1u8)?;
    check(
        raw.get_lock().unwrap_err().kind() == ErrorKind::Misuse,
        "no lock to take",
    )?;
    let a = Array::new(&[1u16, 2])?;
    check(
        a.get(2).unwrap_err().kind() == ErrorKind::InvalidArgument,
        "past the end",
    )?;
    let guard = a.get_lock()?;
    check(
        a.get(0).unwrap_err().kind() == ErrorKind::Misuse,
        "lock held by this thread",
    )?;
    drop(guard);
    let lock = Lock::new()?;
    let held = lock.acquire()?;
    check(
        lock.acquire().unwrap_err().kind() == ErrorKind::Misuse,
        "not re-entrant",
    )?;
    drop(held);
    check(lock.try_acquire()?.is_some(), "free again")
}

/// Takes `what` and signals that it holds it, then waits to be killed.
fn hold_lock((lock, held): (Lock, Event)) -> multiproc::Result<()> {
    let _g = lock.acquire()?;
    held.set();
    std::thread::sleep(Duration::from_secs(60));
    Ok(())
}

fn hold_rlock((lock, held): (RLock, Event)) -> multiproc::Result<()> {
    let _a = lock.acquire()?;
    let _b = lock.acquire()?;
    held.set();
    std::thread::sleep(Duration::from_secs(60));
    Ok(())
}

fn hold_permit((sem, held): (Semaphore, Event)) -> multiproc::Result<()> {
    let _p = sem.acquire()?;
    held.set();
    std::thread::sleep(Duration::from_secs(60));
    Ok(())
}

fn hold_condition((cond, held): (Condition, Event)) -> multiproc::Result<()> {
    let _g = cond.acquire()?;
    held.set();
    std::thread::sleep(Duration::from_secs(60));
    Ok(())
}

fn hold_value((value, held): (Value<u64>, Event)) -> multiproc::Result<()> {
    let mut g = value.get_lock()?;
    *g = 99;
    held.set();
    std::thread::sleep(Duration::from_secs(60));
    Ok(())
}

/// Starts a holder, waits until it holds, kills it with SIGKILL; returns its pid.
fn kill_a_holder<F, A>(target: F, what: A) -> Result<u32, Failed>
where
    F: Fn((A, Event)) -> multiproc::Result<()> + Copy + 'static,
    A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let held = Event::new()?;
    let mut p = start(target, (what, held.try_clone()?))?;
    check(
        held.wait_timeout(Duration::from_secs(10))?,
        "the holder took it",
    )?;
    p.kill()?;
    check(p.join()? == -9, "killed")?;
    Ok(p.pid().unwrap_or(0))
}

fn broken_by(err: &multiproc::Error, pid: u32) -> Result<(), Failed> {
    check(
        err.kind() == ErrorKind::Broken && err.broken_by() == Some(pid),
        format!("expected broken by {pid}: {err} ({:?})", err.kind()),
    )
}

fn a_killed_lock_holder_is_named() -> Result<(), Failed> {
    let lock = Lock::new()?;
    let pid = kill_a_holder(hold_lock, lock.try_clone()?)?;
    broken_by(
        &lock.acquire_timeout(Duration::from_secs(5)).unwrap_err(),
        pid,
    )?;
    broken_by(&lock.acquire().unwrap_err(), pid)?;
    lock.mark_consistent();
    check(
        lock.try_acquire()?.is_some(),
        "usable after mark_consistent",
    )
}

fn a_killed_rlock_holder_is_named() -> Result<(), Failed> {
    let lock = RLock::new()?;
    let pid = kill_a_holder(hold_rlock, lock.try_clone()?)?;
    broken_by(&lock.acquire().unwrap_err(), pid)?;
    lock.mark_consistent();
    let _g = lock.acquire()?;
    Ok(())
}

fn a_killed_semaphore_holder_is_named() -> Result<(), Failed> {
    let sem = Semaphore::new(1)?;
    let pid = kill_a_holder(hold_permit, sem.try_clone()?)?;
    let asked = Instant::now();
    broken_by(&sem.acquire().unwrap_err(), pid)?;
    check(asked.elapsed() < Duration::from_secs(2), "seen promptly")?;
    sem.mark_consistent()?;
    check(
        sem.value() == 1,
        format!("the dead one's permit came back: {}", sem.value()),
    )?;
    check(sem.try_acquire()?.is_some(), "usable again")
}

fn a_killed_condition_holder_is_named() -> Result<(), Failed> {
    let cond = Condition::new()?;
    let pid = kill_a_holder(hold_condition, cond.try_clone()?)?;
    broken_by(&cond.acquire().unwrap_err(), pid)?;
    cond.mark_consistent();
    let _g = cond.acquire()?;
    Ok(())
}

fn a_killed_value_lock_holder_is_named() -> Result<(), Failed> {
    let value = Value::new(0u64)?;
    let pid = kill_a_holder(hold_value, value.try_clone()?)?;
    broken_by(&value.get().unwrap_err(), pid)?;
    value.mark_consistent();
    check(
        value.get()? == 99,
        "the dead holder's write is there, to be checked",
    )
}

fn sleep_holding_barrier(barrier: Barrier) {
    let _keep = barrier;
    std::thread::sleep(Duration::from_secs(60));
}

fn a_killed_party_breaks_the_barrier() -> Result<(), Failed> {
    let barrier = Barrier::new(2)?;
    let mut p = start(sleep_holding_barrier, barrier.try_clone()?)?;
    let pid = p.pid().unwrap_or(0);
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let _ = p.kill();
        p.join()
    });
    let asked = Instant::now();
    let err = barrier.wait().unwrap_err();
    killer.join().expect("killer")?;
    broken_by(&err, pid)?;
    check(
        asked.elapsed() < Duration::from_secs(5),
        "did not wait for ever",
    )
}

fn dev_shm() -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn nothing_is_left_in_dev_shm() -> Result<(), Failed> {
    let before = dev_shm();
    {
        let _all = (
            Lock::new()?,
            RLock::new()?,
            Semaphore::new(1)?,
            Event::new()?,
            Barrier::new(2)?,
            Condition::new()?,
            Value::new(1u32)?,
            Array::new(&[1.0f32])?,
        );
        check(
            dev_shm() == before,
            "nothing named in /dev/shm while they live",
        )?;
    }
    check(dev_shm() == before, "nor after")
}

/// Releases the semaphore `times` times, as fast as it can.
fn release_many(args: (Semaphore, u32)) -> Result<(), String> {
    for _ in 0..args.1 {
        args.0.release().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Once a releaser has exited, its permits are there: `try_acquire` must find one even while
/// other processes keep the semaphore busy releasing theirs (it used to give up when the
/// semaphore's own lock was taken at that instant, which failed a 1024-worker shm run).
fn try_acquire_finds_a_permit_while_others_release() -> Result<(), Failed> {
    let sem = Semaphore::new(0)?;
    let mut children = Vec::new();
    for _ in 0..48 {
        let mut p = Process::new(release_many, (sem.try_clone()?, 2000));
        p.start()?;
        children.push(p);
    }
    let mut missed = 0;
    for p in &mut children {
        check(p.join()? == 0, "a releaser failed")?;
        // This child's permits are in: take as many, whoever else is releasing now.
        for _ in 0..2000 {
            match sem.try_acquire()? {
                Some(permit) => permit.forget(),
                None => missed += 1,
            }
        }
    }
    check(
        missed == 0,
        format!("{missed} permits missed by try_acquire"),
    )
}

//! Synchronisation primitives across processes, each in a short scene:
//! `Lock`/`RLock`, `Semaphore`, `Event`, `Barrier` and `Condition`.
//! Every scene's outcome is printed on a line of its own, so it can be checked.
//! `cargo run --example sync_primitives`

use std::thread::sleep;
use std::time::{Duration, Instant};

use multiproc::sync::{Barrier, Condition, Event, Lock, RLock, Semaphore};
use multiproc::{Array, Process, Value};

fn start<A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static>(
    target: fn(A) -> multiproc::Result<()>,
    args: A,
) -> multiproc::Result<Process> {
    let mut p = Process::new(target, args);
    p.start()?;
    Ok(p)
}

fn join_all(processes: &mut [Process]) -> multiproc::Result<()> {
    for p in processes {
        p.join()?;
    }
    Ok(())
}

fn ms_since(t0: Instant) -> u128 {
    t0.elapsed().as_millis()
}

// --- Lock and RLock: one holder at a time; an RLock may be taken again by its holder.

fn try_lock(lock: Lock) -> multiproc::Result<()> {
    let t0 = Instant::now();
    let outcome = match lock.acquire_timeout(Duration::from_millis(50)) {
        Ok(_) => "got it?!".to_string(),
        Err(e) if e.is_timeout() => format!("timed out after {} ms", ms_since(t0)),
        Err(e) => return Err(e),
    };
    println!(
        "lock: while the parent holds it, pid {}'s acquire {outcome}",
        std::process::id()
    );
    Ok(())
}

fn nested(rlock: RLock) -> multiproc::Result<()> {
    let _outer = rlock.acquire()?;
    let _inner = rlock.acquire()?; // the same holder again: a Lock would refuse this
    println!(
        "rlock: pid {} took the RLock twice, nested",
        std::process::id()
    );
    Ok(())
}

// --- Semaphore: at most N inside at once.

fn visit((sem, inside): (Semaphore, Array<u32>)) -> multiproc::Result<()> {
    let _permit = sem.acquire()?;
    inside.with_lock(|v| {
        v[0] += 1; // inside now
        v[1] = v[1].max(v[0]); // the most ever seen together
    })?;
    sleep(Duration::from_millis(30));
    inside.with_lock(|v| v[0] -= 1)
}

// --- Event: waiters sleep until one process sets it.

fn await_start((go, woke): (Event, Value<u32>)) -> multiproc::Result<()> {
    go.wait()?;
    *woke.get_lock()? += 1; // one more woke up
    Ok(())
}

// --- Barrier: everyone waits for the last to arrive.

fn arrive((barrier, delay_ms): (Barrier, u64)) -> multiproc::Result<()> {
    sleep(Duration::from_millis(delay_ms));
    let t0 = Instant::now();
    barrier.wait()?;
    println!(
        "barrier: pid {} arrived after {delay_ms} ms, waited {} ms for the others",
        std::process::id(),
        ms_since(t0)
    );
    Ok(())
}

// --- Condition: a consumer waits for the producer's items.

fn produce((cond, items): (Condition, Value<u32>)) -> multiproc::Result<()> {
    for _ in 0..3 {
        sleep(Duration::from_millis(20));
        let guard = cond.acquire()?;
        items.set(items.get()? + 1)?;
        guard.notify(1); // wake the consumer: there is something for it
    }
    Ok(())
}

fn main() -> multiproc::Result<()> {
    multiproc::init();

    let lock = Lock::new()?;
    let held = lock.acquire()?;
    join_all(&mut [start(try_lock, lock.try_clone()?)?])?;
    drop(held);
    let rlock = RLock::new()?;
    join_all(&mut [start(nested, rlock.try_clone()?)?])?;

    let sem = Semaphore::new(2)?;
    let inside = Array::new(&[0u32, 0])?;
    let mut visitors = Vec::new();
    for _ in 0..5 {
        visitors.push(start(visit, (sem.try_clone()?, inside.try_clone()?))?);
    }
    join_all(&mut visitors)?;
    println!(
        "semaphore: 5 processes, at most {} inside at once (limit 2)",
        inside.get(1)?
    );

    let go = Event::new()?;
    let woke = Value::new(0u32)?;
    let mut waiters = Vec::new();
    for _ in 0..3 {
        waiters.push(start(await_start, (go.try_clone()?, woke.try_clone()?))?);
    }
    sleep(Duration::from_millis(100));
    let before = woke.get()?;
    go.set();
    join_all(&mut waiters)?;
    println!(
        "event: {before} waiters passed before set() at 100 ms; then all {} woke",
        woke.get()?
    );

    let barrier = Barrier::new(3)?;
    let mut parties = Vec::new();
    for delay in [0, 50, 100] {
        parties.push(start(arrive, (barrier.try_clone()?, delay))?);
    }
    join_all(&mut parties)?;

    let cond = Condition::new()?;
    let items = Value::new(0u32)?;
    let mut producer = start(produce, (cond.try_clone()?, items.try_clone()?))?;
    let mut guard = cond.acquire()?;
    let got_all = guard.wait_for(
        || items.get().unwrap_or(0) == 3,
        Some(Duration::from_secs(10)),
    )?;
    drop(guard);
    producer.join()?;
    println!(
        "condition: the consumer, woken at each notify, waited until all {} items were in ({})",
        items.get()?,
        if got_all { "on time" } else { "timed out" }
    );
    Ok(())
}

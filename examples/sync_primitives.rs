//! Synchronisation primitives across processes, each in a short scene:
//! `Lock`/`RLock`, `Semaphore`, `Event`, `Barrier` and `Condition`.
//! Every scene's outcome is printed on a line of its own, so it can be checked.
//! `cargo run --example sync_primitives`

// The narration's language: Portuguese or English, as the environment asks (what the deck
// prints stays as the deck has it).
rust_i18n::i18n!("examples/locales", fallback = "en");
#[path = "common/say.rs"]
mod say;
use rust_i18n::t;

use std::thread::sleep;
use std::time::{Duration, Instant};

use multiproc::sync::{Barrier, Condition, Event, Lock, RLock, Semaphore};
use multiproc::{Array, Process, Value};

fn start<F, A>(target: F, args: A) -> multiproc::Result<Process>
where
    F: Fn(A) -> multiproc::Result<()> + Copy + 'static,
    A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
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
        Ok(_) => t!("lock_took_it").into_owned(),
        Err(e) if e.is_timeout() => t!("lock_timed_out", ms = ms_since(t0)).into_owned(),
        Err(e) => return Err(e),
    };
    println!(
        "{}",
        t!("lock_scene", pid = std::process::id(), outcome = outcome)
    );
    Ok(())
}

fn nested(rlock: RLock) -> multiproc::Result<()> {
    let _outer = rlock.acquire()?;
    let _inner = rlock.acquire()?; // the same holder again: a Lock would refuse this
    println!("{}", t!("rlock_scene", pid = std::process::id()));
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
        "{}",
        t!(
            "barrier_scene",
            pid = std::process::id(),
            delay = delay_ms,
            waited = ms_since(t0)
        )
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
    say::choose_language();
    multiproc::init!(try_lock, nested, visit, await_start, arrive, produce);

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
    println!("{}", t!("semaphore_scene", most = inside.get(1)?));

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
    println!("{}", t!("event_scene", before = before, woke = woke.get()?));

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
        "{}",
        t!(
            "condition_scene",
            items = items.get()?,
            how = if got_all {
                t!("on_time")
            } else {
                t!("timed_out")
            }
        )
    );
    Ok(())
}

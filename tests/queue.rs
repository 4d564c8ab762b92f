//! `Queue` within one process and across many.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Test, check, run_trials};
use libtest_mimic::Failed;
use multiproc::{Connection, Process, Queue, pipe};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

// The producers that die on purpose exist only with the fault-injection switch.
#[cfg(feature = "fault-injection")]
multiproc::targets!(static FAULT_TARGETS = [put_and_die_at, put_big_and_die_after_its_first_bytes]);
#[cfg(not(feature = "fault-injection"))]
multiproc::targets!(static FAULT_TARGETS = []);

fn main() {
    multiproc::init!(
        consume,
        doubler,
        produce,
        produce_forever,
        put_huge,
        wait_for_one,
        ..FAULT_TARGETS
    );
    #[allow(unused_mut)]
    let mut tests: Vec<(&str, Test)> = vec![
        ("fifo_in_one_process", fifo_in_one_process),
        (
            "get_timeout_on_empty_queue_times_out",
            get_timeout_on_empty_queue_times_out,
        ),
        (
            "bounded_put_blocks_until_room",
            bounded_put_blocks_until_room,
        ),
        (
            "items_cross_processes_both_ways",
            items_cross_processes_both_ways,
        ),
        (
            "stress_4_producers_4_consumers",
            stress_4_producers_4_consumers,
        ),
        (
            "a_waiting_consumer_killed_harms_no_one",
            a_waiting_consumer_killed_harms_no_one,
        ),
        (
            "get_ends_when_no_one_else_holds_the_queue",
            get_ends_when_no_one_else_holds_the_queue,
        ),
        (
            "a_producer_killed_mid_item_breaks_the_queue_clearly",
            a_producer_killed_mid_item_breaks_the_queue_clearly,
        ),
        (
            "a_producer_killed_anywhere_in_a_large_item_never_hangs_or_tears",
            a_producer_killed_anywhere_in_a_large_item_never_hangs_or_tears,
        ),
        (
            "oversized_item_is_skipped_and_the_queue_goes_on",
            oversized_item_is_skipped_and_the_queue_goes_on,
        ),
    ];
    #[cfg(feature = "fault-injection")]
    tests.push((
        "a_producer_dying_after_the_first_bytes_of_an_item_breaks_the_queue",
        a_producer_dying_after_the_first_bytes_of_an_item_breaks_the_queue,
    ));
    #[cfg(feature = "fault-injection")]
    tests.push((
        "a_producer_dying_before_or_after_its_bytes_never_tears_an_item",
        a_producer_dying_before_or_after_its_bytes_never_tears_an_item,
    ));
    run_trials(tests, Duration::from_secs(60));
}

fn fifo_in_one_process() -> Result<(), Failed> {
    let q: Queue<String> = Queue::new()?;
    check(q.empty() && q.qsize() == 0, "new queue is empty")?;
    check(q.try_get()?.is_none(), "try_get on empty")?;
    for word in ["a", "b", "c"] {
        q.put(&word.to_string())?;
    }
    check(q.qsize() == 3, format!("qsize {}", q.qsize()))?;
    check(q.get()? == "a", "FIFO order")?;
    // The first get read every waiting item ahead; the rest still count as ready to wait().
    let ready = multiproc::wait(&[&q], Some(Duration::ZERO))?;
    check(ready == vec![0], "items read ahead make the queue ready")?;
    for word in ["b", "c"] {
        check(q.get()? == word, "FIFO order")?;
    }
    check(q.empty(), "empty again")?;
    check(
        multiproc::wait(&[&q], Some(Duration::from_millis(20)))?.is_empty(),
        "an empty queue is not ready",
    )?;
    let big = "x".repeat(300_000);
    let other = q.try_clone()?;
    let writer = std::thread::spawn(move || other.put(&big));
    let got = q.get()?;
    writer.join().unwrap()?;
    check(
        got.len() == 300_000,
        "an item over the pipe buffer, from another thread",
    )
}

fn get_timeout_on_empty_queue_times_out() -> Result<(), Failed> {
    let q: Queue<u64> = Queue::new()?;
    let _other = q.try_clone()?;
    let start = Instant::now();
    let err = q.get_timeout(Duration::from_millis(150)).unwrap_err();
    check(err.is_timeout(), format!("expected a timeout: {err}"))?;
    check(
        start.elapsed() >= Duration::from_millis(140),
        "waited the whole timeout",
    )
}

fn bounded_put_blocks_until_room() -> Result<(), Failed> {
    let q: Queue<u32> = Queue::bounded(2)?;
    let _other = q.try_clone()?;
    q.put(&1)?;
    q.put(&2)?;
    let err = q.put_timeout(&3, Duration::from_millis(100)).unwrap_err();
    check(err.is_timeout(), format!("full queue: {err}"))?;
    check(q.get()? == 1, "oldest first")?;
    q.put_timeout(&3, Duration::from_millis(100))?;
    check(q.get()? == 2 && q.get()? == 3, "then the rest")?;
    check(Queue::<u32>::bounded(0).is_err(), "a bound of 0 is refused")
}

#[derive(Serialize, Deserialize)]
struct Echo {
    tasks: Queue<u64>,
    results: Queue<u64>,
}

fn doubler(args: Echo) -> multiproc::Result<()> {
    loop {
        match args.tasks.get()? {
            0 => return Ok(()),
            n => args.results.put(&(2 * n))?,
        }
    }
}

fn items_cross_processes_both_ways() -> Result<(), Failed> {
    let tasks = Queue::new()?;
    let results = Queue::new()?;
    let mut p = Process::new(
        doubler,
        Echo {
            tasks: tasks.try_clone()?,
            results: results.try_clone()?,
        },
    );
    p.start()?;
    for n in 1..=100 {
        tasks.put(&n)?;
    }
    tasks.put(&0)?;
    let mut sum = 0;
    for _ in 0..100 {
        sum += results.get()?;
    }
    check(sum == 2 * 5050, format!("sum {sum}"))?;
    check(p.join()? == 0, "worker exits cleanly")
}

/// One stress item: who put it, its number, and a payload derived from both.
#[derive(Serialize, Deserialize)]
struct Item {
    producer: u8,
    seq: u32,
    payload: Vec<u8>,
}

const PRODUCERS: u8 = 4;
const CONSUMERS: usize = 4;
const PER_PRODUCER: u32 = 25_000;

fn payload_of(producer: u8, seq: u32) -> Vec<u8> {
    // Mostly small items; every 2500th is past the 64 KiB pipe buffer.
    let len = if seq % 2500 == 7 {
        70_000 + seq as usize % 1000
    } else {
        (seq % 50) as usize
    };
    (0..len)
        .map(|i| (i as u32 ^ seq ^ u32::from(producer)) as u8)
        .collect()
}

fn produce(args: (u8, Queue<Option<Item>>)) -> multiproc::Result<()> {
    let (producer, queue) = args;
    for seq in 0..PER_PRODUCER {
        queue.put(&Some(Item {
            producer,
            seq,
            payload: payload_of(producer, seq),
        }))?;
    }
    Ok(())
}

fn consume(args: (Queue<Option<Item>>, Connection)) -> multiproc::Result<()> {
    let (queue, mut report) = args;
    let mut seen: Vec<(u8, u32)> = Vec::new();
    let mut corrupt = 0u32;
    while let Some(item) = queue.get()? {
        if item.payload != payload_of(item.producer, item.seq) {
            corrupt += 1;
        }
        seen.push((item.producer, item.seq));
    }
    report.send(&(seen, corrupt))
}

fn stress_4_producers_4_consumers() -> Result<(), Failed> {
    let queue: Queue<Option<Item>> = Queue::new()?;
    let mut reports = Vec::new();
    let mut consumers = Vec::new();
    for _ in 0..CONSUMERS {
        let (here, there) = pipe()?;
        let mut c = Process::new(consume, (queue.try_clone()?, there));
        c.start()?;
        consumers.push(c);
        reports.push(here);
    }
    let mut producers = Vec::new();
    for producer in 0..PRODUCERS {
        let mut p = Process::new(produce, (producer, queue.try_clone()?));
        p.start()?;
        producers.push(p);
    }
    for p in &mut producers {
        check(
            p.join()? == 0,
            format!("producer failed: {:?}", p.failure()),
        )?;
    }
    for _ in 0..CONSUMERS {
        queue.put(&None)?;
    }
    let mut count: HashMap<(u8, u32), u32> = HashMap::new();
    for (c, report) in consumers.iter_mut().zip(reports.iter_mut()) {
        let (seen, corrupt): (Vec<(u8, u32)>, u32) = report.recv()?;
        check(corrupt == 0, format!("{corrupt} torn or mixed items"))?;
        let mut last: HashMap<u8, u32> = HashMap::new();
        for &(producer, seq) in &seen {
            if let Some(prev) = last.insert(producer, seq) {
                check(
                    seq > prev,
                    format!("producer {producer}: {seq} after {prev}"),
                )?;
            }
            *count.entry((producer, seq)).or_default() += 1;
        }
        check(c.join()? == 0, "consumer exits cleanly")?;
    }
    let total = u32::from(PRODUCERS) * PER_PRODUCER;
    check(
        count.len() == total as usize,
        format!("{} distinct items of {total}", count.len()),
    )?;
    check(count.values().all(|n| *n == 1), "every item exactly once")?;
    check(queue.empty(), "nothing left")
}

fn wait_for_one(queue: Queue<u32>) -> multiproc::Result<()> {
    queue.get().map(|_| ())
}

fn a_waiting_consumer_killed_harms_no_one() -> Result<(), Failed> {
    let queue: Queue<u32> = Queue::new()?;
    let mut c = Process::new(wait_for_one, queue.try_clone()?);
    c.start()?;
    std::thread::sleep(Duration::from_millis(200));
    c.kill()?;
    check(c.join()? == -9, "killed")?;
    let _other = queue.try_clone()?;
    queue.put(&5)?;
    check(
        queue.get_timeout(Duration::from_secs(5))? == 5,
        "the queue still works",
    )
}

fn get_ends_when_no_one_else_holds_the_queue() -> Result<(), Failed> {
    let queue: Queue<u32> = Queue::new()?;
    let mut p = Process::new(wait_for_one, queue.try_clone()?);
    p.start()?;
    queue.put(&1)?;
    check(p.join()? == 0, "the child took its item and left")?;
    let start = Instant::now();
    let err = queue.get().unwrap_err();
    check(err.is_closed(), format!("expected end of stream: {err}"))?;
    check(start.elapsed() < Duration::from_secs(5), "ended promptly")
}

fn put_huge(queue: Queue<Vec<u8>>) -> multiproc::Result<()> {
    queue.put(&vec![1u8; 32 << 20])
}

fn a_producer_killed_mid_item_breaks_the_queue_clearly() -> Result<(), Failed> {
    let queue: Queue<Vec<u8>> = Queue::new()?;
    let mut p = Process::new(put_huge, queue.try_clone()?);
    p.start()?;
    // Let it fill the pipe and block in the middle of its item.
    let started = multiproc::wait(&[&queue], Some(Duration::from_secs(10)))?;
    check(started == vec![0], "the producer started writing")?;
    std::thread::sleep(Duration::from_millis(50));
    p.kill()?;
    p.join()?;
    let err = queue.get_timeout(Duration::from_secs(10)).unwrap_err();
    check(
        err.to_string()
            .contains("died in the middle of putting an item"),
        format!("expected a broken-queue error, got: {err}"),
    )?;
    let again = queue.put(&vec![1]).unwrap_err();
    check(
        again.to_string().contains("broken"),
        "every later call says so",
    )
}

/// An item whose bytes say who made it: its sequence number, repeated.
fn numbered_item(seq: u32) -> Vec<u8> {
    let len = 5_000 + (seq as usize % 7) * 9_000;
    seq.to_le_bytes()
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

fn item_is_intact(item: &[u8]) -> bool {
    item.len() >= 4 && {
        let seq = u32::from_le_bytes(item[..4].try_into().unwrap());
        item == numbered_item(seq).as_slice()
    }
}

fn produce_forever(queue: Queue<ByteBuf>) -> multiproc::Result<()> {
    let mut seq = 0u32;
    loop {
        queue.put(&ByteBuf::from(numbered_item(seq)))?;
        seq = seq.wrapping_add(1);
    }
}

/// A producer of items larger than PIPE_BUF is killed at 40 moments spread over its writes:
/// wherever it dies, the consumer gets whole items, then end of stream or the broken-queue
/// error naming it, and never waits past its timeout.
fn a_producer_killed_anywhere_in_a_large_item_never_hangs_or_tears() -> Result<(), Failed> {
    let mut seed = 0x9e37_79b9_u32;
    for trial in 0..40 {
        let queue: Queue<ByteBuf> = Queue::new()?;
        let mut p = Process::new(produce_forever, queue.try_clone()?);
        p.start()?;
        let pid = p.pid().unwrap_or(0);
        // Kill it from another thread at a pseudo-random moment while this one keeps
        // taking items, so the producer is usually in the middle of a `write`.
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let after = Duration::from_micros(200 + u64::from(seed >> 20) % 3_000);
        let killer = std::thread::spawn(move || {
            std::thread::sleep(after);
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        });
        loop {
            let asked = Instant::now();
            match queue.get_timeout(Duration::from_secs(2)) {
                Ok(item) => check(item_is_intact(&item), format!("trial {trial}: torn item"))?,
                Err(e) if e.is_closed() => break,
                Err(e) if e.to_string().contains(&format!("(pid {pid}) died")) => break,
                Err(e) => return Err(format!("trial {trial}: unexpected error: {e}").into()),
            }
            check(
                asked.elapsed() < Duration::from_secs(3),
                format!("trial {trial}: get_timeout(2 s) took {:?}", asked.elapsed()),
            )?;
        }
        killer.join().expect("killer thread");
        check(
            p.join()? == -9,
            format!("trial {trial}: the producer was killed"),
        )?;
    }
    Ok(())
}

fn oversized_item_is_skipped_and_the_queue_goes_on() -> Result<(), Failed> {
    let mut small: Queue<Vec<u8>> = Queue::new()?;
    let big = small.try_clone()?;
    small.set_max_frame(1000);
    big.put(&vec![0u8; 5000])?;
    big.put(&vec![7u8; 10])?;
    let err = small.get().unwrap_err();
    check(err.is_too_large(), format!("{err}"))?;
    check(small.get()? == vec![7u8; 10], "the next item is intact")
}

#[cfg(feature = "fault-injection")]
fn put_and_die_at(args: (Queue<ByteBuf>, u8)) -> multiproc::Result<()> {
    use multiproc::fault::{FaultPoint, arm};
    let (queue, point) = args;
    arm(if point == 0 {
        FaultPoint::QueueItemMarked
    } else {
        FaultPoint::QueueItemWritten
    });
    queue.put(&ByteBuf::from(numbered_item(7)))
}

/// A producer dying at the other points of a put: marked but nothing written (the consumer
/// sees no item, and no part of one), or all written but the mark not cleared (the consumer
/// gets the whole item). Either way the next producer finds the queue broken, naming the dead
/// one; nobody ever gets a torn item or waits past a timeout.
#[cfg(feature = "fault-injection")]
fn a_producer_dying_before_or_after_its_bytes_never_tears_an_item() -> Result<(), Failed> {
    for point in [0u8, 1] {
        let queue: Queue<ByteBuf> = Queue::new()?;
        let mut p = Process::new(put_and_die_at, (queue.try_clone()?, point));
        p.start()?;
        let pid = p.pid().unwrap_or(0);
        check(p.join()? == -6, "the producer aborted at the fault point")?;
        let asked = Instant::now();
        match (point, queue.get_timeout(Duration::from_millis(500))) {
            // No item (and nobody left to put one: closed), or the break: never bytes.
            (0, Err(e)) => check(
                e.is_timeout() || e.is_closed() || e.is_broken(),
                format!("marked only: {e}"),
            )?,
            (1, Ok(item)) => check(
                item.as_slice() == numbered_item(7).as_slice(),
                "written: the whole item",
            )?,
            (_, other) => return Err(format!("point {point}: {other:?}").into()),
        }
        check(
            asked.elapsed() < Duration::from_secs(2),
            "no wait past the timeout",
        )?;
        let err = queue
            .put(&ByteBuf::from(vec![1u8; 10]))
            .expect_err("the next producer finds the queue broken");
        check(
            err.to_string().contains(&format!("(pid {pid})")),
            format!("names the dead producer: {err}"),
        )?;
    }
    Ok(())
}

#[cfg(feature = "fault-injection")]
fn put_big_and_die_after_its_first_bytes(queue: Queue<ByteBuf>) -> multiproc::Result<()> {
    multiproc::fault::arm(multiproc::fault::FaultPoint::QueueItemPartlyWritten);
    queue.put(&ByteBuf::from(numbered_item(6)))
}

/// The producer dies right after the first `write` of an item larger than PIPE_BUF (where a
/// SIGKILL during that `write` takes effect): the consumer gets the broken-queue error naming
/// it, within its timeout, never a hang and never part of the item.
#[cfg(feature = "fault-injection")]
fn a_producer_dying_after_the_first_bytes_of_an_item_breaks_the_queue() -> Result<(), Failed> {
    let queue: Queue<ByteBuf> = Queue::new()?;
    // Leave less room in the pipe than the item needs, so its first `write` is partial.
    let filler = ByteBuf::from(vec![0u8; 60_000]);
    queue.put(&filler)?;
    let mut p = Process::new(put_big_and_die_after_its_first_bytes, queue.try_clone()?);
    p.start()?;
    let pid = p.pid().unwrap_or(0);
    check(p.join()? == -6, "the producer aborted at the fault point")?;
    check(queue.get()? == filler, "the item before is intact")?;
    let asked = Instant::now();
    let err = queue.get_timeout(Duration::from_secs(2)).unwrap_err();
    check(
        err.to_string().contains(&format!(
            "producer (pid {pid}) died in the middle of putting an item"
        )),
        format!("expected the broken-queue error naming pid {pid}, got: {err}"),
    )?;
    check(
        asked.elapsed() < Duration::from_secs(3),
        "no wait past the timeout",
    )
}

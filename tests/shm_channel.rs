//! `ShmConnection` across real processes: messages of every size both ways, both ends sending
//! at once, a peer killed while writing and while reading, `poll` and `wait` with timeouts,
//! an idle reader that sleeps, and nothing left in `/dev/shm`.

mod common;

use std::time::{Duration, Instant};

use common::{Test, check, run_trials, wait_gone};
use libtest_mimic::Failed;
use multiproc::shm_channel::shm_pipe_with_ring;
use multiproc::{Process, ShmConnection, shm_pipe, wait};

fn main() {
    multiproc::init!(
        answers_after,
        both_send,
        echo,
        endless_writer,
        sends_three_then_ends,
        stops_reading
    );
    let tests: Vec<(&str, Test)> = vec![
        (
            "typed_values_and_bytes_of_every_size_both_ways",
            typed_values_and_bytes_of_every_size_both_ways,
        ),
        (
            "both_ends_send_large_messages_at_once_without_deadlock",
            both_ends_send_large_messages_at_once_without_deadlock,
        ),
        (
            "a_peer_killed_while_writing_is_an_error_never_a_torn_message",
            a_peer_killed_while_writing_is_an_error_never_a_torn_message,
        ),
        (
            "a_peer_killed_while_reading_fails_the_writer",
            a_peer_killed_while_reading_fails_the_writer,
        ),
        (
            "complete_messages_arrive_before_the_end_reads_as_closed",
            complete_messages_arrive_before_the_end_reads_as_closed,
        ),
        (
            "poll_and_wait_time_out_and_wake",
            poll_and_wait_time_out_and_wake,
        ),
        (
            "an_idle_reader_sleeps_instead_of_spinning",
            an_idle_reader_sleeps_instead_of_spinning,
        ),
        (
            "a_message_over_the_limit_is_refused_before_allocating",
            a_message_over_the_limit_is_refused_before_allocating,
        ),
        ("nothing_is_left_in_dev_shm", nothing_is_left_in_dev_shm),
    ];
    run_trials(tests, Duration::from_secs(60));
}

/// The sizes tried against a ring of `ring` bytes: empty, tiny, around the ring's size and
/// the header's, and several rings' worth.
fn sizes(ring: usize) -> Vec<usize> {
    vec![
        0,
        1,
        3,
        4,
        5,
        100,
        ring - 5,
        ring - 4,
        ring - 1,
        ring,
        ring + 1,
        2 * ring + 3,
        5 * ring + 17,
    ]
}

/// A payload whose every byte depends on its size and place, so a torn or shifted message
/// shows.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + len * 7) as u8).collect()
}

/// Echoes every message back as it came (bytes, then typed), until told to stop.
fn echo(mut end: ShmConnection) -> multiproc::Result<()> {
    loop {
        let bytes = end.recv_bytes()?;
        if bytes == b"stop" {
            return Ok(());
        }
        end.send_bytes(&bytes)?;
        let words: Vec<String> = end.recv()?;
        end.send(&words)?;
    }
}

fn typed_values_and_bytes_of_every_size_both_ways() -> Result<(), Failed> {
    let ring = 4096;
    let (mut here, there) = shm_pipe_with_ring(ring)?;
    let mut child = Process::new(echo, there);
    child.start()?;
    let mut into = vec![0u8; 6 * ring];
    for (round, len) in sizes(ring).into_iter().enumerate() {
        let sent = payload(len);
        here.send_bytes(&sent)?;
        // Alternately through recv_bytes and recv_bytes_into.
        let back = if round % 2 == 0 {
            here.recv_bytes()?
        } else {
            let n = here.recv_bytes_into(&mut into)?;
            into[..n].to_vec()
        };
        check(back == sent, format!("{len} bytes came back changed"))?;
        let words: Vec<String> = (0..len / 8).map(|i| format!("w{i}")).collect();
        here.send(&words)?;
        let typed: Vec<String> = here.recv()?;
        check(
            typed == words,
            format!("{} words came back changed", words.len()),
        )?;
    }
    here.send_bytes(b"stop")?;
    check(child.join()? == 0, "the echo ended well")?;
    let stats = here.stats();
    check(
        stats.messages_sent == stats.messages_received + 1,
        format!("{stats:?}"),
    )
}

/// Sends `count` messages of `len` bytes and receives as many, from its own thread's point of
/// view: both ends do this at once.
fn send_then_receive(end: &mut ShmConnection, count: usize, len: usize) -> Result<(), String> {
    for i in 0..count {
        let mut message = payload(len);
        message[0] = i as u8;
        end.send_bytes(&message).map_err(|e| e.to_string())?;
    }
    for i in 0..count {
        let got = end.recv_bytes().map_err(|e| e.to_string())?;
        let mut expected = payload(len);
        expected[0] = i as u8;
        if got != expected {
            return Err(format!("message {i} came back changed"));
        }
    }
    Ok(())
}

fn both_send((mut end, count, len): (ShmConnection, usize, usize)) -> Result<(), String> {
    send_then_receive(&mut end, count, len)
}

fn both_ends_send_large_messages_at_once_without_deadlock() -> Result<(), Failed> {
    // Each side sends several rings' worth before reading anything: with nothing taken aside,
    // both would wait for room for ever.
    let ring = 4096;
    let (mut here, there) = shm_pipe_with_ring(ring)?;
    let (count, len) = (6, 3 * ring + 11);
    let mut child = Process::new(both_send, (there, count, len));
    child.start()?;
    send_then_receive(&mut here, count, len)?;
    check(child.join()? == 0, "the other side got everything too")
}

/// Sends one message far larger than the ring, slowly enough to be killed in the middle.
fn endless_writer(mut end: ShmConnection) -> multiproc::Result<()> {
    let big = vec![7u8; 64 << 20];
    end.send_bytes(b"a first, whole message")?;
    end.send_bytes(&big)?;
    Ok(())
}

fn a_peer_killed_while_writing_is_an_error_never_a_torn_message() -> Result<(), Failed> {
    let (mut here, there) = shm_pipe_with_ring(64 * 1024)?;
    let mut child = Process::new(endless_writer, there);
    child.start()?;
    check(
        here.recv_bytes()? == b"a first, whole message",
        "the whole message before",
    )?;
    // The writer fills the ring with the start of the big one and waits for room: once the
    // big one's header is in (a poll says a message begins), it is in the middle of it; kill
    // it there. (A fixed sleep instead lost the race on a loaded machine: the writer had not
    // begun, and its death was rightly a clean end.)
    check(
        here.poll(Some(Duration::from_secs(10)))?,
        "the big message begins",
    )?;
    let pid = child.pid().ok_or("a pid")?;
    child.kill()?;
    let started = Instant::now();
    let got = here.recv_bytes();
    check(
        started.elapsed() < Duration::from_secs(5),
        "noticed at once, not after a timeout",
    )?;
    match got {
        Ok(bytes) => Err(format!("a torn message of {} bytes was returned", bytes.len()).into()),
        Err(e) => check(
            !e.is_closed() && e.to_string().contains(&format!("pid {pid}")),
            format!("an error naming the writer: {e}"),
        ),
    }?;
    check(child.join()? == -9, "killed")?;
    check(
        wait_gone(&[pid], Duration::from_secs(5)).is_empty(),
        "reaped",
    )
}

/// Receives one message, then sleeps until killed, never reading again.
fn stops_reading(mut end: ShmConnection) -> multiproc::Result<()> {
    let _: u32 = end.recv()?;
    std::thread::sleep(Duration::from_secs(60));
    Ok(())
}

fn a_peer_killed_while_reading_fails_the_writer() -> Result<(), Failed> {
    let (mut here, there) = shm_pipe_with_ring(4096)?;
    let mut child = Process::new(stops_reading, there);
    child.start()?;
    here.send(&1u32)?;
    let pid = child.pid().ok_or("a pid")?;
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    });
    // Fills the ring, then waits for room that never comes: the reader's death ends it.
    let started = Instant::now();
    let sent = here.send_bytes(&payload(1 << 20));
    killer.join().map_err(|_| "killer thread")?;
    check(
        started.elapsed() < Duration::from_secs(5),
        "noticed at once",
    )?;
    match sent {
        Ok(()) => Err("a send into a dead reader succeeded".into()),
        Err(e) => check(
            e.to_string().contains(&format!("pid {pid}")),
            format!("names the reader: {e}"),
        ),
    }?;
    check(child.join()? == -9, "killed")
}

fn sends_three_then_ends(mut end: ShmConnection) -> multiproc::Result<()> {
    for i in 0..3u64 {
        end.send(&i)?;
    }
    Ok(())
}

fn complete_messages_arrive_before_the_end_reads_as_closed() -> Result<(), Failed> {
    let (mut here, there) = shm_pipe()?;
    let mut child = Process::new(sends_three_then_ends, there);
    child.start()?;
    check(child.join()? == 0, "the sender ended")?;
    for i in 0..3u64 {
        check(here.recv::<u64>()? == i, "in order, whole")?;
    }
    match here.recv::<u64>() {
        Err(e) if e.is_closed() => {}
        other => return Err(format!("expected the end of the channel, got {other:?}").into()),
    }
    // A send to an end that is gone fails too.
    match here.send(&1u8) {
        Err(e) if e.is_closed() => Ok(()),
        other => Err(format!("a send to a closed end gave {other:?}").into()),
    }
}

fn answers_after((mut end, ms): (ShmConnection, u64)) -> multiproc::Result<()> {
    std::thread::sleep(Duration::from_millis(ms));
    end.send(&"late")?;
    let _: u8 = end.recv()?;
    Ok(())
}

fn poll_and_wait_time_out_and_wake() -> Result<(), Failed> {
    let (mut here, there) = shm_pipe()?;
    let mut child = Process::new(answers_after, (there, 300));
    child.start()?;
    let started = Instant::now();
    check(
        !here.poll(Some(Duration::from_millis(50)))?,
        "nothing yet: poll times out",
    )?;
    check(
        // At least the time asked; the upper bound only says it did not hang (a loaded
        // machine may be late to wake it, so it is not a measure of precision).
        started.elapsed() >= Duration::from_millis(50)
            && started.elapsed() < Duration::from_secs(5),
        format!("poll waited {:?} for 50 ms", started.elapsed()),
    )?;
    let ready = wait(&[&here, &child], Some(Duration::from_millis(50)))?;
    check(ready.is_empty(), format!("wait times out too: {ready:?}"))?;
    let ready = wait(&[&here, &child], Some(Duration::from_secs(10)))?;
    check(
        ready == vec![0],
        format!("the channel wakes wait: {ready:?}"),
    )?;
    check(here.recv::<String>()? == "late", "the message")?;
    here.send(&1u8)?;
    let ready = wait(&[&here, &child], Some(Duration::from_secs(10)))?;
    // The child's end of the channel closes as it exits, a moment before the kernel reports
    // the exit itself: either may wake the wait first.
    if !ready.contains(&1) {
        check(ready == vec![0], format!("the channel's end: {ready:?}"))?;
        let end = here.recv::<u8>();
        check(
            end.as_ref().is_err_and(|e| e.is_closed()),
            format!("reads as closed: {end:?}"),
        )?;
        let ready = wait(&[&child], Some(Duration::from_secs(10)))?;
        check(
            ready == vec![0],
            format!("then the process ends: {ready:?}"),
        )?;
    }
    check(child.join()? == 0, "ended well")
}

/// CPU seconds (user and system) this process has used.
fn cpu_seconds() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    let u = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 * 1e-6;
    t(u.user_time()) + t(u.system_time())
}

fn an_idle_reader_sleeps_instead_of_spinning() -> Result<(), Failed> {
    let (mut here, there) = shm_pipe()?;
    let mut child = Process::new(answers_after, (there, 1000));
    child.start()?;
    let before = cpu_seconds();
    let started = Instant::now();
    check(here.recv::<String>()? == "late", "the message")?;
    let waited = started.elapsed().as_secs_f64();
    let used = cpu_seconds() - before;
    check(waited >= 0.9, format!("waited {waited:.3} s"))?;
    check(
        used < 0.1 * waited,
        format!("the reader used {used:.3} s of CPU over a {waited:.3} s wait"),
    )?;
    here.send(&1u8)?;
    check(child.join()? == 0, "ended well")
}

fn a_message_over_the_limit_is_refused_before_allocating() -> Result<(), Failed> {
    let (mut a, mut b) = shm_pipe()?;
    b.set_max_frame(1000);
    a.send_bytes(&payload(2000))?;
    match b.recv_bytes() {
        Err(e) => check(
            e.to_string().contains("2000"),
            format!("names the size: {e}"),
        ),
        Ok(_) => Err("a message over the limit was accepted".into()),
    }?;
    a.set_max_frame(10);
    match a.send_bytes(&payload(11)) {
        Err(e) => check(e.to_string().contains("11"), format!("{e}")),
        Ok(()) => Err("a send over the sender's limit".into()),
    }
}

fn nothing_is_left_in_dev_shm() -> Result<(), Failed> {
    let before: Vec<_> = std::fs::read_dir("/dev/shm")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    let (mut here, there) = shm_pipe()?;
    let mut child = Process::new(echo, there);
    child.start()?;
    here.send_bytes(b"hello")?;
    check(here.recv_bytes()? == b"hello", "echo")?;
    here.send(&vec!["x".to_string()])?;
    let _: Vec<String> = here.recv()?;
    here.send_bytes(b"stop")?;
    child.join()?;
    drop(here);
    let after: Vec<_> = std::fs::read_dir("/dev/shm")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    let new: Vec<_> = after.iter().filter(|f| !before.contains(f)).collect();
    check(new.is_empty(), format!("left in /dev/shm: {new:?}"))
}

//! The measured runs: producer, consumer and echo children over each transport, timed by the
//! master from the moment every child is ready.

use std::os::fd::BorrowedFd;
use std::time::Instant;

use multiproc::{Connection, Process, Queue, ShmConnection, pipe, pipe_oneway, shm_pipe};
use nix::errno::Errno;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::{Error, Pattern, Record, Result, Transport};

multiproc::targets!(pub(super) static TARGETS = [throughput_child, echo_child]);

/// An error of a raw `read` or `write`, in the language chosen.
fn os_error(e: Errno) -> Error {
    crate::lang::os_error(&std::io::Error::from(e)).into()
}

/// `write(2)` of every byte, retried on `EINTR`: the raw pipe baseline.
fn raw_write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> Result<()> {
    while !buf.is_empty() {
        match nix::unistd::write(fd, buf) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(os_error(e)),
            Ok(n) => buf = &buf[n..],
        }
    }
    Ok(())
}

/// `read(2)`, retried on `EINTR`; 0 at end of stream.
fn raw_read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize> {
    loop {
        match nix::unistd::read(fd, buf) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(os_error(e)),
            Ok(n) => return Ok(n),
        }
    }
}

/// The best the OS offers a plain loop: a pipe grown to hold a large message (up to Linux's
/// default `pipe-max-size`, 1 MiB), as a careful C program would with `F_SETPIPE_SZ`, by the
/// same rule our `Connection` follows for a message of this size (with its 4-byte header).
fn grow_raw_pipe(tx: &Connection, size: usize) {
    const DEFAULT: usize = 64 * 1024;
    const MAX: usize = 1 << 20;
    if size + 4 > DEFAULT
        && let Some(fd) = tx.writer_fd()
    {
        let want = (size + 4).next_power_of_two().min(MAX) as i32;
        let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(want));
    }
}

/// The end of a data channel a child gets.
#[derive(Serialize, Deserialize)]
enum DataEnd {
    /// A pipe end used with plain `read`/`write`.
    Raw(Connection),
    /// A pipe end used with typed messages.
    Typed(Connection),
    /// A pipe end used with `send_bytes` / `recv_bytes_into`.
    Bytes(Connection),
    /// The shared queue; `None` is "no more".
    Queue(Queue<Option<ByteBuf>>),
    /// A shared-memory channel end used with `send_bytes` / `recv_bytes_into`.
    Shm(ShmConnection),
}

/// Child ↔ master control messages.
#[derive(Serialize, Deserialize, Debug)]
enum Control {
    Ready,
    Go,
    Done { received: u64 },
}

#[derive(Serialize, Deserialize)]
struct ChildArgs {
    producer: bool,
    data: DataEnd,
    control: Connection,
    size: usize,
    messages: u64,
}

fn expect_go(control: &mut Connection) -> Result<()> {
    control.send(&Control::Ready)?;
    match control.recv::<Control>()? {
        Control::Go => Ok(()),
        other => Err(Error::from(format!("expected Go, got {other:?}"))),
    }
}

/// A throughput child: a producer sends `messages` payloads, a consumer takes them.
fn throughput_child(args: ChildArgs) -> Result<()> {
    let ChildArgs {
        producer,
        data,
        mut control,
        size,
        messages,
    } = args;
    let payload = ByteBuf::from(vec![0xA5u8; size]);
    let received = match (producer, data) {
        (true, DataEnd::Raw(conn)) => {
            expect_go(&mut control)?;
            let fd = conn
                .writer_fd()
                .ok_or_else(|| Error::from("no write end"))?;
            for _ in 0..messages {
                raw_write_all(fd, &payload)?;
            }
            0
        }
        (true, DataEnd::Typed(mut conn)) => {
            expect_go(&mut control)?;
            for _ in 0..messages {
                conn.send(&payload)?;
            }
            0
        }
        (true, DataEnd::Bytes(mut conn)) => {
            expect_go(&mut control)?;
            for _ in 0..messages {
                conn.send_bytes(&payload)?;
            }
            0
        }
        (true, DataEnd::Shm(mut end)) => {
            expect_go(&mut control)?;
            for _ in 0..messages {
                end.send_bytes(&payload)?;
            }
            0
        }
        (true, DataEnd::Queue(queue)) => {
            expect_go(&mut control)?;
            let item = Some(payload);
            for _ in 0..messages {
                queue.put(&item)?;
            }
            0
        }
        (false, DataEnd::Raw(conn)) => {
            control.send(&Control::Ready)?;
            let fd = conn.reader_fd().ok_or_else(|| Error::from("no read end"))?;
            // A receiver of messages has each one whole in its own memory, as `recv_bytes`
            // gives it: every message is read into a new message-sized buffer. (Pouring the
            // bytes through a small scratch buffer that stays in cache, as this baseline once
            // did, is no receiver at all, and made it look twice as fast at 1 MiB.)
            let mut received = 0;
            'messages: for _ in 0..messages {
                let mut buf = vec![0u8; size];
                let mut have = 0;
                while have < size {
                    let n = raw_read(fd, &mut buf[have..])?;
                    if n == 0 {
                        break 'messages;
                    }
                    have += n;
                }
                std::hint::black_box(&buf);
                received += 1;
            }
            received
        }
        (false, DataEnd::Typed(mut conn)) => {
            control.send(&Control::Ready)?;
            for _ in 0..messages {
                let _: ByteBuf = conn.recv()?;
            }
            messages
        }
        (false, DataEnd::Bytes(mut conn)) => {
            control.send(&Control::Ready)?;
            for _ in 0..messages {
                std::hint::black_box(conn.recv_bytes()?);
            }
            messages
        }
        (false, DataEnd::Shm(mut end)) => {
            control.send(&Control::Ready)?;
            let mut buf = vec![0u8; size];
            for _ in 0..messages {
                std::hint::black_box(end.recv_bytes_into(&mut buf)?);
            }
            messages
        }
        (false, DataEnd::Queue(queue)) => {
            control.send(&Control::Ready)?;
            let mut n = 0;
            while queue.get()?.is_some() {
                n += 1;
            }
            n
        }
    };
    Ok(control.send(&Control::Done { received })?)
}

/// How many messages of `size` bytes one producer sends: about 64 MiB, between 50 and 200 000
/// messages, then scaled by `scale`.
pub fn messages_for(size: usize, scale: f64) -> u64 {
    let base = ((64u64 << 20) / size.max(1) as u64).clamp(50, 200_000);
    ((base as f64 * scale).round() as u64).max(1)
}

/// Measures one throughput point.
pub fn throughput(
    transport: Transport,
    pattern: Pattern,
    size: usize,
    messages: u64,
) -> Result<Record> {
    if transport != Transport::Queue && pattern.producers != pattern.consumers {
        return Err(Error::from(
            rust_i18n::t!("benchinput.pairs", transport = transport, pattern = pattern)
                .into_owned(),
        ));
    }
    let mut children: Vec<Process> = Vec::new();
    let mut consumer_controls: Vec<Connection> = Vec::new();
    let mut producer_controls: Vec<Connection> = Vec::new();
    let queue: Option<Queue<Option<ByteBuf>>> = match transport {
        Transport::Queue => Some(Queue::new()?),
        _ => None,
    };
    let mut producer_ends = Vec::new();
    for i in 0..pattern.consumers {
        let (data_for_consumer, data_for_producer) = match transport {
            Transport::RawPipe => {
                let (rx, tx) = pipe_oneway()?;
                grow_raw_pipe(&tx, size);
                (DataEnd::Raw(rx), Some(DataEnd::Raw(tx)))
            }
            Transport::Pipe => {
                let (rx, tx) = pipe_oneway()?;
                (DataEnd::Typed(rx), Some(DataEnd::Typed(tx)))
            }
            Transport::PipeBytes => {
                let (rx, tx) = pipe_oneway()?;
                (DataEnd::Bytes(rx), Some(DataEnd::Bytes(tx)))
            }
            Transport::Queue => (
                DataEnd::Queue(queue.as_ref().expect("queue").try_clone()?),
                None,
            ),
            Transport::Shm => {
                let (rx, tx) = shm_pipe()?;
                (DataEnd::Shm(rx), Some(DataEnd::Shm(tx)))
            }
        };
        producer_ends.extend(data_for_producer);
        let (mine, theirs) = pipe()?;
        let mut p = Process::new(
            throughput_child,
            ChildArgs {
                producer: false,
                data: data_for_consumer,
                control: theirs,
                size,
                messages,
            },
        )
        .with_name(format!("consumer-{i}"));
        p.start()?;
        children.push(p);
        consumer_controls.push(mine);
    }
    for i in 0..pattern.producers {
        let data = match transport {
            Transport::Queue => DataEnd::Queue(queue.as_ref().expect("queue").try_clone()?),
            _ => producer_ends.remove(0),
        };
        let (mine, theirs) = pipe()?;
        let mut p = Process::new(
            throughput_child,
            ChildArgs {
                producer: true,
                data,
                control: theirs,
                size,
                messages,
            },
        )
        .with_name(format!("producer-{i}"));
        p.start()?;
        children.push(p);
        producer_controls.push(mine);
    }
    for c in consumer_controls
        .iter_mut()
        .chain(producer_controls.iter_mut())
    {
        match c.recv::<Control>()? {
            Control::Ready => {}
            other => return Err(Error::from(format!("expected Ready, got {other:?}"))),
        }
    }
    let clock = Instant::now();
    for c in &mut producer_controls {
        c.send(&Control::Go)?;
    }
    if let Some(q) = &queue {
        for c in &mut producer_controls {
            c.recv::<Control>()?;
        }
        for _ in 0..pattern.consumers {
            q.put(&None)?;
        }
    }
    let mut received = 0;
    for c in &mut consumer_controls {
        if let Control::Done { received: n } = c.recv::<Control>()? {
            received += n;
        }
    }
    let seconds = clock.elapsed().as_secs_f64();
    for c in &mut producer_controls {
        if queue.is_none() {
            c.recv::<Control>()?;
        }
    }
    for p in &mut children {
        let code = p.join()?;
        if code != 0 {
            return Err(super::child_failed(p.name(), code, p.failure()));
        }
    }
    let total = messages * pattern.producers as u64;
    if received != total {
        return Err(Error::from(
            rust_i18n::t!(
                "bench.messages_lost",
                transport = transport,
                pattern = pattern,
                received = received,
                total = total
            )
            .into_owned(),
        ));
    }
    Ok(Record::Throughput {
        transport,
        pattern: pattern.to_string(),
        payload_bytes: size,
        messages: total,
        seconds,
        messages_per_second: total as f64 / seconds,
        bytes_per_second: (total * size as u64) as f64 / seconds,
        ratio_to_raw: None,
    })
}

#[derive(Serialize, Deserialize)]
enum EchoEnd {
    Raw(Connection),
    Typed(Connection),
    Bytes(Connection),
    Queues(Queue<ByteBuf>, Queue<ByteBuf>),
    Shm(ShmConnection),
}

#[derive(Serialize, Deserialize)]
struct EchoArgs {
    end: EchoEnd,
    size: usize,
    rounds: u64,
}

/// The far side of a round trip: sends back what it gets, `rounds` times.
fn echo_child(args: EchoArgs) -> Result<()> {
    match args.end {
        EchoEnd::Raw(conn) => {
            let (r, w) = (
                conn.reader_fd().ok_or_else(|| Error::from("no read end"))?,
                conn.writer_fd()
                    .ok_or_else(|| Error::from("no write end"))?,
            );
            let mut buf = vec![0u8; args.size];
            for _ in 0..args.rounds {
                read_exact(r, &mut buf)?;
                raw_write_all(w, &buf)?;
            }
        }
        EchoEnd::Typed(mut conn) => {
            for _ in 0..args.rounds {
                let b: ByteBuf = conn.recv()?;
                conn.send(&b)?;
            }
        }
        EchoEnd::Bytes(mut conn) => {
            let mut buf = vec![0u8; args.size];
            for _ in 0..args.rounds {
                let n = conn.recv_bytes_into(&mut buf)?;
                conn.send_bytes(&buf[..n])?;
            }
        }
        EchoEnd::Shm(mut end) => {
            let mut buf = vec![0u8; args.size];
            for _ in 0..args.rounds {
                let n = end.recv_bytes_into(&mut buf)?;
                end.send_bytes(&buf[..n])?;
            }
        }
        EchoEnd::Queues(inbox, outbox) => {
            for _ in 0..args.rounds {
                let b = inbox.get()?;
                outbox.put(&b)?;
            }
        }
    }
    Ok(())
}

fn read_exact(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<()> {
    let mut got = 0;
    while got < buf.len() {
        let n = raw_read(fd, &mut buf[got..])?;
        if n == 0 {
            return Err(rust_i18n::t!("runtime.closed").into_owned().into());
        }
        got += n;
    }
    Ok(())
}

/// Measures the mean round trip of `size` bytes over `transport`, `rounds` times.
pub fn ping_pong(transport: Transport, size: usize, rounds: u64) -> Result<Record> {
    let payload = ByteBuf::from(vec![0x5Au8; size]);
    let mut shm = None;
    let (mut mine, theirs, queues) = match transport {
        Transport::RawPipe => {
            let (a, b) = pipe()?;
            (Some(a), EchoEnd::Raw(b), None)
        }
        Transport::Pipe => {
            let (a, b) = pipe()?;
            (Some(a), EchoEnd::Typed(b), None)
        }
        Transport::PipeBytes => {
            let (a, b) = pipe()?;
            (Some(a), EchoEnd::Bytes(b), None)
        }
        Transport::Queue => {
            let to_child: Queue<ByteBuf> = Queue::new()?;
            let to_master: Queue<ByteBuf> = Queue::new()?;
            let end = EchoEnd::Queues(to_child.try_clone()?, to_master.try_clone()?);
            (None, end, Some((to_child, to_master)))
        }
        Transport::Shm => {
            let (a, b) = shm_pipe()?;
            shm = Some(a);
            (None, EchoEnd::Shm(b), None)
        }
    };
    let mut p = Process::new(
        echo_child,
        EchoArgs {
            end: theirs,
            size,
            rounds: rounds + 1,
        },
    )
    .with_name("echo");
    p.start()?;
    let mut buf = vec![0u8; size];
    let mut round = |conn: &mut Option<Connection>| -> Result<()> {
        match (transport, conn.as_mut(), &queues) {
            (Transport::RawPipe, Some(c), _) => {
                let w = c.writer_fd().ok_or_else(|| Error::from("no write end"))?;
                raw_write_all(w, &payload)?;
                let r = c.reader_fd().ok_or_else(|| Error::from("no read end"))?;
                read_exact(r, &mut buf)
            }
            (Transport::Pipe, Some(c), _) => {
                c.send(&payload)?;
                Ok(c.recv::<ByteBuf>().map(drop)?)
            }
            (Transport::PipeBytes, Some(c), _) => {
                c.send_bytes(&payload)?;
                Ok(c.recv_bytes_into(&mut buf).map(drop)?)
            }
            (Transport::Shm, _, _) => {
                let end = shm.as_mut().ok_or_else(|| Error::from("no shm end"))?;
                end.send_bytes(&payload)?;
                Ok(end.recv_bytes_into(&mut buf).map(drop)?)
            }
            (_, _, Some((to_child, to_master))) => {
                to_child.put(&payload)?;
                Ok(to_master.get().map(drop)?)
            }
            _ => Err(Error::from("mismatched echo ends")),
        }
    };
    // One round trip before the clock starts, so the child is surely running.
    round(&mut mine)?;
    let clock = Instant::now();
    for _ in 0..rounds {
        round(&mut mine)?;
    }
    let seconds = clock.elapsed().as_secs_f64();
    let code = p.join()?;
    if code != 0 {
        return Err(super::child_failed(p.name(), code, p.failure()));
    }
    Ok(Record::PingPong {
        transport,
        pattern: "ping-pong",
        payload_bytes: size,
        round_trips: rounds,
        round_trip_us: seconds * 1e6 / rounds as f64,
        ratio_to_raw: None,
    })
}

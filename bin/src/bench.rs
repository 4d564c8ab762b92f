//! The measurements behind `ipc-bench`: how fast `Pipe` and `Queue` move data between
//! processes, against the raw operating-system pipe measured in the same run.
//!
//! - **Throughput**: `N` producer processes send `messages` payloads of `size` bytes each to
//!   `M` consumer processes (pattern `NxM`). For `raw-pipe` and `pipe`, producer `i` talks to
//!   consumer `i` over a pipe of its own (so `N = M`); for `queue`, all of them share one queue.
//!   The clock runs in the master from the moment every child is ready and told to go, to the
//!   moment every consumer has received everything.
//! - **Round trip** (`ping-pong`): the master sends a payload to one child, which sends it back,
//!   many times; the mean round-trip time is reported.
//!
//! `raw-pipe` is the baseline: plain `write` of the payload bytes, one call per message, and
//! plain `read`s into a 64 KiB buffer on the other side; no framing, no encoding. `pipe` sends
//! the payload as a typed message over a [`Connection`]; `queue` puts it on a [`Queue`].

use std::fmt;
use std::io::{self, Write};
use std::os::fd::BorrowedFd;
use std::time::Instant;

use multiproc::{Connection, Process, Queue, pipe, pipe_oneway};
use nix::errno::Errno;
use plotters::prelude::{IntoLogRange, RGBColor};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::plot::{Axes, COLORS, Series, draw_svg};

/// What a measurement fails with: the runtime's error, or a message.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `write(2)` of every byte, retried on `EINTR`: the raw pipe baseline.
fn raw_write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> Result<()> {
    while !buf.is_empty() {
        match nix::unistd::write(fd, buf) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(format!("write: {e}").into()),
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
            Err(e) => return Err(format!("read: {e}").into()),
            Ok(n) => return Ok(n),
        }
    }
}

/// What carries the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transport {
    /// Plain `read`/`write` on an anonymous pipe.
    #[serde(rename = "raw-pipe")]
    RawPipe,
    /// [`multiproc::pipe`] connections.
    #[serde(rename = "pipe")]
    Pipe,
    /// A [`Queue`].
    #[serde(rename = "queue")]
    Queue,
}

impl Transport {
    /// Every transport, baseline first.
    pub const ALL: [Transport; 3] = [Transport::RawPipe, Transport::Pipe, Transport::Queue];

    /// Parses `raw-pipe`, `pipe` or `queue`.
    pub fn parse(text: &str) -> std::result::Result<Transport, String> {
        match text.trim() {
            "raw-pipe" | "raw" => Ok(Transport::RawPipe),
            "pipe" => Ok(Transport::Pipe),
            "queue" => Ok(Transport::Queue),
            other => Err(format!(
                "unknown transport `{other}` (expected raw-pipe, pipe or queue)"
            )),
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::RawPipe => "raw-pipe",
            Transport::Pipe => "pipe",
            Transport::Queue => "queue",
        })
    }
}

/// `N` producers and `M` consumers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// Producer processes.
    pub producers: usize,
    /// Consumer processes.
    pub consumers: usize,
}

impl Pattern {
    /// Parses `NxM`, both from 1 to 64.
    pub fn parse(text: &str) -> std::result::Result<Pattern, String> {
        let bad = || format!("`{text}` is not a pattern like 1x1 or 4x4");
        let (n, m) = text.trim().split_once(['x', 'X']).ok_or_else(bad)?;
        let n: usize = n.parse().map_err(|_| bad())?;
        let m: usize = m.parse().map_err(|_| bad())?;
        if !(1..=64).contains(&n) || !(1..=64).contains(&m) {
            return Err(format!("`{text}`: producers and consumers must be 1 to 64"));
        }
        Ok(Pattern {
            producers: n,
            consumers: m,
        })
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.producers, self.consumers)
    }
}

/// One measured point, as `ipc-bench --json` prints it.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Record {
    /// A throughput measurement.
    Throughput {
        /// `raw-pipe`, `pipe` or `queue`.
        transport: Transport,
        /// `NxM`.
        pattern: String,
        /// Bytes per message.
        payload_bytes: usize,
        /// Messages moved in all.
        messages: u64,
        /// Seconds they took.
        seconds: f64,
        /// `messages / seconds`.
        messages_per_second: f64,
        /// Payload bytes per second.
        bytes_per_second: f64,
        /// `bytes_per_second` over the raw pipe's for the same pattern and payload.
        ratio_to_raw: Option<f64>,
    },
    /// A round-trip measurement.
    PingPong {
        /// `raw-pipe`, `pipe` or `queue`.
        transport: Transport,
        /// Always `ping-pong`.
        pattern: &'static str,
        /// Bytes each way.
        payload_bytes: usize,
        /// Round trips made.
        round_trips: u64,
        /// Mean microseconds per round trip.
        round_trip_us: f64,
        /// `round_trip_us` over the raw pipe's.
        ratio_to_raw: Option<f64>,
    },
}

/// The end of a data channel a child gets.
#[derive(Serialize, Deserialize)]
enum DataEnd {
    /// A pipe end used with plain `read`/`write`.
    Raw(Connection),
    /// A pipe end used with typed messages.
    Typed(Connection),
    /// The shared queue; `None` is "no more".
    Queue(Queue<Option<ByteBuf>>),
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
            let want = messages * size as u64;
            let mut got = 0u64;
            let mut buf = vec![0u8; 64 * 1024];
            while got < want {
                let n = raw_read(fd, &mut buf)?;
                if n == 0 {
                    break;
                }
                got += n as u64;
            }
            got / size as u64
        }
        (false, DataEnd::Typed(mut conn)) => {
            control.send(&Control::Ready)?;
            for _ in 0..messages {
                let _: ByteBuf = conn.recv()?;
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
        return Err(Error::from(format!(
            "{transport} pairs each producer with one consumer: pattern {pattern} needs N = M"
        )));
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
                (DataEnd::Raw(rx), Some(DataEnd::Raw(tx)))
            }
            Transport::Pipe => {
                let (rx, tx) = pipe_oneway()?;
                (DataEnd::Typed(rx), Some(DataEnd::Typed(tx)))
            }
            Transport::Queue => (
                DataEnd::Queue(queue.as_ref().expect("queue").try_clone()?),
                None,
            ),
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
            return Err(Error::from(format!(
                "{} exited with {code}: {:?}",
                p.name(),
                p.failure()
            )));
        }
    }
    let total = messages * pattern.producers as u64;
    if received != total {
        return Err(Error::from(format!(
            "{transport} {pattern}: {received} of {total} messages arrived"
        )));
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
    Queues(Queue<ByteBuf>, Queue<ByteBuf>),
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
            return Err("the other end closed".into());
        }
        got += n;
    }
    Ok(())
}

/// Measures the mean round trip of `size` bytes over `transport`, `rounds` times.
pub fn ping_pong(transport: Transport, size: usize, rounds: u64) -> Result<Record> {
    let payload = ByteBuf::from(vec![0x5Au8; size]);
    let (mut mine, theirs, queues) = match transport {
        Transport::RawPipe => {
            let (a, b) = pipe()?;
            (Some(a), EchoEnd::Raw(b), None)
        }
        Transport::Pipe => {
            let (a, b) = pipe()?;
            (Some(a), EchoEnd::Typed(b), None)
        }
        Transport::Queue => {
            let to_child: Queue<ByteBuf> = Queue::new()?;
            let to_master: Queue<ByteBuf> = Queue::new()?;
            let end = EchoEnd::Queues(to_child.try_clone()?, to_master.try_clone()?);
            (None, end, Some((to_child, to_master)))
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
        return Err(Error::from(format!(
            "echo exited with {code}: {:?}",
            p.failure()
        )));
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

/// Fills in every record's ratio to the raw pipe's record of the same pattern and payload.
pub fn add_ratios(records: &mut [Record]) {
    let baseline: Vec<(String, usize, f64)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Throughput {
                transport: Transport::RawPipe,
                pattern,
                payload_bytes,
                bytes_per_second,
                ..
            } => Some((pattern.clone(), *payload_bytes, *bytes_per_second)),
            Record::PingPong {
                transport: Transport::RawPipe,
                payload_bytes,
                round_trip_us,
                ..
            } => Some(("ping-pong".to_string(), *payload_bytes, *round_trip_us)),
            _ => None,
        })
        .collect();
    for r in records.iter_mut() {
        match r {
            Record::Throughput {
                pattern,
                payload_bytes,
                bytes_per_second,
                ratio_to_raw,
                ..
            } => {
                *ratio_to_raw = baseline
                    .iter()
                    .find(|(p, s, _)| p == pattern && s == payload_bytes)
                    .map(|(_, _, raw)| *bytes_per_second / raw);
            }
            Record::PingPong {
                payload_bytes,
                round_trip_us,
                ratio_to_raw,
                ..
            } => {
                *ratio_to_raw = baseline
                    .iter()
                    .find(|(p, s, _)| p == "ping-pong" && s == payload_bytes)
                    .map(|(_, _, raw)| *round_trip_us / raw);
            }
        }
    }
}

fn human_bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

/// Writes the records as two tables: throughput, then round trips.
pub fn write_table(out: &mut dyn Write, records: &[Record]) -> io::Result<()> {
    writeln!(
        out,
        "throughput between processes (ratio: bytes per second over the raw pipe's, same pattern and payload)"
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "  {:<9} {:>7} {:>8} {:>9} {:>8} {:>12} {:>10} {:>7}",
        "transport", "pattern", "payload", "messages", "seconds", "messages/s", "MB/s", "vs raw"
    )?;
    for r in records {
        if let Record::Throughput {
            transport,
            pattern,
            payload_bytes,
            messages,
            seconds,
            messages_per_second,
            bytes_per_second,
            ratio_to_raw,
        } = r
        {
            writeln!(
                out,
                "  {:<9} {:>7} {:>8} {:>9} {:>8.3} {:>12.0} {:>10.1} {:>7}",
                transport.to_string(),
                pattern,
                human_bytes(*payload_bytes),
                messages,
                seconds,
                messages_per_second,
                bytes_per_second / 1e6,
                ratio_to_raw.map_or("-".into(), |x| format!("{x:.2}"))
            )?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "round trip, master <-> one child (ratio: time over the raw pipe's)"
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "  {:<9} {:>8} {:>12} {:>14} {:>7}",
        "transport", "payload", "round trips", "round trip us", "vs raw"
    )?;
    for r in records {
        if let Record::PingPong {
            transport,
            payload_bytes,
            round_trips,
            round_trip_us,
            ratio_to_raw,
            ..
        } = r
        {
            writeln!(
                out,
                "  {:<9} {:>8} {:>12} {:>14.2} {:>7}",
                transport.to_string(),
                human_bytes(*payload_bytes),
                round_trips,
                round_trip_us,
                ratio_to_raw.map_or("-".into(), |x| format!("{x:.2}"))
            )?;
        }
    }
    Ok(())
}

/// Draws throughput against payload size per transport (pattern 1x1) as an SVG.
pub fn plot_svg(records: &[Record]) -> Result<String, String> {
    let mut series: Vec<(Transport, Vec<(f64, f64)>)> = Vec::new();
    for r in records {
        if let Record::Throughput {
            transport,
            pattern,
            payload_bytes,
            bytes_per_second,
            ..
        } = r
            && pattern == "1x1"
        {
            let point = (*payload_bytes as f64, bytes_per_second / 1e6);
            match series.iter_mut().find(|(t, _)| t == transport) {
                Some((_, points)) => points.push(point),
                None => series.push((*transport, vec![point])),
            }
        }
    }
    let all = series.iter().flat_map(|(_, p)| p.iter());
    let (min_x, max_x, max_y) = all.fold((f64::MAX, 1.0f64, 1.0f64), |(a, b, c), (x, y)| {
        (a.min(*x), b.max(*x), c.max(*y))
    });
    let min_x = if min_x == f64::MAX { 1.0 } else { min_x };
    let colors: [RGBColor; 3] = [COLORS[0], COLORS[1], COLORS[2]];
    let drawn: Vec<Series<'_>> = series
        .iter()
        .enumerate()
        .map(|(i, (transport, points))| Series {
            label: transport.to_string(),
            points,
            color: colors[i % colors.len()],
            width: 4,
            markers: true,
        })
        .collect();
    let axes = Axes {
        x_desc: "payload bytes per message",
        y_desc: "MB/s",
        x_labels: 10,
        x_format: &|x| format!("{x:.0}"),
        y_format: &|y| format!("{y}"),
    };
    draw_svg(
        "throughput between two processes (1 producer, 1 consumer)",
        (min_x / 1.5..max_x * 1.5).log_scale(),
        (0.1f64..max_y * 2.0).log_scale(),
        &axes,
        &drawn,
    )
}

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
//! the payload as a typed message over a [`multiproc::Connection`]; `pipe-bytes` sends it
//! with `send_bytes` (header and bytes in one `writev`) and receives it with
//! `recv_bytes_into`; `queue` puts it on a [`multiproc::Queue`]; `shm` sends it with
//! `send_bytes` over a [`multiproc::ShmConnection`] and receives it with `recv_bytes_into`
//! into a buffer kept from message to message, as an MPI receiver does.

pub mod pool;
mod runs;
pub mod sync;

multiproc::targets!(
    /// What the benchmarks' children run.
    pub static TARGETS = [..pool::TARGETS, ..runs::TARGETS, ..sync::TARGETS]
);

use std::fmt;
use std::io::{self, Write};

use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::IntoLogRange;
use serde::{Deserialize, Serialize};

pub use runs::{messages_for, ping_pong, throughput};

use crate::plot::{Axes, COLORS, Format, Series, draw};

/// What a measurement fails with: the runtime's error, or a message.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A benchmark's child process that ended badly, named, in the language chosen.
fn child_failed(name: &str, code: i32, failure: Option<&multiproc::Failure>) -> Error {
    rust_i18n::t!(
        "bench.child_failed",
        name = name,
        how = crate::lang::describe_exit(code, failure)
    )
    .into_owned()
    .into()
}
/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What carries the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transport {
    /// Plain `read`/`write` on an anonymous pipe.
    #[serde(rename = "raw-pipe")]
    RawPipe,
    /// [`multiproc::pipe`] connections.
    #[serde(rename = "pipe")]
    Pipe,
    /// [`multiproc::Connection::send_bytes`] / `recv_bytes_into`: bytes without the codec.
    #[serde(rename = "pipe-bytes")]
    PipeBytes,
    /// A [`multiproc::Queue`].
    #[serde(rename = "queue")]
    Queue,
    /// A [`multiproc::ShmConnection`] (`send_bytes` / `recv_bytes_into`): bytes through a ring
    /// of shared memory.
    #[serde(rename = "shm")]
    Shm,
}

impl Transport {
    /// Every transport, baseline first.
    pub const ALL: [Transport; 5] = [
        Transport::RawPipe,
        Transport::Pipe,
        Transport::PipeBytes,
        Transport::Queue,
        Transport::Shm,
    ];

    /// Parses `raw-pipe`, `pipe`, `pipe-bytes` or `queue`.
    pub fn parse(text: &str) -> std::result::Result<Transport, String> {
        match text.trim() {
            "raw-pipe" | "raw" => Ok(Transport::RawPipe),
            "pipe" => Ok(Transport::Pipe),
            "pipe-bytes" => Ok(Transport::PipeBytes),
            "queue" => Ok(Transport::Queue),
            "shm" => Ok(Transport::Shm),
            other => Err(rust_i18n::t!("benchinput.transport", text = other).into_owned()),
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::RawPipe => "raw-pipe",
            Transport::Pipe => "pipe",
            Transport::PipeBytes => "pipe-bytes",
            Transport::Queue => "queue",
            Transport::Shm => "shm",
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
        let bad = || rust_i18n::t!("benchinput.pattern", text = text).into_owned();
        let (n, m) = text.trim().split_once(['x', 'X']).ok_or_else(bad)?;
        let n: usize = n.parse().map_err(|_| bad())?;
        let m: usize = m.parse().map_err(|_| bad())?;
        if !(1..=64).contains(&n) || !(1..=64).contains(&m) {
            return Err(rust_i18n::t!("benchinput.pattern_range", text = text).into_owned());
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
    use rust_i18n::t;
    writeln!(out, "{}", t!("bench.throughput"))?;
    writeln!(out, "{}", t!("bench.throughput_how"))?;
    writeln!(out)?;
    writeln!(
        out,
        "  {:<10} {:>7} {:>8} {:>9} {:>8} {:>11} {:>10} {:>7}",
        t!("bench.col_transport"),
        t!("bench.col_pattern"),
        t!("bench.col_payload"),
        t!("bench.col_messages"),
        t!("bench.col_seconds"),
        t!("bench.col_rate"),
        "MB/s",
        t!("bench.col_vs_raw")
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
                "  {:<10} {:>7} {:>8} {:>9} {:>8.3} {:>11.0} {:>10.1} {:>7}",
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
    writeln!(out, "{}", t!("bench.round_trip"))?;
    writeln!(out)?;
    writeln!(
        out,
        "  {:<10} {:>8} {:>13} {:>14} {:>8}",
        t!("bench.col_transport"),
        t!("bench.col_payload"),
        t!("bench.col_round_trips"),
        t!("bench.col_round_trip"),
        t!("bench.col_vs_raw")
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
                "  {:<10} {:>8} {:>13} {:>14.2} {:>8}",
                transport.to_string(),
                human_bytes(*payload_bytes),
                round_trips,
                round_trip_us,
                ratio_to_raw.map_or("-".into(), |x| format!("{x:.2}"))
            )?;
        }
    }
    if let Some(note) = crate::text::debug_build_note(&rust_i18n::t!("report.debug_bench")) {
        writeln!(out, "\n({note})")?;
    }
    Ok(())
}

/// `{m} B/s`, `{m} KiB/s`, `{m} MiB/s` or `{m} GiB/s` for a rate of `bytes` per second.
fn human_rate(bytes: f64) -> String {
    let units = ["B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    let digits = if value < 10.0 && value.fract() > 1e-9 {
        1
    } else {
        0
    };
    format!("{value:.digits$} {}", units[unit])
}

/// Ticks for a logarithmic axis over `[low, high]`: 1, 2 and 5 times each power of ten of
/// every binary unit (B, KiB, MiB, GiB), the ones inside the range.
fn rate_ticks(low: f64, high: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    for unit in [
        1.0,
        1024.0,
        1024.0f64.powi(2),
        1024.0f64.powi(3),
        1024.0f64.powi(4),
    ] {
        for decade in [1.0, 10.0, 100.0] {
            for m in [1.0, 2.0, 5.0] {
                let t = unit * decade * m;
                if t >= low && t <= high && !ticks.contains(&t) {
                    ticks.push(t);
                }
            }
        }
    }
    ticks.sort_by(f64::total_cmp);
    ticks
}

/// Draws throughput against payload size per transport (pattern 1x1) in `format`: payload
/// sizes labelled as measured (8 B ... 4 MiB), rates in binary units.
pub fn plot(records: &[Record], format: Format) -> Result<Vec<u8>, String> {
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
            let point = (*payload_bytes as f64, *bytes_per_second);
            match series.iter_mut().find(|(t, _)| t == transport) {
                Some((_, points)) => points.push(point),
                None => series.push((*transport, vec![point])),
            }
        }
    }
    let all: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let sizes: Vec<f64> = {
        let mut sizes: Vec<f64> = all.iter().map(|p| p.0).collect();
        sizes.sort_by(f64::total_cmp);
        sizes.dedup();
        sizes
    };
    let (min_x, max_x) = match (sizes.first(), sizes.last()) {
        (Some(&a), Some(&b)) => (a, b),
        _ => (1.0, 1024.0),
    };
    let max_y = all.iter().map(|p| p.1).fold(1024.0, f64::max);
    let min_y = all.iter().map(|p| p.1).fold(max_y, f64::min);
    let (low, high) = (min_y / 2.0, max_y * 2.0);
    let drawn: Vec<Series<'_>> = series
        .iter()
        .enumerate()
        .map(|(i, (transport, points))| Series {
            label: transport.to_string(),
            points,
            color: COLORS[i % COLORS.len()],
            width: 4,
            markers: true,
            dashed: false,
        })
        .collect();
    let axes = Axes {
        x_desc: &rust_i18n::t!("bench.plot_x"),
        y_desc: &rust_i18n::t!("bench.plot_y"),
        x_labels: sizes.len(),
        y_labels: 20,
        x_format: &|x| human_bytes(*x as usize),
        y_format: &|y| human_rate(*y),
    };
    draw(
        format,
        &rust_i18n::t!("bench.plot_title"),
        (min_x / 1.5..max_x * 1.5)
            .log_scale()
            .with_key_points(sizes.clone()),
        (low..high)
            .log_scale()
            .with_key_points(rate_ticks(low, high)),
        &axes,
        &drawn,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_in_binary_units() {
        assert_eq!(human_rate(512.0), "512 B/s");
        assert_eq!(human_rate(5.0 * 1024.0 * 1024.0), "5 MiB/s");
        assert_eq!(human_rate(4.5 * 1024.0 * 1024.0 * 1024.0), "4.5 GiB/s");
    }

    #[test]
    fn rate_ticks_cover_the_data_in_order() {
        let (low, high) = (3e6, 9e9);
        let ticks = rate_ticks(low, high);
        assert!(ticks.windows(2).all(|w| w[0] < w[1]), "{ticks:?}");
        assert!(ticks.iter().all(|t| (low..=high).contains(t)), "{ticks:?}");
        // Labels up to the top of the data: 5 GiB/s is below 9e9 bytes/s.
        assert_eq!(human_rate(*ticks.last().unwrap()), "5 GiB/s");
        assert_eq!(human_rate(ticks[0]), "5 MiB/s");
    }
}

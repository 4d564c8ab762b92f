//! `ipc-bench`: throughput and round-trip time of `Pipe` and `Queue` between processes, with
//! the raw operating-system pipe measured in the same run as the baseline.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use multiproc::ipc_bench::{self, Pattern, Record, Transport};

/// Throughput and latency of Pipe and Queue between processes, against the raw pipe.
///
/// Every figure is also given as a ratio to the raw pipe (plain read/write of the same bytes,
/// no framing) measured in the same run, for the same pattern and payload. Each point is
/// measured `--repeat` times, the transports taking turns, and the median is reported.
#[derive(Parser, Debug)]
#[command(name = "ipc-bench", version, about, long_about)]
struct Cli {
    /// Payload sizes, as a list: 8,64,4K,1M (K = 1024, M = 1024²; at most 64M)
    #[arg(long, value_name = "LIST", default_value = "8,64,512,4K,64K,1M,4M", value_parser = parse_sizes)]
    sizes: Sizes,

    /// Producer x consumer patterns, as a list like 1x1,2x2 (raw-pipe and pipe need N = M)
    #[arg(long, value_name = "LIST", default_value = "1x1,2x2", value_parser = parse_patterns)]
    patterns: Patterns,

    /// Transports to measure besides the raw pipe, which is always measured as the baseline
    #[arg(long, value_name = "LIST", default_value = "pipe,queue", value_parser = parse_transports)]
    transports: Transports,

    /// Scale the number of messages per point (1 = about 64 MiB or 200 000 messages)
    #[arg(long, value_name = "X", default_value = "1", value_parser = parse_scale)]
    scale: f64,

    /// Round trips per ping-pong measurement
    #[arg(long, value_name = "N", default_value = "10000", value_parser = parse_rounds)]
    rounds: u64,

    /// Measurements of every point, taking turns between transports; the median is kept
    #[arg(long, value_name = "N", default_value = "3", value_parser = parse_repeat)]
    repeat: usize,

    /// Print one JSON list of records on stdout instead of the tables
    #[arg(long)]
    json: bool,

    /// Also draw throughput against payload size per transport (pattern 1x1) into this SVG
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

#[derive(Clone, Debug)]
struct Sizes(Vec<usize>);
#[derive(Clone, Debug)]
struct Patterns(Vec<Pattern>);
#[derive(Clone, Debug)]
struct Transports(Vec<Transport>);

fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => (&t[..at], &t[at..]),
        None => (t, ""),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size like 8, 4K or 1M"))?;
    let scale = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1024,
        "M" | "MB" | "MIB" => 1024 * 1024,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (use K or M)")),
    };
    let size = n
        .checked_mul(scale)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if size == 0 {
        return Err(format!("`{text}`: a payload of 0 bytes measures nothing"));
    }
    if size > 64 << 20 {
        return Err(format!("`{text}` is over the 64M limit"));
    }
    Ok(size)
}

fn list<T>(text: &str, parse: fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    text.split(',')
        .enumerate()
        .map(|(i, item)| {
            if item.trim().is_empty() {
                Err(format!("item {} of `{text}` is empty", i + 1))
            } else {
                parse(item)
            }
        })
        .collect()
}

fn parse_sizes(text: &str) -> Result<Sizes, String> {
    list(text, parse_size).map(Sizes)
}

fn parse_patterns(text: &str) -> Result<Patterns, String> {
    list(text, Pattern::parse).map(Patterns)
}

fn parse_transports(text: &str) -> Result<Transports, String> {
    list(text, Transport::parse).map(Transports)
}

fn parse_scale(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 100.0 => Ok(x),
        _ => Err(format!("`{text}` is not a scale between 0 and 100")),
    }
}

fn parse_rounds(text: &str) -> Result<u64, String> {
    let n = multiproc::pi::input::parse_count(text)?;
    if n > 10_000_000 {
        return Err(format!(
            "{n} round trips would take too long (at most 10000000)"
        ));
    }
    Ok(n)
}

fn parse_repeat(text: &str) -> Result<usize, String> {
    let n = multiproc::pi::input::parse_count(text)?;
    if n > 99 {
        return Err(format!("{n} repetitions would take too long (at most 99)"));
    }
    Ok(n as usize)
}

/// The record with the median of `key` among `runs`.
fn median_by(mut runs: Vec<Record>, key: fn(&Record) -> f64) -> Record {
    runs.sort_by(|a, b| key(a).total_cmp(&key(b)));
    runs.swap_remove(runs.len() / 2)
}

fn throughput_of(r: &Record) -> f64 {
    match r {
        Record::Throughput {
            bytes_per_second, ..
        } => *bytes_per_second,
        Record::PingPong { round_trip_us, .. } => *round_trip_us,
    }
}

fn main() -> ExitCode {
    // A re-executed copy of this program becomes a producer, consumer or echo here.
    multiproc::init();
    let cli = Cli::parse();
    if let Some(path) = &cli.plot
        && let Err(e) = File::create(path)
    {
        let _ = writeln!(
            io::stderr(),
            "ipc-bench: error: cannot write the plot to {}: {e}",
            path.display()
        );
        return ExitCode::from(2);
    }
    let mut transports = vec![Transport::RawPipe];
    transports.extend(
        cli.transports
            .0
            .iter()
            .filter(|t| **t != Transport::RawPipe),
    );
    let mut records = Vec::new();
    for pattern in &cli.patterns.0 {
        for &size in &cli.sizes.0 {
            let here: Vec<Transport> = transports
                .iter()
                .copied()
                .filter(|t| *t == Transport::Queue || pattern.producers == pattern.consumers)
                .collect();
            let mut runs: Vec<Vec<Record>> = vec![Vec::new(); here.len()];
            // Take turns, so a slow moment of the machine hits every transport alike.
            for _ in 0..cli.repeat {
                for (i, &transport) in here.iter().enumerate() {
                    let messages = ipc_bench::messages_for(size, cli.scale);
                    match ipc_bench::throughput(transport, *pattern, size, messages) {
                        Ok(r) => runs[i].push(r),
                        Err(e) => return failed(&e, &cli.plot),
                    }
                }
            }
            records.extend(runs.into_iter().map(|r| median_by(r, throughput_of)));
        }
    }
    let mut runs: Vec<Vec<Record>> = vec![Vec::new(); transports.len()];
    for _ in 0..cli.repeat {
        for (i, &transport) in transports.iter().enumerate() {
            match ipc_bench::ping_pong(transport, 8, cli.rounds) {
                Ok(r) => runs[i].push(r),
                Err(e) => return failed(&e, &cli.plot),
            }
        }
    }
    records.extend(runs.into_iter().map(|r| median_by(r, throughput_of)));
    ipc_bench::add_ratios(&mut records);
    if let Some(path) = &cli.plot
        && let Err(e) = plot(path, &records)
    {
        let _ = std::fs::remove_file(path);
        let _ = writeln!(io::stderr(), "ipc-bench: error: {e}");
        return ExitCode::FAILURE;
    }
    let mut out = io::stdout().lock();
    let written = if cli.json {
        serde_json::to_writer(&mut out, &records)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        table(&mut out, &records)
    };
    match written.and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            let _ = writeln!(io::stderr(), "ipc-bench: cannot write the results: {e}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}

fn failed(e: &multiproc::Error, plot: &Option<PathBuf>) -> ExitCode {
    // The plot file was created to check it could be; nothing will go in it now.
    if let Some(path) = plot {
        let _ = std::fs::remove_file(path);
    }
    let _ = writeln!(io::stderr(), "ipc-bench: error: {e}");
    ExitCode::FAILURE
}

fn human_bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

fn table(out: &mut dyn Write, records: &[Record]) -> io::Result<()> {
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

fn plot(path: &Path, records: &[Record]) -> Result<(), String> {
    use plotters::prelude::*;
    let fail = |e: &dyn std::fmt::Display| format!("cannot draw {}: {e}", path.display());
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
    let root = SVGBackend::new(path, (1280, 720)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "throughput between two processes (1 producer, 1 consumer)",
            ("sans-serif", 34),
        )
        .margin(30)
        .x_label_area_size(70)
        .y_label_area_size(100)
        .build_cartesian_2d(
            (min_x / 1.5..max_x * 1.5).log_scale(),
            (0.1f64..max_y * 2.0).log_scale(),
        )
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("payload bytes per message")
        .y_desc("MB/s")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .label_style(("sans-serif", 22))
        .axis_desc_style(("sans-serif", 28))
        .draw()
        .map_err(|e| fail(&e))?;
    let colors = [RGBColor(120, 120, 120), BLUE, RED];
    for (i, (transport, points)) in series.iter().enumerate() {
        let color = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(4)))
            .map_err(|e| fail(&e))?
            .label(transport.to_string())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 30, y)], color.stroke_width(4))
            });
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 7, color.filled())))
            .map_err(|e| fail(&e))?;
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 26))
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))
}

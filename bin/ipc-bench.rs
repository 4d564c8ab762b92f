//! `ipc-bench`: throughput and round-trip time of `Pipe` and `Queue` between processes, with
//! the raw operating-system pipe measured in the same run as the baseline.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};
use multiproc_apps::bench::{self as ipc_bench, Pattern, Record, Transport};
use multiproc_apps::lang;
use multiproc_apps::output::print_result;
use multiproc_apps::plot::PlotFile;
use multiproc_apps::stats::median_by;
use multiproc_apps::tr as t;
use multiproc_pi::input::{parse_count, parse_list};

/// Throughput and latency of Pipe and Queue between processes, against the raw pipe.
///
/// Every figure is also given as a ratio to the raw pipe (plain write of each message, plain
/// reads of it whole into a message-sized buffer, no framing) measured in the same run, for the
/// same pattern and payload. Each point is
/// measured `--repeat` times, the transports taking turns, and the median is reported.
#[derive(Parser, Debug)]
#[command(
    name = "ipc-bench",
    version,
    about,
    long_about,
    // Help fits a projector's 80-column terminal (narrower terminals wrap it narrower).
    max_term_width = 80,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Payload sizes, as a list: 8,64,4K,1M (K = 1024, M = 1024²; at most 64M)
    #[arg(long, value_name = "LIST", default_value = "8,64,512,4K,64K,1M,4M", value_parser = parse_sizes)]
    sizes: Sizes,

    /// Producer x consumer patterns, as a list like 1x1,2x2 (raw-pipe and pipe need N = M)
    #[arg(long, value_name = "LIST", default_value = "1x1,2x2", value_parser = parse_patterns)]
    patterns: Patterns,

    /// Transports to measure besides the raw pipe, which is always measured as the baseline
    #[arg(long, value_name = "LIST", default_value = "pipe,pipe-bytes,queue,shm", value_parser = parse_transports)]
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

    /// Language of what is printed for people: pt or en [default: from LC_ALL, LC_MESSAGES
    /// or LANG]
    #[arg(long, value_name = "LANG", global = true)]
    lang: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// What the synchronisation primitives cost between processes: an uncontended Lock, two
    /// processes adding to a Value under its lock, a Barrier round, an Event round trip
    Sync(SyncArgs),
    /// What a Pool costs: map of a million tiny tasks, imap_unordered with chunk size 1,
    /// apply one task at a time, Pool(8) started, used and joined
    Pool(SyncArgs),
}

#[derive(clap::Args, Debug)]
struct SyncArgs {
    /// Measurements of every primitive, taking turns; the median is kept
    #[arg(long, value_name = "N", default_value = "5", value_parser = parse_repeat)]
    repeat: usize,

    /// Scale the work of each measurement (1 = about a second for all four)
    #[arg(long, value_name = "X", default_value = "1", value_parser = parse_scale)]
    scale: f64,

    /// Print one JSON list of records on stdout instead of the table
    #[arg(long)]
    json: bool,
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
        .map_err(|_| t!("benchinput.size", text = text).into_owned())?;
    let scale = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1024,
        "M" | "MB" | "MIB" => 1024 * 1024,
        _ => return Err(t!("benchinput.unit", text = text, unit = unit).into_owned()),
    };
    let size = n
        .checked_mul(scale)
        .ok_or_else(|| t!("benchinput.too_large", text = text).into_owned())?;
    if size == 0 {
        return Err(t!("benchinput.zero", text = text).into_owned());
    }
    if size > 64 << 20 {
        return Err(t!("benchinput.over_limit", text = text).into_owned());
    }
    Ok(size)
}

fn parse_sizes(text: &str) -> Result<Sizes, String> {
    parse_list(text, parse_size)
        .map(Sizes)
        .map_err(|e| lang::input_error(&e))
}

fn parse_patterns(text: &str) -> Result<Patterns, String> {
    parse_list(text, Pattern::parse)
        .map(Patterns)
        .map_err(|e| lang::input_error(&e))
}

fn parse_transports(text: &str) -> Result<Transports, String> {
    parse_list(text, Transport::parse)
        .map(Transports)
        .map_err(|e| lang::input_error(&e))
}

fn parse_scale(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 100.0 => Ok(x),
        _ => Err(t!("benchinput.scale", text = text).into_owned()),
    }
}

fn parse_rounds(text: &str) -> Result<u64, String> {
    let n = parse_count(text).map_err(|e| lang::input_error(&e))?;
    if n > 10_000_000 {
        return Err(t!("benchinput.rounds", n = n).into_owned());
    }
    Ok(n)
}

fn parse_repeat(text: &str) -> Result<usize, String> {
    multiproc_pi::input::parse_repeat(text).map_err(|e| lang::input_error(&e))
}

fn throughput_of(r: &Record) -> f64 {
    match r {
        Record::Throughput {
            bytes_per_second, ..
        } => *bytes_per_second,
        Record::PingPong { round_trip_us, .. } => *round_trip_us,
    }
}

/// The command line's definition with its help in the language chosen.
fn localized_command() -> clap::Command {
    let help = |key: &'static str| move |a: clap::Arg| a.help(t!(key).into_owned());
    let sub = |key: &'static str| {
        move |cmd: clap::Command| {
            cmd.about(t!(key).into_owned())
                .mut_arg("repeat", help("help.bench_sync_repeat"))
                .mut_arg("scale", help("help.bench_sync_scale"))
                .mut_arg("json", help("help.bench_sync_json"))
        }
    };
    let cmd = Cli::command()
        .about(t!("help.bench_about").into_owned())
        .long_about(t!("help.bench_long").into_owned())
        .mut_arg("sizes", help("help.bench_sizes"))
        .mut_arg("patterns", help("help.bench_patterns"))
        .mut_arg("transports", help("help.bench_transports"))
        .mut_arg("scale", help("help.bench_scale"))
        .mut_arg("rounds", help("help.bench_rounds"))
        .mut_arg("repeat", help("help.bench_repeat"))
        .mut_arg("json", help("help.bench_json"))
        .mut_arg("plot", help("help.bench_plot"))
        .mut_arg("lang", help("help.lang"))
        .mut_subcommand("sync", sub("help.bench_sync"))
        .mut_subcommand("pool", sub("help.bench_pool"));
    lang::localize_help(cmd)
}

fn main() -> ExitCode {
    // A re-executed copy of this program becomes a producer, consumer or echo here.
    // The environment's language before anything else: a worker's own words (a target's
    // error) follow it too.
    lang::set_from_environment();
    multiproc::init(&multiproc_apps::TARGETS);
    // The language first, so that --help and every message come in it.
    let matches = lang::command_line("ipc-bench", localized_command);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Some(Command::Pool(args)) = &cli.command {
        return match ipc_bench::pool::measure(args.repeat, args.scale) {
            Ok(records) => print_result("ipc-bench", args.json, &records, |out| {
                ipc_bench::pool::write_table(out, &records)
            }),
            Err(e) => failed(&e),
        };
    }
    if let Some(Command::Sync(args)) = &cli.command {
        return match ipc_bench::sync::measure(args.repeat, args.scale) {
            Ok(records) => print_result("ipc-bench", args.json, &records, |out| {
                ipc_bench::sync::write_table(out, &records)
            }),
            Err(e) => failed(&e),
        };
    }
    // Fail on an unwritable plot path before measuring; touch nothing yet.
    let plot = match cli.plot.as_deref().map(PlotFile::check).transpose() {
        Ok(plot) => plot,
        Err(e) => {
            say_error(&e);
            return ExitCode::from(2);
        }
    };
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
                        Err(e) => return failed(&e),
                    }
                }
            }
            records.extend(runs.into_iter().filter_map(|r| median_by(r, throughput_of)));
        }
    }
    let mut runs: Vec<Vec<Record>> = vec![Vec::new(); transports.len()];
    for _ in 0..cli.repeat {
        for (i, &transport) in transports.iter().enumerate() {
            match ipc_bench::ping_pong(transport, 8, cli.rounds) {
                Ok(r) => runs[i].push(r),
                Err(e) => return failed(&e),
            }
        }
    }
    records.extend(runs.into_iter().filter_map(|r| median_by(r, throughput_of)));
    ipc_bench::add_ratios(&mut records);
    if let Some(plot) = &plot
        && let Err(e) =
            ipc_bench::plot(&records, plot.format()).and_then(|bytes| plot.write(&bytes))
    {
        say_error(&e);
        return ExitCode::FAILURE;
    }
    print_result("ipc-bench", cli.json, &records, |out| {
        ipc_bench::write_table(out, &records)
    })
}

fn failed(e: &ipc_bench::Error) -> ExitCode {
    match e.downcast_ref::<multiproc::Error>() {
        Some(e) => say_error(&multiproc_apps::lang::runtime_error(e)),
        None => say_error(e),
    }
    ExitCode::FAILURE
}

/// Says an error on stderr, after the program's name and the word for it.
fn say_error(e: &dyn std::fmt::Display) {
    let _ = writeln!(io::stderr(), "ipc-bench: {}: {e}", t!("error.prefix"));
}

//! `pi-master`: pi by the midpoint rule, computed by worker processes that talk to their
//! master over pipes. See `pi-master --help` and the README.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use multiproc::pi::input::{parse_procs, parse_steps};
use multiproc::pi::master::{self, Config, Ipc, RunError};
use multiproc::pi::report;

/// Pi = ∫₀¹ 4/(1+x²) dx by the midpoint rule, split over worker processes.
///
/// The master starts N copies of itself as worker processes (separate memory, separate pids),
/// sends each a range of indices over its own pipe, and adds up the partial sums they send back.
#[derive(Parser, Debug)]
#[command(name = "pi-master", version, about, long_about)]
struct Cli {
    /// Worker processes to start, 1 to 1024 [default: the CPUs this process may use]
    #[arg(long, value_name = "N", value_parser = parse_procs, allow_negative_numbers = true)]
    procs: Option<usize>,

    /// Midpoint-rule steps, 1 to 2^52; `1e8` and `100_000_000` are accepted
    #[arg(
        long,
        value_name = "N",
        default_value = "100000000",
        value_parser = parse_steps,
        allow_negative_numbers = true
    )]
    steps: u64,

    /// How ranges and partial sums travel between master and workers
    #[arg(long, value_enum, default_value_t = IpcArg::Pipe)]
    ipc: IpcArg,

    /// Print one JSON object on stdout instead of the report
    #[arg(long)]
    json: bool,

    /// Narrate each step of the process lifecycle on stderr as it happens
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum IpcArg {
    /// One duplex pipe between the master and each worker
    Pipe,
}

fn main() -> ExitCode {
    // A re-executed copy of this program becomes a worker here and never returns.
    multiproc::init();
    let cli = Cli::parse();
    let config = Config {
        procs: cli.procs.unwrap_or_else(multiproc::cpu_count),
        steps: cli.steps,
        ipc: match cli.ipc {
            IpcArg::Pipe => Ipc::Pipe,
        },
    };
    let verbose = cli.verbose;
    let started = std::time::Instant::now();
    let mut observe = |event: &master::Event| {
        if verbose {
            // Narration is best effort: a closed stderr must not stop the computation.
            let _ = writeln!(
                io::stderr(),
                "{}",
                report::narrate(event, started.elapsed())
            );
        }
    };
    match master::run(&config, &mut observe) {
        Ok(run) => {
            let mut stdout = io::stdout().lock();
            let written = if cli.json {
                report::write_json(&mut stdout, &run)
            } else {
                report::write_human(&mut stdout, &run)
            };
            match written.and_then(|()| stdout.flush()) {
                // Piping into `head` is not an error.
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                    let _ = writeln!(io::stderr(), "pi-master: cannot write the report: {e}");
                    ExitCode::FAILURE
                }
                _ => ExitCode::SUCCESS,
            }
        }
        Err(RunError::Interrupted { signal }) => {
            let _ = writeln!(
                io::stderr(),
                "pi-master: {}",
                RunError::Interrupted { signal }
            );
            ExitCode::from((128 + signal) as u8)
        }
        Err(e) => {
            let _ = writeln!(io::stderr(), "pi-master: error: {e}");
            ExitCode::FAILURE
        }
    }
}

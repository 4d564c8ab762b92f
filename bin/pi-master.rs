//! `pi-master`: pi by the midpoint rule, computed by worker processes that talk to their
//! master over pipes. See `pi-master --help` and the README.

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::PossibleValue;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use multiproc_apps::console::Console;
use multiproc_apps::master::{self, Config, Ipc, Plan, RunError};
use multiproc_apps::output::print_result;
use multiproc_apps::plot::PlotFile;
use multiproc_apps::stderr;
use multiproc_apps::tr as t;
use multiproc_apps::{compare, lang, report, sweep, timeline};
use multiproc_pi::input::{self, InputError};

/// The parsers of `multiproc_pi::input`, their refusals said in the language chosen.
fn said<T>(parse: fn(&str) -> Result<T, InputError>) -> impl Fn(&str) -> Result<T, String> + Clone {
    move |text| parse(text).map_err(|e| lang::input_error(&e))
}

fn parse_procs(text: &str) -> Result<usize, String> {
    said(input::parse_procs)(text)
}

fn parse_steps(text: &str) -> Result<u64, String> {
    said(input::parse_steps)(text)
}

fn parse_count(text: &str) -> Result<u64, String> {
    said(input::parse_count)(text)
}

fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    said(input::parse_seconds)(text)
}

fn parse_retries(text: &str) -> Result<u32, String> {
    said(input::parse_retries)(text)
}

fn parse_repeat(text: &str) -> Result<usize, String> {
    said(input::parse_repeat)(text)
}

/// Pi = ∫₀¹ 4/(1+x²) dx by the midpoint rule, split over worker processes.
///
/// The master starts N copies of itself as worker processes (separate memory, separate pids),
/// sends each a range of indices over its own pipe (or, with `--ipc queue`, hands out chunks
/// through a shared task queue), and adds up the partial sums they send back.
#[derive(Parser, Debug)]
#[command(
    name = "pi-master",
    version,
    about,
    long_about,
    // Help fits a projector's 80-column terminal (narrower terminals wrap it narrower).
    max_term_width = 80,
    args_conflicts_with_subcommands = true,
    after_long_help = "Exit status: 0 on success; 1 when a worker fails (the message names its \
        index, pid, range and signal or exit status); 2 for a usage error. After SIGINT, SIGTERM \
        or SIGHUP it stops and reaps every worker, then dies of that same signal (a shell \
        reports 130, 143 or 129, and a shell loop stops at Ctrl-C)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the same problem over several process counts: speedup, efficiency, Amdahl's law
    Sweep(SweepArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
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

    /// With `--ipc queue`: chunks to cut the range into, taken by workers as they become free
    /// [default: 4 per worker; more chunks than blocks of work are clamped]
    #[arg(long, value_name = "N", value_parser = parse_count, allow_negative_numbers = true)]
    chunks: Option<u64>,

    /// Seconds a worker may take to deliver the result of its work (its range or chunk);
    /// past that it is stopped (SIGTERM, a 1 s grace, SIGKILL) and the run fails naming it
    /// [default: no limit]
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, allow_negative_numbers = true)]
    timeout: Option<std::time::Duration>,

    /// Replace a worker that dies or times out, at most N times in all: its unfinished range
    /// (or chunk) is computed again by a new worker, so pi keeps the bits of a clean run; the
    /// report says what was retried and why [default: 0, the first lost worker fails the run]
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = parse_retries)]
    retries: u32,

    /// How worker processes start: `spawn` re-executes this program for each; `forkserver`
    /// re-executes it once as a clean server that forks each worker (faster to start)
    #[arg(long, value_enum, default_value_t = StartArg::Spawn)]
    start: StartArg,

    /// Run every IPC mode at the same steps and processes and show them side by side
    #[arg(long, conflicts_with = "ipc")]
    compare: bool,

    /// With --compare: runs of every mode, the modes taking turns; the medians are shown
    #[arg(
        long,
        value_name = "N",
        default_value = "3",
        value_parser = parse_repeat,
        requires = "compare"
    )]
    repeat: usize,

    /// After the run, draw each worker's timeline in the terminal (started, given its work,
    /// computing, reaped); with FILE (.svg or .png), draw it there as a picture too
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    timeline: Option<Option<PathBuf>>,

    /// Print one JSON object on stdout instead of the report
    #[arg(long)]
    json: bool,

    /// Narrate each step of the process lifecycle on stderr as it happens
    #[arg(short, long)]
    verbose: bool,

    /// Show each worker's progress on stderr [default: on for runs of 2e9 steps or more when
    /// stderr is a terminal]
    #[arg(long, overrides_with = "no_progress")]
    progress: bool,

    /// Never show progress
    #[arg(long)]
    no_progress: bool,

    /// Language of what is printed for people: pt or en [default: from LC_ALL, LC_MESSAGES
    /// or LANG]
    #[arg(long, value_name = "LANG", global = true)]
    lang: Option<String>,
}

#[derive(Args, Debug)]
struct SweepArgs {
    /// Process counts to compare, as a list like 1,2,4,8 (1 is always measured: it is the
    /// baseline)
    #[arg(long, value_name = "LIST", default_value = "1,2,4,8", value_parser = parse_list)]
    procs: ProcsList,

    /// Midpoint-rule steps of every run
    #[arg(
        long,
        value_name = "N",
        default_value = "1000000000",
        value_parser = parse_steps,
        allow_negative_numbers = true
    )]
    steps: u64,

    /// How worker processes start (see the run's --start)
    #[arg(long, value_enum, default_value_t = StartArg::Spawn)]
    start: StartArg,

    /// Runs per process count; the median is reported
    #[arg(long, value_name = "N", default_value = "3", value_parser = parse_repeat)]
    repeat: usize,

    /// Also draw speedup against processes into this SVG file
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,

    /// Print one JSON object on stdout instead of the table
    #[arg(long)]
    json: bool,

    /// Narrate every run's lifecycle on stderr
    #[arg(short, long)]
    verbose: bool,
}

/// A parsed `--procs 1,2,4` list (a newtype, so clap takes the list as one value).
#[derive(Clone, Debug)]
struct ProcsList(Vec<usize>);

fn parse_list(text: &str) -> Result<ProcsList, String> {
    said(input::parse_procs_list)(text).map(ProcsList)
}

/// How ranges and partial sums travel (`--ipc`); each value's help is in the catalogues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IpcArg {
    Pipe,
    Queue,
    Shm,
    ShmChannel,
    Pool,
    Mpi,
}

impl ValueEnum for IpcArg {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            IpcArg::Pipe,
            IpcArg::Queue,
            IpcArg::Shm,
            IpcArg::ShmChannel,
            IpcArg::Pool,
            IpcArg::Mpi,
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let (name, help) = match self {
            IpcArg::Pipe => ("pipe", t!("help.ipc_pipe")),
            IpcArg::Queue => ("queue", t!("help.ipc_queue")),
            IpcArg::Shm => ("shm", t!("help.ipc_shm")),
            IpcArg::ShmChannel => ("shm-channel", t!("help.ipc_shm_channel")),
            IpcArg::Pool => ("pool", t!("help.ipc_pool")),
            IpcArg::Mpi => ("mpi", t!("help.ipc_mpi")),
        };
        Some(PossibleValue::new(name).help(help.into_owned()))
    }
}

/// How worker processes start (`--start`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StartArg {
    Spawn,
    Forkserver,
}

impl ValueEnum for StartArg {
    fn value_variants<'a>() -> &'a [Self] {
        &[StartArg::Spawn, StartArg::Forkserver]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let (name, help) = match self {
            StartArg::Spawn => ("spawn", t!("help.start_spawn")),
            StartArg::Forkserver => ("forkserver", t!("help.start_forkserver")),
        };
        Some(PossibleValue::new(name).help(help.into_owned()))
    }
}

impl StartArg {
    fn method(self) -> multiproc::StartMethod {
        match self {
            StartArg::Spawn => multiproc::StartMethod::Spawn,
            StartArg::Forkserver => multiproc::StartMethod::Forkserver,
        }
    }
}

/// Steps from which progress is shown by default on a terminal: about a second of work.
const LONG_RUN: u64 = 2_000_000_000;

fn main() -> ExitCode {
    // A re-executed copy of this program becomes a worker here and never returns.
    // The environment's language before anything else: a worker's own words (a target's
    // error) follow it too.
    lang::set_from_environment();
    multiproc::init(&multiproc_apps::TARGETS);
    // The language first, so that --help and every message come in it.
    let matches = lang::command_line("pi-master", localized_command);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let start = match &cli.command {
        Some(Command::Sweep(args)) => args.start,
        None => cli.run.start,
    };
    // The first choice in this process: cannot fail.
    let _ = multiproc::set_start_method(start.method());
    if start == StartArg::Forkserver {
        // Started now, it comes up while the run is planned. Should it fail, the first worker
        // tries again and says why.
        let _ = multiproc::context::ensure_forkserver();
    }
    let code = match cli.command {
        Some(Command::Sweep(args)) => run_sweep(args),
        None => run_once(cli.run),
    };
    // The forkserver, if any, is stopped and reaped here rather than left to die with us.
    multiproc::context::stop_forkserver();
    // What was said on stderr goes out before the exit, unless nobody reads it.
    stderr::flush(FLUSH_WITHIN);
    code
}

/// The command line's definition with its help in the language chosen (the catalogues hold
/// every line of `--help`, in English too).
fn localized_command() -> clap::Command {
    let help = |key: &'static str| move |a: clap::Arg| a.help(t!(key).into_owned());
    let cmd = Cli::command()
        .about(t!("help.pi_master_about").into_owned())
        .long_about(t!("help.pi_master_long").into_owned())
        .after_long_help(t!("help.pi_master_after").into_owned())
        .mut_arg("procs", help("help.procs"))
        .mut_arg("steps", help("help.steps"))
        .mut_arg("ipc", help("help.ipc"))
        .mut_arg("chunks", help("help.chunks"))
        .mut_arg("timeout", help("help.timeout"))
        .mut_arg("retries", help("help.retries"))
        .mut_arg("start", help("help.start"))
        .mut_arg("compare", help("help.compare"))
        .mut_arg("repeat", help("help.compare_repeat"))
        .mut_arg("timeline", help("help.timeline"))
        .mut_arg("json", help("help.json"))
        .mut_arg("verbose", help("help.verbose"))
        .mut_arg("progress", help("help.progress"))
        .mut_arg("no_progress", help("help.no_progress"))
        .mut_arg("lang", help("help.lang"))
        .mut_subcommand("sweep", |sweep| {
            sweep
                .about(t!("help.sweep").into_owned())
                .mut_arg("procs", help("help.sweep_procs"))
                .mut_arg("steps", help("help.sweep_steps"))
                .mut_arg("start", help("help.sweep_start"))
                .mut_arg("repeat", help("help.sweep_repeat"))
                .mut_arg("plot", help("help.sweep_plot"))
                .mut_arg("json", help("help.sweep_json"))
                .mut_arg("verbose", help("help.sweep_verbose"))
        });
    lang::localize_help(cmd)
}

/// How long the end of a run waits for its stderr lines to be written: a stderr nobody reads
/// must not keep the master (and its exit status) from the shell.
const FLUSH_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

fn run_once(args: RunArgs) -> ExitCode {
    if args.ipc == IpcArg::Mpi && !args.compare {
        return run_mpi(args);
    }
    if args.chunks.is_some() && !matches!(args.ipc, IpcArg::Queue | IpcArg::Pool) && !args.compare {
        return usage_error(&t!("usage.chunks_modes"));
    }
    let terminal = io::stderr().is_terminal();
    let progress = if args.no_progress {
        false
    } else {
        args.progress || (terminal && args.steps >= LONG_RUN)
    };
    let config = Config {
        procs: args.procs.unwrap_or_else(multiproc::cpu_count),
        steps: args.steps,
        ipc: match args.ipc {
            IpcArg::Pipe => Ipc::Pipe,
            IpcArg::Queue => Ipc::Queue,
            IpcArg::Shm => Ipc::Shm,
            IpcArg::ShmChannel => Ipc::ShmChannel,
            IpcArg::Pool => Ipc::Pool,
            IpcArg::Mpi => Ipc::Mpi,
        },
        chunks: args.chunks,
        progress,
        timeout: args.timeout,
        retries: args.retries,
    };
    if args.compare {
        if args.timeline.is_some() {
            return usage_error(&t!("usage.timeline_compare"));
        }
        return run_compare(config, args.repeat, args.json, args.verbose);
    }
    // Fail on an unwritable picture path before running; touch nothing yet.
    let picture = match args
        .timeline
        .clone()
        .flatten()
        .as_deref()
        .map(PlotFile::check)
    {
        None => None,
        Some(Ok(plot)) => Some(plot),
        Some(Err(e)) => return usage_error(&e),
    };
    let plan = match Plan::new(&config) {
        Ok(plan) => plan,
        Err(e) => return usage_error(&e.to_string()),
    };
    let mut console = Console::new(args.verbose, progress, terminal, &plan);
    let mut recorder = timeline::Recorder::new();
    let outcome = master::run(&plan, &mut |event| {
        recorder.observe(event);
        console.observe(event);
    });
    console.finish();
    let run = match outcome {
        Ok(run) => run,
        Err(e) => return run_failed(e),
    };
    let timeline = args.timeline.is_some().then(|| recorder.finish());
    if let (Some(picture), Some(timeline)) = (&picture, &timeline)
        && let Err(e) =
            timeline::plot(timeline, picture.format()).and_then(|bytes| picture.write(&bytes))
    {
        stderr::line(format!("pi-master: {}: {e}", t!("error.prefix")));
        return ExitCode::FAILURE;
    }
    let mut json = report::JsonReport::new(&run);
    json.timeline = timeline.clone();
    print_result("pi-master", args.json, &json, |out| {
        report::write_human(out, &run, args.verbose)?;
        match &timeline {
            Some(timeline) => {
                writeln!(out)?;
                timeline::write_text(out, timeline, multiproc::cpu_count())
            }
            None => Ok(()),
        }
    })
}

/// `--ipc mpi`: as a rank under `mpiexec`, or as the one who runs `mpiexec`.
fn run_mpi(args: RunArgs) -> ExitCode {
    if !master::mpi::AVAILABLE {
        return usage_error(&master::mpi::how_to_build());
    }
    let unsupported = [
        (args.chunks.is_some(), "--chunks", "mpi.why_one_range"),
        (
            args.timeout.is_some(),
            "--timeout",
            "mpi.why_launcher_stops",
        ),
        (args.retries > 0, "--retries", "mpi.why_launcher_stops"),
        (args.progress, "--progress", "mpi.why_result_only"),
        (
            args.start != StartArg::Spawn,
            "--start",
            "mpi.why_mpiexec_starts",
        ),
        (args.timeline.is_some(), "--timeline", "mpi.why_result_only"),
    ];
    if let Some((_, flag, why)) = unsupported.iter().find(|(given, _, _)| *given) {
        return usage_error(&t!("mpi.not_applicable", flag = flag, why = t!(*why)));
    }
    if master::mpi::under_mpiexec() {
        return run_as_rank(&args);
    }
    let options = master::mpi::LaunchOptions {
        procs: args.procs.unwrap_or_else(multiproc::cpu_count),
        steps: args.steps,
        json: args.json,
        inherit_stdout: true,
        verbose: args.verbose,
    };
    match master::mpi::launch(&options) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => run_failed(e),
    }
}

#[cfg(feature = "mpi")]
fn run_as_rank(args: &RunArgs) -> ExitCode {
    let announce = args.verbose || std::env::var_os(master::mpi::LAUNCHER_ENV).is_some();
    match master::mpi::ranks::run(args.steps, args.procs, announce) {
        Ok(Some(run)) => print_result(
            "pi-master",
            args.json,
            &report::JsonReport::new(&run),
            |out| report::write_human(out, &run, args.verbose),
        ),
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => run_failed(e),
    }
}

#[cfg(not(feature = "mpi"))]
fn run_as_rank(_: &RunArgs) -> ExitCode {
    usage_error(&master::mpi::how_to_build())
}

/// A usage error found after parsing: the message, and exit status 2.
fn usage_error(message: &str) -> ExitCode {
    stderr::line(format!(
        "{}: {message}\n\n{}",
        t!("error.prefix"),
        t!("error.usage_more")
    ));
    ExitCode::from(2)
}

fn run_compare(mut config: Config, repeat: usize, json: bool, verbose: bool) -> ExitCode {
    config.progress = false;
    let started = std::time::Instant::now();
    let mut observe = |label: &str, event: &master::Event| {
        if verbose {
            stderr::line(format!(
                "[{label}] {}",
                report::narrate(event, started.elapsed())
            ));
        }
    };
    let rows = match compare::run(&config, repeat, &mut observe) {
        Ok(rows) => rows,
        Err(e) => return run_failed(e),
    };
    print_result("pi-master", json, &rows, |out| {
        compare::write_table(out, &config, &rows)
    })
}

fn run_sweep(args: SweepArgs) -> ExitCode {
    // Fail on an unwritable plot path before spending minutes measuring; touch nothing yet.
    let plot = match args.plot.as_deref().map(PlotFile::check).transpose() {
        Ok(plot) => plot,
        Err(e) => {
            stderr::line(format!("pi-master: {}: {e}", t!("error.prefix")));
            return ExitCode::from(2);
        }
    };
    let started = std::time::Instant::now();
    let verbose = args.verbose;
    let mut observe = |procs: usize, run: usize, event: &master::Event| {
        if verbose && !matches!(event, master::Event::Progress { .. }) {
            stderr::line(format!(
                "[{}] {}",
                t!("sweep.label", procs = procs, run = run + 1),
                report::narrate(event, started.elapsed())
            ));
        }
    };
    let result = match sweep::run(args.steps, &args.procs.0, args.repeat, &mut observe) {
        Ok(result) => result,
        Err(e) => return run_failed(e),
    };
    if let Some(plot) = &plot
        && let Err(e) = sweep::plot(&result, plot.format()).and_then(|bytes| plot.write(&bytes))
    {
        stderr::line(format!("pi-master: {}: {e}", t!("error.prefix")));
        return ExitCode::FAILURE;
    }
    if args.json {
        // The table says it; JSON says it in `warnings`, and people reading stderr see it too.
        for warning in &result.warnings {
            stderr::line(format!(
                "pi-master: {}: {}",
                t!("error.warning"),
                warning.words(None)
            ));
        }
    }
    print_result("pi-master", args.json, &result, |out| {
        sweep::write_table(out, &result)
    })
}

fn run_failed(e: RunError) -> ExitCode {
    match e {
        RunError::Invalid(why) => usage_error(&why),
        RunError::Interrupted { signal } => {
            stderr::line(format!("pi-master: {e}"));
            multiproc::context::stop_forkserver();
            stderr::flush(FLUSH_WITHIN);
            // Every worker is reaped: end as the signal would have, so a shell loop stops.
            multiproc::signals::die_of(signal)
        }
        e => {
            stderr::line(format!("pi-master: {}: {e}", t!("error.prefix")));
            ExitCode::FAILURE
        }
    }
}

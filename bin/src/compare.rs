//! `pi-master --compare`: every IPC mode at the same steps and processes, side by side.
//!
//! Each mode runs with the requested processes and with one process (for its speedup); the
//! table shows pi, its error, wall time, speedup, and the messages and bytes that crossed
//! between the master and its workers.

use std::io::{self, Write};

use serde::Serialize;

use crate::master::{self, Config, Event, Ipc, Plan, RunError};
use crate::stats::median;
use crate::text;
use rust_i18n::t;

/// One mode's line of the comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The mode.
    pub ipc: String,
    /// Worker processes.
    pub procs: usize,
    /// Chunks (queue mode).
    pub chunks: Option<u64>,
    /// The computed pi.
    pub pi: f64,
    /// |pi − π|.
    pub abs_error: f64,
    /// Wall time with `procs` processes: the median of `runs`.
    pub wall_seconds: f64,
    /// Wall time of the same mode with one process: the median of `one_process_runs`.
    pub one_process_wall_seconds: f64,
    /// `one_process_wall_seconds / wall_seconds`.
    pub speedup: f64,
    /// Messages between master and workers (in one run).
    pub messages: u64,
    /// Their bytes, frame headers included.
    pub bytes: u64,
    /// Wall time of each run with `procs` processes, in order.
    pub runs: Vec<f64>,
    /// Wall time of each run with one process, in order.
    pub one_process_runs: Vec<f64>,
    /// MPI only: seconds of the whole `mpiexec` job (its start and end included; the median
    /// over the runs), beside `wall_seconds`, which the ranks time from the moment they are
    /// all up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_seconds: Option<f64>,
}

/// One run of a mode, as the comparison keeps it.
struct Measured {
    pi: f64,
    wall_seconds: f64,
    messages: u64,
    bytes: u64,
    /// MPI only: the whole job's seconds.
    job_seconds: Option<f64>,
}

/// A mode's runs so far, with its process count and chunks.
struct Runs {
    ipc: Ipc,
    procs: usize,
    chunks: Option<u64>,
    full: Vec<Measured>,
    one: Vec<Measured>,
}

impl Runs {
    /// The mode's line: medians of its wall times; pi, messages and bytes of its first run
    /// (every run computes the same bits and sends the same messages).
    fn row(self) -> Row {
        let walls = |runs: &[Measured]| runs.iter().map(|m| m.wall_seconds).collect::<Vec<_>>();
        let (runs, one_process_runs) = (walls(&self.full), walls(&self.one));
        let wall_seconds = median(&runs);
        let one_process_wall_seconds = median(&one_process_runs);
        let first = &self.full[0];
        let jobs: Vec<f64> = self.full.iter().filter_map(|m| m.job_seconds).collect();
        Row {
            ipc: self.ipc.to_string(),
            procs: self.procs,
            chunks: self.chunks,
            pi: first.pi,
            abs_error: (first.pi - std::f64::consts::PI).abs(),
            wall_seconds,
            one_process_wall_seconds,
            speedup: one_process_wall_seconds / wall_seconds,
            messages: first.messages,
            bytes: first.bytes,
            runs,
            one_process_runs,
            job_seconds: (!jobs.is_empty()).then(|| median(&jobs)),
        }
    }
}

/// Runs every mode `repeat` times, with the processes asked for and with one, the modes taking
/// turns (so a slow moment of the machine falls on all of them alike, not on one); `observe`
/// gets each event with a label naming the run.
pub fn run(
    config: &Config,
    repeat: usize,
    observe: &mut dyn FnMut(&str, &Event),
) -> Result<Vec<Row>, RunError> {
    let mpi = master::mpi::AVAILABLE && master::mpi::mpiexec().is_some();
    let mut modes: Vec<Runs> = Ipc::ALL
        .into_iter()
        .chain(mpi.then_some(Ipc::Mpi))
        .map(|ipc| Runs {
            ipc,
            procs: config.procs,
            // Known from the first run (the plan chooses them when not asked).
            chunks: None,
            full: Vec::new(),
            one: Vec::new(),
        })
        .collect();
    for round in 0..repeat.max(1) {
        for mode in &mut modes {
            let (full, one) = if mode.ipc == Ipc::Mpi {
                (mpi_run(config, config.procs)?, mpi_run(config, 1)?)
            } else {
                let mut c = config.clone();
                c.ipc = mode.ipc;
                let label = t!(
                    "compare.label",
                    ipc = mode.ipc,
                    procs = c.procs,
                    run = round + 1
                );
                let full = master::run(&Plan::new(&c)?, &mut |e| observe(&label, e))?;
                mode.procs = full.config.procs;
                mode.chunks = full
                    .config
                    .chunks
                    .filter(|_| matches!(mode.ipc, Ipc::Queue | Ipc::Pool));
                c.procs = 1;
                let label = t!("compare.label", ipc = mode.ipc, procs = 1, run = round + 1);
                let one = master::run(&Plan::new(&c)?, &mut |e| observe(&label, e))?;
                let measured = |r: &master::Run| Measured {
                    pi: r.pi,
                    wall_seconds: r.wall_seconds,
                    messages: r.traffic.messages,
                    bytes: r.traffic.bytes,
                    job_seconds: None,
                };
                (measured(&full), measured(&one))
            };
            mode.full.push(full);
            mode.one.push(one);
        }
    }
    Ok(modes.into_iter().map(Runs::row).collect())
}

/// One `mpiexec` job of `procs` ranks at the configuration's steps.
fn mpi_run(config: &Config, procs: usize) -> Result<Measured, RunError> {
    let launched = master::mpi::launch(&master::mpi::LaunchOptions {
        procs,
        steps: config.steps,
        json: true,
        inherit_stdout: false,
        verbose: false,
    })?;
    let json: serde_json::Value = serde_json::from_slice(&launched.stdout)
        .map_err(|e| RunError::Failed(t!("mpi.no_json_report", error = e).into_owned()))?;
    let number = |key: &str| json[key].as_f64().unwrap_or(f64::NAN);
    Ok(Measured {
        pi: number("pi"),
        wall_seconds: number("wall_seconds"),
        messages: json["messages"].as_u64().unwrap_or(0),
        bytes: json["bytes"].as_u64().unwrap_or(0),
        job_seconds: Some(launched.wall_seconds),
    })
}

/// Writes the comparison as a table, within 80 columns.
pub fn write_table(out: &mut dyn Write, config: &Config, rows: &[Row]) -> io::Result<()> {
    // Every mode ran as many times.
    let repeat = rows.first().map_or(1, |r| r.runs.len());
    let mpi = rows.iter().find(|r| r.job_seconds.is_some());
    let modes: Vec<&str> = rows.iter().map(|r| r.ipc.as_str()).collect();
    writeln!(
        out,
        "{}",
        t!(
            "compare.title",
            modes = modes.join(", "),
            steps = text::count(config.steps, &t!("word.step"), &t!("word.steps")),
            workers = text::count(
                config.procs as u64,
                &t!("word.worker_process"),
                &t!("word.worker_processes")
            )
        )
    )?;
    let chunked: Vec<&Row> = rows.iter().filter(|r| r.chunks.is_some()).collect();
    let chunks = match chunked.as_slice() {
        [] => String::new(),
        [first, ..] if chunked.iter().all(|r| r.chunks == first.chunks) => t!(
            "compare.chunks",
            modes = chunked
                .iter()
                .map(|r| r.ipc.as_str())
                .collect::<Vec<_>>()
                .join(&format!(" {} ", t!("word.and"))),
            count = text::count(
                first.chunks.unwrap_or(0),
                &t!("word.chunk"),
                &t!("word.chunks")
            )
        )
        .into_owned(),
        _ => chunked
            .iter()
            .map(|r| {
                t!(
                    "compare.chunks",
                    modes = r.ipc,
                    count =
                        text::count(r.chunks.unwrap_or(0), &t!("word.chunk"), &t!("word.chunks"))
                )
                .into_owned()
            })
            .collect(),
    };
    let runs = if repeat > 1 {
        t!(
            "compare.medians",
            runs = text::count(repeat as u64, &t!("word.run"), &t!("word.runs"))
        )
    } else {
        t!("compare.one_run")
    };
    let how = t!("compare.how", runs = runs, chunks = chunks);
    out.write_all(text::wrap(&how, "", " ").as_bytes())?;
    writeln!(out)?;
    let name = modes.iter().map(|m| m.len()).max().unwrap_or(3).max(3);
    writeln!(
        out,
        "  {:<name$}  {:>17}  {:>8}  {:>7}  {:>7}  {:>8}  {:>8}",
        t!("compare.col_ipc"),
        t!("compare.col_pi"),
        t!("compare.col_error"),
        t!("compare.col_wall"),
        t!("compare.col_speedup"),
        t!("compare.col_messages"),
        t!("compare.col_bytes")
    )?;
    for r in rows {
        writeln!(
            out,
            "  {:<name$}  {:>17.15}  {:>8.1e}  {:>7.4}  {:>7.2}  {:>8}  {:>8}",
            r.ipc, r.pi, r.abs_error, r.wall_seconds, r.speedup, r.messages, r.bytes
        )?;
    }
    if let Some(note) = text::debug_build_note(&rust_i18n::t!("report.debug_pi")) {
        writeln!(out, "  ({note})")?;
    }
    if rows
        .windows(2)
        .all(|w| w[0].pi.to_bits() == w[1].pi.to_bits())
    {
        writeln!(out)?;
        writeln!(out, "{}", t!("compare.same_bits"))?;
    }
    if let Some(job) = mpi.and_then(|r| r.job_seconds) {
        writeln!(out)?;
        let line = t!("compare.mpi_job", seconds = format!("{job:.3}"));
        out.write_all(text::wrap(&line, "", "").as_bytes())?;
    }
    Ok(())
}

//! `pi-master --compare`: every IPC mode at the same steps and processes, side by side.
//!
//! Each mode runs with the requested processes and with one process (for its speedup); the
//! table shows pi, its error, wall time, speedup, and the messages and bytes that crossed
//! between the master and its workers.

use std::io::{self, Write};

use serde::Serialize;

use crate::master::{self, Config, Event, Ipc, Plan, RunError};
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
    /// Wall time with `procs` processes.
    pub wall_seconds: f64,
    /// Wall time of the same mode with one process.
    pub one_process_wall_seconds: f64,
    /// `one_process_wall_seconds / wall_seconds`.
    pub speedup: f64,
    /// Messages between master and workers.
    pub messages: u64,
    /// Their bytes, frame headers included.
    pub bytes: u64,
    /// MPI only: seconds of the whole `mpiexec` job (its start and end included), beside
    /// `wall_seconds`, which the ranks time from the moment they are all up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_seconds: Option<f64>,
}

/// Runs every mode; `observe` gets each event with a label naming the run.
pub fn run(config: &Config, observe: &mut dyn FnMut(&str, &Event)) -> Result<Vec<Row>, RunError> {
    let mut rows = Vec::new();
    for ipc in Ipc::ALL {
        let mut c = config.clone();
        c.ipc = ipc;
        let label = format!("{ipc}, {} procs", c.procs);
        let full = master::run(&Plan::new(&c)?, &mut |e| observe(&label, e))?;
        c.procs = 1;
        c.chunks = config.chunks;
        let label = format!("{ipc}, 1 proc");
        let one = master::run(&Plan::new(&c)?, &mut |e| observe(&label, e))?;
        rows.push(Row {
            ipc: ipc.to_string(),
            procs: full.config.procs,
            chunks: full
                .config
                .chunks
                .filter(|_| matches!(ipc, Ipc::Queue | Ipc::Pool)),
            pi: full.pi,
            abs_error: (full.pi - std::f64::consts::PI).abs(),
            wall_seconds: full.wall_seconds,
            one_process_wall_seconds: one.wall_seconds,
            speedup: one.wall_seconds / full.wall_seconds,
            messages: full.traffic.messages,
            bytes: full.traffic.bytes,
            job_seconds: None,
        });
    }
    if master::mpi::AVAILABLE && master::mpi::mpiexec().is_some() {
        rows.push(mpi_row(config)?);
    }
    Ok(rows)
}

/// The `mpi` row: `mpiexec` run with the same steps and processes, then with one rank.
fn mpi_row(config: &Config) -> Result<Row, RunError> {
    let run = |procs: usize| -> Result<(serde_json::Value, f64), RunError> {
        let launched = master::mpi::launch(&master::mpi::LaunchOptions {
            procs,
            steps: config.steps,
            json: true,
            inherit_stdout: false,
            verbose: false,
        })?;
        let json = serde_json::from_slice(&launched.stdout).map_err(|e| {
            RunError::Failed(format!("the MPI job's rank 0 printed no JSON report: {e}"))
        })?;
        Ok((json, launched.wall_seconds))
    };
    let (full, job_seconds) = run(config.procs)?;
    let (one, _) = run(1)?;
    let number = |v: &serde_json::Value, key: &str| v[key].as_f64().unwrap_or(f64::NAN);
    let pi = number(&full, "pi");
    let wall_seconds = number(&full, "wall_seconds");
    let one_process_wall_seconds = number(&one, "wall_seconds");
    Ok(Row {
        ipc: Ipc::Mpi.to_string(),
        procs: config.procs,
        chunks: None,
        pi,
        abs_error: (pi - std::f64::consts::PI).abs(),
        wall_seconds,
        one_process_wall_seconds,
        speedup: one_process_wall_seconds / wall_seconds,
        messages: full["messages"].as_u64().unwrap_or(0),
        bytes: full["bytes"].as_u64().unwrap_or(0),
        job_seconds: Some(job_seconds),
    })
}

/// Writes the comparison as a table, within 80 columns.
pub fn write_table(out: &mut dyn Write, config: &Config, rows: &[Row]) -> io::Result<()> {
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
    let how = t!("compare.how", chunks = chunks);
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

//! `pi-master --compare`: every IPC mode at the same steps and processes, side by side.
//!
//! Each mode runs with the requested processes and with one process (for its speedup); the
//! table shows pi, its error, wall time, speedup, and the messages and bytes that crossed
//! between the master and its workers.

use std::io::{self, Write};

use serde::Serialize;

use crate::master::{self, Config, Event, Ipc, Plan, RunError};

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
        });
    }
    Ok(rows)
}

/// Writes the comparison as a table.
pub fn write_table(out: &mut dyn Write, config: &Config, rows: &[Row]) -> io::Result<()> {
    writeln!(
        out,
        "pipe, queue, shared memory and pool: {} steps, {} worker processes (speedup against the same mode with 1)",
        config.steps, config.procs
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "  {:<17}  {:>17}  {:>10}  {:>8}  {:>8}  {:>8}  {:>9}",
        "ipc", "pi", "error", "wall s", "speedup", "messages", "bytes"
    )?;
    for r in rows {
        let name = match r.chunks {
            Some(c) => format!("{} ({c} chunks)", r.ipc),
            None => r.ipc.clone(),
        };
        writeln!(
            out,
            "  {:<17}  {:>17.15}  {:>10.2e}  {:>8.4}  {:>8.2}  {:>8}  {:>9}",
            name, r.pi, r.abs_error, r.wall_seconds, r.speedup, r.messages, r.bytes
        )?;
    }
    if rows
        .windows(2)
        .all(|w| w[0].pi.to_bits() == w[1].pi.to_bits())
    {
        writeln!(out)?;
        writeln!(out, "Every mode computed the same bits of pi.")?;
    }
    Ok(())
}

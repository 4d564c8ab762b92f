//! What each rank of `mpiexec -n P pi-master --ipc mpi` does (the `mpi` feature).
//!
//! Every rank computes the range of the same static split the pipe mode uses
//! ([`multiproc_pi::partition::partition`] of the steps over the P ranks), with the same
//! kernel, into the same exact fixed-point sum; ranks 1.. send theirs to rank 0 as one
//! bincode message (the runtime's codec), and rank 0 adds them in rank order. Exact sums add
//! to the same bits in any order and any split, so pi is bit for bit what a local run prints.
//!
//! Nothing here catches a rank's death: MPI's launcher does (MPICH's stops the whole job at
//! once). Each rank says who it is on stderr (when asked, or when [`super::launch`] runs the
//! job), so that a death reported by pid can be named by rank.

use std::ops::Range;
use std::time::Instant;

use mpi::traits::*;
use multiproc::codec;
use multiproc_pi::partition;
use multiproc_pi::reduction::FixedSum;
use serde::{Deserialize, Serialize};

use super::super::worker::{Partial, compute_partial};
use super::super::{Config, Ipc, Run, RunError, Traffic, WorkerRun};
use super::{RankLine, hostname_fallback};

/// The largest result message rank 0 accepts: a report is a few dozen bytes and a host name.
const MAX_REPORT: usize = 64 << 10;

/// What rank r sends rank 0.
#[derive(Serialize, Deserialize)]
struct RankReport {
    rank: usize,
    pid: u32,
    host: String,
    range: Range<u64>,
    partial: Partial,
}

/// Runs this rank's part: `Some(run)` on rank 0, once every rank's sum is in; `None` on
/// the others, once theirs is sent. `procs`, when given, must be the job's size.
/// `announce`: print this rank's [`RankLine`] on stderr before computing.
pub fn run(steps: u64, procs: Option<usize>, announce: bool) -> Result<Option<Run>, RunError> {
    let universe = mpi::initialize()
        .ok_or_else(|| RunError::Failed(rust_i18n::t!("mpi.initialised_twice").into_owned()))?;
    let world = universe.world();
    let rank = world.rank() as usize;
    let size = world.size() as usize;
    if let Some(asked) = procs.filter(|p| *p != size) {
        // Every rank sees the same command line: rank 0 alone says so, all stop.
        if rank == 0 {
            return Err(RunError::Invalid(
                rust_i18n::t!(
                    "mpi.procs_mismatch",
                    asked = asked,
                    ranks = crate::text::count(size as u64, "rank", "ranks")
                )
                .into_owned(),
            ));
        }
        return Ok(None);
    }
    let host = mpi::environment::processor_name().unwrap_or_else(|_| hostname_fallback());
    let ranges = partition::partition(steps, size);
    let range = ranges[rank].clone();
    let pid = std::process::id();
    if announce {
        crate::stderr::line(
            RankLine {
                rank,
                size,
                pid,
                host: host.clone(),
                range: range.clone(),
            }
            .to_string(),
        );
    }
    // The clock starts when every rank is up, as the local modes' starts when the first
    // worker is asked for: mpiexec's own start is its business (the launcher times it).
    world.barrier();
    let clock = Instant::now();
    let partial = compute_partial(steps, range.clone()).map_err(RunError::Failed)?;
    let mine = RankReport {
        rank,
        pid,
        host,
        range,
        partial,
    };
    if rank != 0 {
        let bytes = codec::encode_value(&mine)?;
        world.process_at_rank(0).send(&bytes[..]);
        return Ok(None);
    }
    let mut reports: Vec<Option<RankReport>> = (0..size).map(|_| None).collect();
    let mut traffic = Traffic::default();
    for _ in 1..size {
        let (message, status) = world.any_process().matched_probe();
        let from = status.source_rank();
        let len = status.count(u8::equivalent_datatype()) as usize;
        if len > MAX_REPORT {
            crate::stderr::line(format!(
                "pi-master: {}: {}",
                rust_i18n::t!("error.prefix"),
                rust_i18n::t!(
                    "mpi.report_too_big",
                    rank = from,
                    len = len,
                    max = MAX_REPORT
                )
            ));
            crate::stderr::flush(std::time::Duration::from_secs(1));
            world.abort(1);
        }
        let (bytes, _) = (message, status).matched_receive_vec::<u8>();
        traffic.messages += 1;
        traffic.bytes += bytes.len() as u64;
        let report: RankReport = codec::decode_payload(&bytes).map_err(|e| {
            RunError::Failed(
                rust_i18n::t!(
                    "mpi.report_garbled",
                    rank = from,
                    why = crate::lang::runtime_error(&e)
                )
                .into_owned(),
            )
        })?;
        if report.rank != from as usize || report.range != ranges[report.rank] {
            return Err(RunError::Failed(
                rust_i18n::t!(
                    "mpi.report_not_its_own",
                    rank = from,
                    said = report.rank,
                    start = report.range.start,
                    end = report.range.end
                )
                .into_owned(),
            ));
        }
        let slot = report.rank;
        reports[slot] = Some(report);
    }
    reports[0] = Some(mine);
    let reports: Vec<RankReport> = reports.into_iter().flatten().collect();
    let mut total = FixedSum::ZERO;
    for r in &reports {
        total.merge(r.partial.sum);
    }
    let wall_seconds = clock.elapsed().as_secs_f64();
    let workers = reports
        .into_iter()
        .map(|r| WorkerRun {
            index: r.rank,
            pid: r.pid,
            ranges: vec![r.range],
            partial_sum: multiproc_pi::finish(steps, r.partial.sum),
            compute_seconds: r.partial.compute_seconds,
            exitcode: 0,
            peak_rss_kib: r.partial.peak_rss_kib,
            host: Some(r.host),
        })
        .collect();
    Ok(Some(Run {
        config: Config {
            procs: size,
            steps,
            ipc: Ipc::Mpi,
            chunks: None,
            progress: false,
            timeout: None,
            retries: 0,
        },
        pi: multiproc_pi::finish(steps, total),
        wall_seconds,
        master_pid: pid,
        workers,
        traffic,
        retries: Vec::new(),
    }))
}

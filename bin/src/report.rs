//! What `pi-master` prints: a report for people, and the same facts as one JSON object.

use std::io::{self, Write};

use serde::Serialize;

use multiproc::supervise::signal_name;
use multiproc_pi::{exact_midpoint_sum, kernel, partition, ulps_between};

use crate::master::{Event, Ipc, Retry, Run};
use crate::text::{self, WIDTH};
use rust_i18n::t;

/// From here on π + 1/(12·steps²) is the exact midpoint sum to well below one ulp.
const FORMULA_FROM: u64 = 1000;

/// The JSON form of a run (`pi-master --json`).
#[derive(Serialize)]
pub struct JsonReport {
    /// The computed pi.
    pub pi: f64,
    /// |pi − π|.
    pub abs_error: f64,
    /// pi − (π + 1/(12·steps²)), the exact midpoint sum, in ulps; only for steps ≥ 1000,
    /// where that formula is exact to far below one ulp.
    pub ulps_from_midpoint_sum: Option<f64>,
    /// Midpoint-rule steps.
    pub steps: u64,
    /// Worker processes.
    pub procs: usize,
    /// The transport used.
    pub ipc: String,
    /// How the workers were started (`spawn` or `forkserver`; `mpiexec` under `--ipc mpi`).
    pub start: String,
    /// Chunks the range was cut into (queue mode only).
    pub chunks: Option<u64>,
    /// Messages the master sent and received.
    pub messages: u64,
    /// Their bytes, frame headers included.
    pub bytes: u64,
    /// Wall-clock seconds of the whole run.
    pub wall_seconds: f64,
    /// The master's pid.
    pub master_pid: u32,
    /// Indices per block (fixed by `steps`; ranges are made of whole blocks).
    pub block_len: u64,
    /// The instruction set of the kernel (`avx2`, `avx`, `sse2` or `portable`).
    pub simd: &'static str,
    /// The workers.
    pub workers: Vec<JsonWorker>,
    /// Workers lost and replaced under `--retries`, in order: which, why, and the range
    /// computed again.
    pub retries: Vec<JsonRetry>,
    /// Each worker's moments, with `--timeline` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<crate::timeline::Timeline>,
}

/// One retry in [`JsonReport`].
#[derive(Serialize)]
pub struct JsonRetry {
    /// The worker's index.
    pub index: usize,
    /// The pid of the worker that was lost.
    pub pid: Option<u32>,
    /// `[start, end)` computed again, if it had one.
    pub range: Option<[u64; 2]>,
    /// What happened to it.
    pub cause: String,
}

/// One worker in [`JsonReport`].
#[derive(Serialize)]
pub struct JsonWorker {
    /// Index.
    pub index: usize,
    /// Pid.
    pub pid: u32,
    /// `[start, end)` pairs it computed.
    pub ranges: Vec<[u64; 2]>,
    /// Its share of pi.
    pub partial_sum: f64,
    /// Its compute time.
    pub compute_seconds: f64,
    /// Its exit code.
    pub exit_code: i32,
    /// Its peak resident memory, KiB.
    pub peak_rss_kib: u64,
    /// The host it ran on (MPI ranks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl JsonReport {
    /// The JSON view of `run`.
    pub fn new(run: &Run) -> Self {
        JsonReport {
            pi: run.pi,
            abs_error: (run.pi - std::f64::consts::PI).abs(),
            ulps_from_midpoint_sum: (run.config.steps >= FORMULA_FROM)
                .then(|| ulps_between(run.pi, exact_midpoint_sum(run.config.steps))),
            steps: run.config.steps,
            procs: run.config.procs,
            ipc: run.config.ipc.to_string(),
            start: if run.config.ipc == Ipc::Mpi {
                "mpiexec".to_string()
            } else {
                multiproc::get_start_method().to_string()
            },
            chunks: run
                .config
                .chunks
                .filter(|_| matches!(run.config.ipc, Ipc::Queue | Ipc::Pool)),
            messages: run.traffic.messages,
            bytes: run.traffic.bytes,
            wall_seconds: run.wall_seconds,
            master_pid: run.master_pid,
            block_len: partition::block_len(run.config.steps),
            simd: kernel::simd_name(),
            workers: run
                .workers
                .iter()
                .map(|w| JsonWorker {
                    index: w.index,
                    pid: w.pid,
                    ranges: w.ranges.iter().map(|r| [r.start, r.end]).collect(),
                    partial_sum: w.partial_sum,
                    compute_seconds: w.compute_seconds,
                    exit_code: w.exitcode,
                    peak_rss_kib: w.peak_rss_kib,
                    host: w.host.clone(),
                })
                .collect(),
            retries: run
                .retries
                .iter()
                .map(|r| JsonRetry {
                    index: r.index,
                    pid: r.pid,
                    range: r.range.as_ref().map(|r| [r.start, r.end]),
                    cause: r.cause.english().to_string(),
                })
                .collect(),
            timeline: None,
        }
    }
}

/// Writes the JSON report as one line.
pub fn write_json(out: &mut dyn Write, run: &Run) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &JsonReport::new(run))?;
    writeln!(out)
}

/// Writes the report for people, within [`WIDTH`] columns: a worker's ranges, when they do not
/// fit, are summarised (how many, what share of the steps); `full` lists them all instead
/// (`--verbose`).
pub fn write_human(out: &mut dyn Write, run: &Run, full: bool) -> io::Result<()> {
    let c = &run.config;
    let exact = exact_midpoint_sum(c.steps);
    let error = run.pi - std::f64::consts::PI;
    let mpi = c.ipc == Ipc::Mpi;
    let steps = text::count(c.steps, &t!("word.step"), &t!("word.steps"));
    let workers = if mpi {
        text::count(c.procs as u64, &t!("word.mpi_rank"), &t!("word.mpi_ranks"))
    } else {
        text::count(
            c.procs as u64,
            &t!("word.worker_process"),
            &t!("word.worker_processes"),
        )
    };
    writeln!(
        out,
        "{}",
        t!("report.title", steps = steps, workers = workers)
    )?;
    if mpi {
        writeln!(out, "{}", t!("report.how_mpi", pid = run.master_pid))?;
    } else {
        let mut how = vec![t!("report.how_ipc", ipc = c.ipc).into_owned()];
        if let (Ipc::Queue | Ipc::Pool, Some(chunks)) = (c.ipc, c.chunks) {
            how.push(text::count(chunks, &t!("word.chunk"), &t!("word.chunks")));
        }
        // The default start method goes unsaid; the other one is part of what the run shows.
        if multiproc::get_start_method() != multiproc::StartMethod::Spawn {
            how.push(t!("report.how_start", method = multiproc::get_start_method()).into_owned());
        }
        how.push(t!("report.how_master", pid = run.master_pid).into_owned());
        writeln!(out, "({})", how.join(", "))?;
    }
    writeln!(out)?;
    let label = |key: &str| format!("  {:<12}", t!(key));
    // The lines under a labelled one start where its value does.
    let under = " ".repeat(14);
    writeln!(out, "{}{:.15}", label("report.pi"), run.pi)?;
    writeln!(
        out,
        "{}{:.15}",
        label("report.true_pi"),
        std::f64::consts::PI
    )?;
    writeln!(out, "{}{error:+.3e}", label("report.error"))?;
    let rule = format!("{:.3e}", 1.0 / (12.0 * (c.steps as f64).powi(2)));
    writeln!(out, "{under}{}", t!("report.rule", value = rule))?;
    if c.steps >= FORMULA_FROM {
        let ulps = format!("{:+.2}", ulps_between(run.pi, exact));
        writeln!(out, "{under}{}", t!("report.arithmetic", ulps = ulps))?;
    } else {
        writeln!(out, "{under}{}", t!("report.estimate"))?;
    }
    writeln!(
        out,
        "{}{:.3} s   {}",
        label("report.wall_time"),
        run.wall_seconds,
        t!("report.kernel", simd = kernel::simd_name())
    )?;
    if let Some(note) = text::debug_build_note(&t!("report.debug_pi")) {
        writeln!(out, "{under}({note})")?;
    }
    let traffic = t!(
        "report.traffic",
        messages = text::count(
            run.traffic.messages,
            &t!("word.message"),
            &t!("word.messages")
        ),
        bytes = text::count(run.traffic.bytes, &t!("word.byte"), &t!("word.bytes"))
    );
    let messages = label("report.messages");
    if mpi {
        writeln!(out, "{under}{}", t!("report.mpi_timed"))?;
        writeln!(
            out,
            "{messages}{}",
            t!("report.traffic_mpi", traffic = traffic)
        )?;
    } else if c.ipc == Ipc::Pool {
        writeln!(out, "{messages}{}", t!("report.traffic_pool"))?;
    } else {
        writeln!(
            out,
            "{messages}{}",
            t!("report.traffic_pipes", traffic = traffic)
        )?;
    }
    writeln!(out)?;
    write_workers(out, run, full)?;
    if !run.retries.is_empty() {
        writeln!(out)?;
        let lost = text::count(
            run.retries.len() as u64,
            &t!("word.lost_worker"),
            &t!("word.lost_workers"),
        );
        out.write_all(
            text::wrap(
                &t!("report.retried", lost = lost),
                &label("report.retried_label"),
                &under,
            )
            .as_bytes(),
        )?;
        let allowed = run.config.retries;
        for (i, retry) in run.retries.iter().enumerate() {
            let line = describe_retry(retry, i as u32 + 1, allowed);
            out.write_all(text::wrap(&line, "    ", "      ").as_bytes())?;
        }
    }
    Ok(())
}

/// The table of workers: index, pid, ranges, partial sum, compute time, peak memory.
fn write_workers(out: &mut dyn Write, run: &Run, full: bool) -> io::Result<()> {
    let mpi = run.config.ipc == Ipc::Mpi;
    let host_width = run
        .workers
        .iter()
        .filter_map(|w| w.host.as_ref().map(String::len))
        .max()
        .map(|w| w.max("host".len()));
    let host = |h: &str| match host_width {
        Some(width) => format!("  {h:<width$}"),
        None => String::new(),
    };
    let first = if mpi {
        t!("report.col_rank")
    } else {
        t!("report.col_worker")
    };
    let first_width = first.chars().count().max(6);
    // Every column but the ranges, with the spaces between them.
    let other_columns = 2 + first_width + 2 + 7 + 2 + 2 + 14 + 2 + 9 + 2 + 8;
    let budget = WIDTH - other_columns - host_width.map_or(0, |w| w + 2);
    let exact: Vec<String> = run
        .workers
        .iter()
        .map(|w| format_ranges(&w.ranges))
        .collect();
    let fits = full || exact.iter().all(|r| r.chars().count() <= budget);
    let shown: Vec<String> = if fits {
        exact
    } else {
        run.workers
            .iter()
            .map(|w| summarise_ranges(&w.ranges, run.config.steps))
            .collect()
    };
    let header = if fits {
        t!("report.col_range")
    } else {
        t!("report.col_share")
    };
    let range_width = shown
        .iter()
        .map(|r| r.chars().count())
        .max()
        .unwrap_or(0)
        .max(header.chars().count());
    writeln!(
        out,
        "  {:>first_width$}{}  {:>7}  {:<range_width$}  {:>14}  {:>9}  {:>8}",
        first,
        host(&t!("report.col_host")),
        t!("report.col_pid"),
        header,
        t!("report.col_partial"),
        t!("report.col_compute"),
        t!("report.col_rss")
    )?;
    for (w, ranges) in run.workers.iter().zip(&shown) {
        writeln!(
            out,
            "  {:>first_width$}{}  {:>7}  {:<range_width$}  {:>14.12}  {:>9.3}  {:>8}",
            w.index,
            host(w.host.as_deref().unwrap_or("")),
            w.pid,
            ranges,
            w.partial_sum,
            w.compute_seconds,
            if w.ranges.is_empty() {
                "-".to_string()
            } else {
                format!("{:.1} MiB", w.peak_rss_kib as f64 / 1024.0)
            }
        )?;
    }
    if !fits {
        writeln!(out, "  {}", t!("report.in_full"))?;
    }
    Ok(())
}

/// `done` as a percentage of `total` (100 for an empty total).
pub fn percent(done: u64, total: u64) -> f64 {
    if total == 0 {
        100.0
    } else {
        done as f64 * 100.0 / total as f64
    }
}

/// The ranges as `[a, b) [c, d)`, adjacent ones merged.
fn format_ranges(ranges: &[std::ops::Range<u64>]) -> String {
    if ranges.is_empty() {
        return t!("report.none").into_owned();
    }
    merged(ranges)
        .iter()
        .map(|r| format!("[{}, {})", r.start, r.end))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `4 ranges, 25.0%`: how many ranges, and what share of all `steps` they hold.
fn summarise_ranges(ranges: &[std::ops::Range<u64>], steps: u64) -> String {
    let indices: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    format!(
        "{}, {:.1}%",
        text::count(ranges.len() as u64, &t!("word.range"), &t!("word.ranges")),
        percent(indices, steps)
    )
}

/// The ranges in order, those that touch joined into one.
fn merged(ranges: &[std::ops::Range<u64>]) -> Vec<std::ops::Range<u64>> {
    let mut sorted = ranges.to_vec();
    sorted.sort_by_key(|r| r.start);
    let mut out: Vec<std::ops::Range<u64>> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if last.end == r.start => last.end = r.end,
            _ => out.push(r),
        }
    }
    out
}

/// One line of `--verbose` narration for an event, `elapsed` after the run started.
pub fn narrate(event: &Event, elapsed: std::time::Duration) -> String {
    let me = format!(
        "{} +{:.1} ms",
        std::process::id(),
        elapsed.as_secs_f64() * 1e3
    );
    let what = match event {
        Event::Spawned { index, pid } => t!("narrate.spawned", index = index, pid = pid),
        Event::Sent { index, range, via } => t!(
            "narrate.sent",
            index = index,
            start = range.start,
            end = range.end,
            via = via.words()
        ),
        Event::Received {
            index,
            pid,
            range,
            partial,
            compute_seconds,
        } => t!(
            "narrate.received",
            index = index,
            pid = pid,
            start = range.start,
            end = range.end,
            partial = format!("{partial:.15}"),
            seconds = format!("{compute_seconds:.3}")
        ),
        Event::Assigned { index, range } => t!(
            "narrate.assigned",
            index = index,
            start = range.start,
            end = range.end
        ),
        Event::Mapped { chunks } => t!("narrate.mapped", chunks = chunks),
        Event::Queued { chunks } => t!("narrate.queued", chunks = chunks),
        Event::Took { index, range } => t!(
            "narrate.took",
            index = index,
            start = range.start,
            end = range.end
        ),
        Event::Exited {
            index,
            pid,
            exitcode,
        } => {
            let how = if *exitcode < 0 {
                t!("narrate.exit_signal", signal = signal_name(-exitcode))
            } else {
                t!("narrate.exit_status", code = exitcode)
            };
            t!("narrate.exited", index = index, pid = pid, how = how)
        }
        Event::Stopping { reason } => t!("narrate.stopping", reason = reason),
        Event::Progress { index, done } => t!(
            "narrate.progress",
            index = index,
            done = text::count(*done, &t!("word.index"), &t!("word.indices"))
        ),
        Event::Retrying {
            retry,
            attempt,
            allowed,
        } => describe_retry(retry, *attempt, *allowed).into(),
    };
    format!("{} {what}", t!("narrate.master", me = me))
}

/// `worker 1 (pid 4242, range [0, 500)) was killed by signal 9 (SIGKILL) before sending its
/// result; its range goes to a new worker (retry 1 of 3)`.
pub fn describe_retry(retry: &Retry, attempt: u32, allowed: u32) -> String {
    let who = match (&retry.pid, &retry.range) {
        (Some(pid), Some(r)) => t!(
            "report.who_pid_range",
            pid = pid,
            start = r.start,
            end = r.end
        ),
        (Some(pid), None) => t!("report.who_pid", pid = pid),
        (None, Some(r)) => t!("report.who_range", start = r.start, end = r.end),
        (None, None) => "".into(),
    };
    let then = if retry.range.is_some() {
        t!("report.retry_range")
    } else {
        t!("report.retry_place")
    };
    t!(
        "report.retry",
        index = retry.index,
        who = who,
        cause = retry.cause,
        then = then,
        attempt = attempt,
        allowed = allowed
    )
    .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::master::{Config, Traffic, WorkerRun};

    /// A queue run of 2 workers over 1000 steps in `chunks` chunks of equal size, taken in
    /// turns (so no two of a worker's chunks touch), or all by worker 0 when `one_takes_all`.
    fn queue_run(chunks: u64, one_takes_all: bool) -> Run {
        let size = 1000 / chunks;
        let worker = |index: usize| WorkerRun {
            index,
            pid: 100 + index as u32,
            ranges: (0..chunks)
                .filter(|c| {
                    if one_takes_all {
                        index == 0
                    } else {
                        *c as usize % 2 == index
                    }
                })
                .map(|c| c * size..(c + 1) * size)
                .collect(),
            partial_sum: 1.5,
            compute_seconds: 0.1,
            exitcode: 0,
            peak_rss_kib: 4000,
            host: None,
        };
        Run {
            config: Config {
                procs: 2,
                steps: 1000,
                ipc: Ipc::Queue,
                chunks: Some(chunks),
                progress: false,
                timeout: None,
                retries: 0,
            },
            pi: std::f64::consts::PI,
            wall_seconds: 0.2,
            master_pid: 99,
            workers: vec![worker(0), worker(1)],
            traffic: Traffic::default(),
            retries: Vec::new(),
        }
    }

    fn human(run: &Run, full: bool) -> String {
        let mut out = Vec::new();
        write_human(&mut out, run, full).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ranges_that_do_not_fit_are_summarised_within_80_columns() {
        let text = human(&queue_run(20, false), false);
        for line in text.lines() {
            assert!(line.chars().count() <= WIDTH, "{line:?} in\n{text}");
        }
        assert!(text.contains("share of steps"), "{text}");
        assert!(text.contains("10 ranges, 50.0%"), "{text}");
        assert!(text.contains("in full: --verbose or --json"), "{text}");
        // With --verbose every range is there.
        let full = human(&queue_run(20, false), true);
        assert!(full.contains("[0, 50) [100, 150)"), "{full}");
        assert!(full.contains("[950, 1000)"), "{full}");
        assert!(!full.contains("share of steps"), "{full}");
    }

    #[test]
    fn adjacent_ranges_are_merged() {
        let text = human(&queue_run(20, true), false);
        assert!(text.contains("[0, 1000)"), "{text}");
        assert!(text.contains("(none)"), "{text}");
        assert!(!text.contains("in full"), "{text}");
    }
}

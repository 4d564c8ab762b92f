//! `pi-master --timeline`: where each worker's time went, drawn after the run.
//!
//! The master notes, as they happen, when each worker was started, when it was given (or
//! took) its work, when each result arrived and when it was reaped; each result carries the
//! worker's own computing time, which places its computing just before the result arrived.
//! Drawn in the terminal in 80 columns (one row per worker), or as a picture. It shows a
//! class where the time goes: starting a process costs a millisecond or two, computing is the
//! bulk, and 4 workers on 2 cores each compute twice as long as 2 workers do, so the run is no
//! faster.

use std::io::{self, Write};
use std::time::Instant;

use serde::Serialize;

use crate::master::Event;
use crate::plot::{self, Format};
use crate::text::WIDTH;
use rust_i18n::t;

/// One worker's moments, in seconds from the start of the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WorkerTimeline {
    /// The worker's index.
    pub index: usize,
    /// Its pid.
    pub pid: u32,
    /// When it was started.
    pub started: Option<f64>,
    /// When it was given each range, or took each chunk (as the master saw it).
    pub given: Vec<f64>,
    /// Each computation, `[start, end]`: it ended when its result arrived, and began the
    /// worker's own computing time before that (never before the work was given).
    pub computing: Vec<[f64; 2]>,
    /// When it was reaped (`None` for a pool's workers, reaped with their pool at the end).
    pub reaped: Option<f64>,
}

/// The whole run's timeline.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timeline {
    /// Seconds from the start to the last event.
    pub seconds: f64,
    /// One per worker index (a replaced worker's moments go on under the same index).
    pub workers: Vec<WorkerTimeline>,
}

/// Notes the moments of a run from its events.
pub struct Recorder {
    started: Instant,
    timeline: Timeline,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// A recorder whose clock starts now (just before the run).
    pub fn new() -> Recorder {
        Recorder {
            started: Instant::now(),
            timeline: Timeline::default(),
        }
    }

    fn worker(&mut self, index: usize) -> &mut WorkerTimeline {
        let workers = &mut self.timeline.workers;
        while workers.len() <= index {
            let next = workers.len();
            workers.push(WorkerTimeline {
                index: next,
                ..WorkerTimeline::default()
            });
        }
        &mut workers[index]
    }

    /// Notes `event`, now.
    pub fn observe(&mut self, event: &Event) {
        let now = self.started.elapsed().as_secs_f64();
        self.timeline.seconds = now;
        match event {
            Event::Spawned { index, pid } => {
                let w = self.worker(*index);
                w.pid = *pid;
                w.started.get_or_insert(now);
            }
            Event::Sent { index, .. }
            | Event::Assigned { index, .. }
            | Event::Took { index, .. } => self.worker(*index).given.push(now),
            Event::Received {
                index,
                pid,
                compute_seconds,
                ..
            } => {
                let w = self.worker(*index);
                w.pid = *pid;
                // Not before the work was given, nor before the previous computation ended.
                let floor = w
                    .computing
                    .last()
                    .map(|c| c[1])
                    .into_iter()
                    .chain(w.given.first().copied())
                    .chain(w.started)
                    .fold(0.0, f64::max);
                w.computing.push([(now - compute_seconds).max(floor), now]);
            }
            Event::Exited { index, .. } => self.worker(*index).reaped = Some(now),
            _ => {}
        }
    }

    /// The timeline noted so far.
    pub fn finish(self) -> Timeline {
        self.timeline
    }
}

/// What a worker was doing at one moment, as drawn.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Not started yet, or reaped.
    Absent,
    /// Started, no work given yet: the process is starting.
    Starting,
    /// Alive with no computation under way: waiting for work, a message, or its reaping.
    Waiting,
    /// Computing.
    Computing,
    /// Its last result sent: exiting, then waiting to be reaped (the master reaps its workers
    /// once every result is in; until then an exited worker is a zombie).
    Done,
}

impl Phase {
    fn glyph(self) -> char {
        match self {
            Phase::Absent => ' ',
            Phase::Starting => '.',
            Phase::Waiting => '-',
            Phase::Computing => '#',
            Phase::Done => '_',
        }
    }
}

impl WorkerTimeline {
    /// Its phase at `t`, in a run that ended at `end`.
    fn phase_at(&self, t: f64, end: f64) -> Phase {
        let Some(started) = self.started else {
            // A pool's worker: known only by its computations.
            return if self.computing.iter().any(|c| c[0] <= t && t < c[1]) {
                Phase::Computing
            } else if self.computing.last().is_some_and(|c| t >= c[1]) && t < end {
                Phase::Done
            } else if t < end {
                Phase::Waiting
            } else {
                Phase::Absent
            };
        };
        if t < started || self.reaped.is_some_and(|r| t >= r) || t >= end {
            Phase::Absent
        } else if self.computing.iter().any(|c| c[0] <= t && t < c[1]) {
            Phase::Computing
        } else if t < self.first_work() {
            Phase::Starting
        } else if self.computing.last().is_some_and(|c| t >= c[1]) {
            Phase::Done
        } else {
            Phase::Waiting
        }
    }

    /// When its first work arrived or its first computation began, whichever came first.
    fn first_work(&self) -> f64 {
        let given = self.given.first().copied().unwrap_or(f64::INFINITY);
        let computing = self.computing.first().map_or(f64::INFINITY, |c| c[0]);
        given.min(computing)
    }

    /// Seconds spent computing.
    fn computing_seconds(&self) -> f64 {
        self.computing.iter().map(|c| c[1] - c[0]).sum()
    }
}

/// `row` with each computation in `computing` shown by at least one `#`: one shorter than half
/// a column holds no column by itself, and a worker that computed in many short bursts would
/// look idle. The column of its middle shows it.
fn with_every_computation(row: String, computing: &[[f64; 2]], per_column: f64) -> String {
    let mut cells: Vec<char> = row.chars().collect();
    let Some(last) = cells.len().checked_sub(1) else {
        return row;
    };
    let column = |t: f64| ((t / per_column).max(0.0) as usize).min(last);
    for &[from, to] in computing {
        let (first, end) = (column(from), column(to));
        if !cells[first..=end].contains(&Phase::Computing.glyph()) {
            cells[column((from + to) / 2.0)] = Phase::Computing.glyph();
        }
    }
    cells.into_iter().collect()
}

/// `12.3 ms` or `1.23 s`.
fn human_seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// Columns before each track: `worker 12 ` and after it: ` 123.4 ms`.
const LABEL: usize = 10;
const TAIL: usize = 10;

/// Draws `timeline` in [`WIDTH`] columns: one row per worker, a scale, a legend, and when
/// there are more workers than `cpus`, what that costs each of them.
pub fn write_text(out: &mut dyn Write, timeline: &Timeline, cpus: usize) -> io::Result<()> {
    let track = WIDTH - LABEL - TAIL;
    let end = timeline.seconds.max(1e-9);
    let per_column = end / track as f64;
    writeln!(
        out,
        "{}",
        t!(
            "timeline.title",
            end = human_seconds(end),
            column = human_seconds(per_column)
        )
    )?;
    for w in &timeline.workers {
        // Each column shows the phase that held most of its time, computing first.
        let row: String = (0..track)
            .map(|c| {
                let samples = 8;
                let phases: Vec<Phase> = (0..samples)
                    .map(|k| {
                        let t = (c as f64 + (k as f64 + 0.5) / samples as f64) * per_column;
                        w.phase_at(t, end)
                    })
                    .collect();
                let most = [
                    Phase::Computing,
                    Phase::Starting,
                    Phase::Waiting,
                    Phase::Done,
                    Phase::Absent,
                ]
                .into_iter()
                .max_by_key(|p| phases.iter().filter(|q| *q == p).count())
                .unwrap_or(Phase::Absent);
                if phases.contains(&Phase::Computing)
                    && phases.iter().filter(|p| **p == Phase::Computing).count() * 2 >= samples
                {
                    Phase::Computing.glyph()
                } else {
                    most.glyph()
                }
            })
            .collect();
        let row = with_every_computation(row, &w.computing, per_column);
        let row = match w.reaped {
            Some(r) if r <= end => {
                // The reaping, as `|` at its moment.
                let at = ((r / per_column) as usize).min(track - 1);
                let mut chars: Vec<char> = row.chars().collect();
                chars[at] = '|';
                chars.into_iter().collect()
            }
            _ => row,
        };
        writeln!(
            out,
            "{:<LABEL$}{row}{:>TAIL$}",
            t!("timeline.worker", index = w.index),
            human_seconds(w.computing_seconds())
        )?;
    }
    writeln!(out, "{:LABEL$}{}", "", t!("timeline.legend"))?;
    writeln!(out, "{:LABEL$}{}", "", t!("timeline.legend2"))?;
    let workers = timeline.workers.len();
    if workers > cpus && cpus > 0 {
        writeln!(out)?;
        let why = t!(
            "timeline.share",
            workers = workers,
            cpus = crate::text::count(cpus as u64, &t!("word.cpu"), &t!("word.cpus")),
            share = format!("{cpus}/{workers}"),
            few = cpus
        );
        out.write_all(crate::text::wrap(&why, "", "").as_bytes())?;
    }
    Ok(())
}

/// Draws `timeline` as a picture (one bar per worker, coloured by phase) in `format`.
pub fn plot(timeline: &Timeline, format: Format) -> Result<Vec<u8>, String> {
    let end = timeline.seconds.max(1e-9);
    let steps = 800;
    let rows: Vec<plot::BarRow> = timeline
        .workers
        .iter()
        .map(|w| {
            // Runs of one phase, from samples across the run.
            let mut spans: Vec<(f64, f64, usize)> = Vec::new();
            for i in 0..steps {
                let (a, b) = (
                    end * i as f64 / steps as f64,
                    end * (i + 1) as f64 / steps as f64,
                );
                let kind = match w.phase_at((a + b) / 2.0, end) {
                    Phase::Absent => continue,
                    Phase::Starting => 0,
                    Phase::Waiting => 1,
                    Phase::Computing => 2,
                    Phase::Done => 3,
                };
                match spans.last_mut() {
                    Some(last) if last.2 == kind && (last.1 - a).abs() < 1e-12 => last.1 = b,
                    _ => spans.push((a, b, kind)),
                }
            }
            plot::BarRow {
                label: t!("timeline.plot_worker", index = w.index, pid = w.pid).into_owned(),
                spans: spans
                    .into_iter()
                    .map(|(a, b, k)| (a * 1e3, b * 1e3, k))
                    .collect(),
            }
        })
        .collect();
    plot::draw_bars(
        format,
        &t!("timeline.plot_title"),
        &t!("timeline.plot_x"),
        end * 1e3,
        &rows,
        &[
            (&t!("timeline.starting"), plot::COLORS[0]),
            (&t!("timeline.waiting"), plot::COLORS[4]),
            (&t!("timeline.computing"), plot::COLORS[1]),
            (
                &t!("timeline.done"),
                plotters::style::RGBColor(200, 200, 200),
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_workers() -> Timeline {
        Timeline {
            seconds: 0.1,
            workers: vec![
                WorkerTimeline {
                    index: 0,
                    pid: 10,
                    started: Some(0.0),
                    given: vec![0.01],
                    computing: vec![[0.01, 0.09]],
                    reaped: Some(0.095),
                },
                WorkerTimeline {
                    index: 1,
                    pid: 11,
                    started: Some(0.005),
                    given: vec![0.02],
                    computing: vec![[0.02, 0.05]],
                    reaped: Some(0.06),
                },
            ],
        }
    }

    #[test]
    fn the_text_fits_80_columns_and_shows_the_phases_in_order() {
        let mut out = Vec::new();
        write_text(&mut out, &two_workers(), 1).unwrap();
        let text = String::from_utf8(out).unwrap();
        for line in text.lines() {
            assert!(line.chars().count() <= WIDTH, "{line:?}\n{text}");
        }
        let row = text.lines().find(|l| l.starts_with("worker 1")).unwrap();
        let track = &row[LABEL..LABEL + WIDTH - LABEL - TAIL];
        let first = |c: char| track.find(c).unwrap();
        assert!(first('.') < first('#'), "{track}");
        assert!(first('#') < first('_'), "{track}");
        assert!(first('_') < first('|'), "{track}");
        assert!(track.trim_end().ends_with('|'), "{track}");
        assert!(row.ends_with("30.0 ms"), "{row}");
        assert!(text.contains("2 workers share 1 CPU"), "{text}");
    }

    #[test]
    fn every_computation_shows_however_short() {
        // Five bursts of 0.1 ms in a 60 ms run: each far shorter than half a column (1 ms).
        let bursts: Vec<[f64; 2]> = (0..5)
            .map(|k| {
                let from = 0.010 + 0.008 * k as f64;
                [from, from + 0.0001]
            })
            .collect();
        let timeline = Timeline {
            seconds: 0.06,
            workers: vec![WorkerTimeline {
                index: 0,
                pid: 10,
                started: Some(0.0),
                given: vec![0.005],
                computing: bursts.clone(),
                reaped: Some(0.055),
            }],
        };
        let mut out = Vec::new();
        write_text(&mut out, &timeline, 2).unwrap();
        let text = String::from_utf8(out).unwrap();
        let row = text.lines().find(|l| l.starts_with("worker 0")).unwrap();
        let track = &row[LABEL..LABEL + WIDTH - LABEL - TAIL];
        assert_eq!(track.matches('#').count(), bursts.len(), "{track}");
        // Each where it happened.
        let per_column = 0.06 / track.len() as f64;
        for [from, to] in bursts {
            let at = ((from + to) / 2.0 / per_column) as usize;
            assert_eq!(track.as_bytes()[at], b'#', "{at}: {track}");
        }
    }

    #[test]
    fn computing_starts_no_earlier_than_the_work_was_given() {
        let mut recorder = Recorder::new();
        recorder.observe(&Event::Spawned { index: 0, pid: 7 });
        recorder.observe(&Event::Sent {
            index: 0,
            range: 0..10,
            via: crate::master::Via::Pipe,
        });
        // A computing time longer than the run so far is clamped to the work's arrival.
        recorder.observe(&Event::Received {
            index: 0,
            pid: 7,
            range: 0..10,
            partial: 1.0,
            compute_seconds: 100.0,
        });
        let t = recorder.finish();
        let w = &t.workers[0];
        assert!(w.computing[0][0] >= w.given[0]);
        assert!(w.computing[0][0] <= w.computing[0][1]);
    }
}

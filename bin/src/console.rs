//! What `pi-master` shows on stderr while it runs: `--verbose` narration and progress.
//!
//! Progress is one bar per worker on a terminal (so a class watches N processes fill at once),
//! or a plain line about once a second when stderr is a file or a pipe. It never touches
//! stdout, so `--json` output stays one clean object.

use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::master::{Event, Plan};
use crate::report::{narrate, percent};

/// More workers than this share one bar instead of one bar each.
const MAX_BARS: usize = 32;
/// Plain-text progress lines come at most this often.
const LINE_EVERY: Duration = Duration::from_secs(1);

enum Display {
    Off,
    Bars {
        multi: MultiProgress,
        /// One per worker (sized by `Console::worker_totals`), or a single one for all.
        bars: Vec<ProgressBar>,
    },
    Lines {
        last: Instant,
    },
}

/// Shows run events on stderr.
pub struct Console {
    verbose: bool,
    display: Display,
    started: Instant,
    /// Indices in all.
    total: u64,
    /// Indices each worker was given, when known in advance (pipe and shm modes).
    worker_totals: Option<Vec<u64>>,
    /// Indices of finished ranges, per worker.
    finished: Vec<u64>,
    /// Indices done, per worker: finished ranges plus the current one's progress.
    done: Vec<u64>,
}

impl Console {
    /// A console for a run of `plan`; `bars` chooses terminal bars over plain lines when
    /// progress is shown. There is one bar per worker when the plan says in advance what each
    /// computes (pipe and shm modes), else one bar for all (queue and pool modes).
    pub fn new(verbose: bool, progress: bool, bars: bool, plan: &Plan) -> Console {
        let procs = plan.config().procs;
        let total = plan.config().steps;
        let worker_totals = plan.per_worker();
        let display = match (progress, bars) {
            (false, _) => Display::Off,
            (true, true) => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                let style = ProgressStyle::with_template(
                    "{prefix:>11} [{bar:40.cyan/blue}] {percent:>3}% {pos}/{len}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("#>-");
                let make = |len: u64, prefix: String| {
                    let bar = multi.add(ProgressBar::new(len));
                    bar.set_style(style.clone());
                    bar.set_prefix(prefix);
                    bar
                };
                let bars = match &worker_totals {
                    Some(lens) if lens.len() <= MAX_BARS => lens
                        .iter()
                        .enumerate()
                        .map(|(i, len)| make(*len, format!("worker {i}")))
                        .collect(),
                    _ => vec![make(total, format!("{procs} workers"))],
                };
                Display::Bars { multi, bars }
            }
            (true, false) => Display::Lines {
                last: Instant::now(),
            },
        };
        Console {
            verbose,
            display,
            started: Instant::now(),
            total,
            worker_totals,
            finished: vec![0; procs],
            done: vec![0; procs],
        }
    }

    /// Shows one event.
    pub fn observe(&mut self, event: &Event) {
        match event {
            Event::Progress { index, done } => self.advance(*index, Some(*done)),
            Event::Received { index, range, .. } => {
                if let Some(f) = self.finished.get_mut(*index) {
                    *f += range.end - range.start;
                }
                self.advance(*index, None);
            }
            _ => {}
        }
        // A lost worker replaced is news even without --verbose: the user should know.
        if let (
            false,
            Event::Retrying {
                retry,
                attempt,
                allowed,
            },
        ) = (self.verbose, event)
        {
            let line = format!(
                "pi-master: {}",
                crate::report::describe_retry(retry, *attempt, *allowed)
            );
            match &self.display {
                Display::Bars { multi, .. } => {
                    let _ = multi.println(line);
                }
                _ => crate::stderr::line(line),
            }
        }
        if self.verbose && !matches!(event, Event::Progress { .. }) {
            let line = narrate(event, self.started.elapsed());
            match &self.display {
                Display::Bars { multi, .. } => {
                    let _ = multi.println(line);
                }
                _ => crate::stderr::line(line),
            }
        }
    }

    /// Worker `index` has done `total_done` indices in all (`None`: just its finished ranges).
    fn advance(&mut self, index: usize, total_done: Option<u64>) {
        if index >= self.done.len() {
            return;
        }
        self.done[index] = total_done
            .unwrap_or(self.finished[index])
            .max(self.finished[index]);
        let total = self.total;
        let sum = self.done.iter().sum::<u64>().min(total);
        match &mut self.display {
            Display::Off => {}
            Display::Bars { bars, .. } => match &self.worker_totals {
                Some(lens) if bars.len() == lens.len() => {
                    bars[index].set_position(self.done[index].min(lens[index]));
                }
                _ => bars[0].set_position(sum),
            },
            Display::Lines { last } => {
                if sum >= total || last.elapsed() >= LINE_EVERY {
                    *last = Instant::now();
                    crate::stderr::line(format!(
                        "progress: {:.0}% ({sum} of {total} steps) after {:.1} s",
                        percent(sum, total),
                        self.started.elapsed().as_secs_f64()
                    ));
                }
            }
        }
    }

    /// Removes the bars, if any, before the report is printed.
    pub fn finish(&mut self) {
        if let Display::Bars { multi, bars } = &self.display {
            for bar in bars {
                bar.finish_and_clear();
            }
            let _ = multi.clear();
        }
    }
}

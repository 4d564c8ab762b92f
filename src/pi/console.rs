//! What `pi-master` shows on stderr while it runs: `--verbose` narration and progress.
//!
//! Progress is one bar per worker on a terminal (so a class watches N processes fill at once),
//! or a plain line about once a second when stderr is a file or a pipe. It never touches
//! stdout, so `--json` output stays one clean object.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::master::Event;
use super::report::{narrate, percent};

/// More workers than this share one bar instead of one bar each.
const MAX_BARS: usize = 32;
/// Plain-text progress lines come at most this often.
const LINE_EVERY: Duration = Duration::from_secs(1);

enum Progress {
    Off,
    Bars {
        multi: MultiProgress,
        bars: Vec<ProgressBar>,
        done: Vec<u64>,
    },
    Lines {
        done: Vec<u64>,
        totals: Vec<u64>,
        last: Instant,
    },
}

/// Shows run events on stderr.
pub struct Console {
    verbose: bool,
    progress: Progress,
    started: Instant,
}

impl Console {
    /// A console for a run of `ranges` (one length per worker); `bars` chooses terminal bars
    /// over plain lines when progress is shown.
    pub fn new(verbose: bool, progress: bool, bars: bool, ranges: &[u64]) -> Console {
        let progress = match (progress, bars) {
            (false, _) => Progress::Off,
            (true, true) => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                let style = ProgressStyle::with_template(
                    "{prefix:>10} [{bar:40.cyan/blue}] {percent:>3}% {pos}/{len}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("#>-");
                let bars = if ranges.len() <= MAX_BARS {
                    ranges
                        .iter()
                        .enumerate()
                        .map(|(i, len)| {
                            let bar = multi.add(ProgressBar::new(*len));
                            bar.set_style(style.clone());
                            bar.set_prefix(format!("worker {i}"));
                            bar
                        })
                        .collect()
                } else {
                    let bar = multi.add(ProgressBar::new(ranges.iter().sum()));
                    bar.set_style(style);
                    bar.set_prefix(format!("{} workers", ranges.len()));
                    vec![bar]
                };
                Progress::Bars {
                    multi,
                    bars,
                    done: vec![0; ranges.len()],
                }
            }
            (true, false) => Progress::Lines {
                done: vec![0; ranges.len()],
                totals: ranges.to_vec(),
                last: Instant::now(),
            },
        };
        Console {
            verbose,
            progress,
            started: Instant::now(),
        }
    }

    /// Shows one event.
    pub fn observe(&mut self, event: &Event) {
        let finished = match event {
            Event::Progress { index, done, .. } => Some((*index, *done)),
            Event::Received { index, .. } => Some((*index, u64::MAX)),
            _ => None,
        };
        if let Some((index, done)) = finished {
            self.advance(index, done);
        }
        if self.verbose && !matches!(event, Event::Progress { .. }) {
            let line = narrate(event, self.started.elapsed());
            match &self.progress {
                Progress::Bars { multi, .. } => {
                    let _ = multi.println(line);
                }
                _ => {
                    let _ = writeln!(io::stderr(), "{line}");
                }
            }
        }
    }

    fn advance(&mut self, index: usize, done: u64) {
        match &mut self.progress {
            Progress::Off => {}
            Progress::Bars {
                bars, done: all, ..
            } => {
                if bars.len() == all.len() {
                    let bar = &bars[index];
                    bar.set_position(done.min(bar.length().unwrap_or(0)));
                } else {
                    let total = bars[0].length().unwrap_or(0);
                    all[index] = done;
                    let sum: u64 = all.iter().map(|d| (*d).min(total)).sum();
                    bars[0].set_position(sum.min(total));
                }
            }
            Progress::Lines {
                done: all,
                totals,
                last,
            } => {
                all[index] = done.min(totals[index]);
                let complete = all.iter().zip(totals.iter()).all(|(d, t)| d >= t);
                if complete || last.elapsed() >= LINE_EVERY {
                    *last = Instant::now();
                    let sum: u64 = all.iter().sum();
                    let total: u64 = totals.iter().sum();
                    let _ = writeln!(
                        io::stderr(),
                        "progress: {:.0}% ({sum} of {total} steps) after {:.1} s",
                        percent(sum, total),
                        self.started.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }

    /// Removes the bars, if any, before the report is printed.
    pub fn finish(&mut self) {
        if let Progress::Bars { multi, bars, .. } = &self.progress {
            for bar in bars {
                bar.finish_and_clear();
            }
            let _ = multi.clear();
        }
    }
}

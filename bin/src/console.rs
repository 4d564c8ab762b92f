//! What `pi-master` shows on stderr while it runs: `--verbose` narration and progress.
//!
//! Progress, on a terminal, is one bar per worker under a bar for the whole run, so a class
//! watches N processes fill at once: in pipe and shm modes a worker's bar is its own range; in
//! queue and pool modes, where workers take chunks as they go, it is the worker's share of all
//! the steps (four workers end near 25% each, a fast one higher). Bars show percentages and the
//! whole run's time left, and fit the terminal's width. When stderr is a file or a pipe, a
//! plain line comes about once a second instead. Progress never touches stdout, so `--json`
//! output stays one clean object, and the bars are cleared before anything else is said.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

use crate::master::{Event, Plan};
use crate::report::{narrate, percent};
use crate::text::WIDTH;
use rust_i18n::t;

/// More workers than this get only the bar for the whole run (a terminal has few rows).
const MAX_BARS: usize = 32;
/// Columns left free at the right of every bar line: room for an echoed `^C`.
const ECHO_ROOM: u16 = 3;
/// Redraws per second at most.
const DRAWS_PER_SECOND: u8 = 20;
/// Plain-text progress lines come at most this often.
const LINE_EVERY: Duration = Duration::from_secs(1);

/// The terminal on stderr, as a few columns narrower than it is.
///
/// indicatif pads every bar line to the terminal's width and lets the terminal wrap the
/// cursor to the next row, which leaves the cursor at the right edge after the last bar: a
/// Ctrl-C that the terminal then echoes as `^C` wraps to a new row, the bars are cleared one
/// row too low, and a stale bar stays on the screen. Drawn to a width a few columns short, and
/// with the row ends written out (before each line that follows a padded one), the cursor
/// rests short of the edge: the echo stays on the last bar's row and is cleared with it.
#[derive(Debug)]
struct NarrowTerm {
    term: console::Term,
    /// A padded line was just written: the next line starts on the next row.
    row_ended: AtomicBool,
}

impl NarrowTerm {
    fn stderr() -> NarrowTerm {
        NarrowTerm {
            term: console::Term::stderr(),
            row_ended: AtomicBool::new(false),
        }
    }

    /// Starts a new draw or a cursor move: no row end is owed.
    fn reset(&self) {
        self.row_ended.store(false, Ordering::Relaxed);
    }
}

impl TermLike for NarrowTerm {
    fn width(&self) -> u16 {
        self.term.size().1.saturating_sub(ECHO_ROOM).max(20)
    }

    fn height(&self) -> u16 {
        self.term.size().0
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.reset();
        self.term.move_cursor_up(n)
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.reset();
        self.term.move_cursor_down(n)
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.term.move_cursor_right(n)
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.term.move_cursor_left(n)
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.reset();
        self.term.write_line(s)
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        // indicatif writes a line, then the spaces that pad it to the width (maybe none).
        let padding = s.bytes().all(|b| b == b' ');
        if !padding && s != "\r" && self.row_ended.swap(false, Ordering::Relaxed) {
            self.term.write_str("\r\n")?;
        }
        if padding {
            self.row_ended.store(true, Ordering::Relaxed);
        }
        self.term.write_str(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.reset();
        self.term.clear_line()
    }

    fn flush(&self) -> std::io::Result<()> {
        self.term.flush()
    }
}

enum Display {
    Off,
    Bars {
        multi: MultiProgress,
        /// The whole run.
        all: ProgressBar,
        /// One per worker (none past [`MAX_BARS`] workers).
        workers: Vec<ProgressBar>,
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
    /// Indices of finished ranges, per worker.
    finished: Vec<u64>,
    /// Indices done, per worker: finished ranges plus the current one's progress.
    done: Vec<u64>,
}

impl Console {
    /// A console for a run of `plan`; `bars` chooses terminal bars over plain lines when
    /// progress is shown.
    pub fn new(verbose: bool, progress: bool, bars: bool, plan: &Plan) -> Console {
        let procs = plan.config().procs;
        let total = plan.config().steps;
        let display = match (progress, bars) {
            (false, _) => Display::Off,
            (true, true) => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::term_like_with_hz(
                    Box::new(NarrowTerm::stderr()),
                    DRAWS_PER_SECOND,
                ));
                let style = |template: &str| {
                    ProgressStyle::with_template(template)
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("#>-")
                };
                let all = multi.add(ProgressBar::new(total));
                all.set_style(style(&format!(
                    "{{prefix:>9}} [{{wide_bar:.green}}] {{percent:>3}}%  {{eta:>3}} {}",
                    t!("progress.left")
                )));
                all.set_prefix(t!("progress.all").into_owned());
                // A worker's bar: its range (pipe, shm), or its share of all the steps.
                let (lens, of) = match plan.per_worker() {
                    Some(lens) => (lens, String::new()),
                    None => (vec![total; procs], format!(" {}", t!("progress.of_all"))),
                };
                // Padded to the width of the whole run's line, so the bars line up.
                let worker_style = style(&format!(
                    "{{prefix:>9}} [{{wide_bar:.cyan/blue}}] {{percent:>3}}%{of:<10}"
                ));
                let workers = if procs <= MAX_BARS {
                    lens.iter()
                        .enumerate()
                        .map(|(i, len)| {
                            let bar = multi.add(ProgressBar::new(*len));
                            bar.set_style(worker_style.clone());
                            bar.set_prefix(t!("progress.worker", index = i).into_owned());
                            bar
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                Display::Bars {
                    multi,
                    all,
                    workers,
                }
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
            Display::Bars { all, workers, .. } => {
                all.set_position(sum);
                if let Some(bar) = workers.get(index) {
                    bar.set_position(self.done[index].min(bar.length().unwrap_or(u64::MAX)));
                }
            }
            Display::Lines { last } => {
                if sum >= total || last.elapsed() >= LINE_EVERY {
                    *last = Instant::now();
                    crate::stderr::line(progress_line(
                        sum,
                        total,
                        self.started.elapsed(),
                        &self.done,
                    ));
                }
            }
        }
    }

    /// Removes the bars, if any, before the report is printed.
    pub fn finish(&mut self) {
        if let Display::Bars {
            multi,
            all,
            workers,
        } = &self.display
        {
            for bar in workers.iter().chain([all]) {
                bar.finish_and_clear();
            }
            let _ = multi.clear();
        }
        self.display = Display::Off;
    }
}

/// `progress: 45% after 1.0 s, about 1.2 s left; workers 50% 40%`, within [`WIDTH`] columns
/// (the workers' shares of all the steps, as many as fit).
fn progress_line(sum: u64, total: u64, elapsed: Duration, done: &[u64]) -> String {
    let seconds = elapsed.as_secs_f64();
    let mut line = t!(
        "progress.line",
        percent = format!("{:.0}", percent(sum, total)),
        seconds = format!("{seconds:.1}")
    )
    .into_owned();
    if sum > 0 && sum < total {
        let left = seconds * (total - sum) as f64 / sum as f64;
        line.push_str(&t!("progress.line_left", left = format!("{left:.1}")));
    }
    if done.len() > 1 {
        let mut workers = t!("progress.line_workers").into_owned();
        for d in done {
            let share = format!(" {:.0}%", percent(*d, total));
            if line.len() + workers.len() + share.len() + " ...".len() > WIDTH {
                workers.push_str(" ...");
                break;
            }
            workers.push_str(&share);
        }
        line.push_str(&workers);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_line_says_percent_time_left_and_fits() {
        let line = progress_line(45, 100, Duration::from_secs(1), &[25, 20]);
        assert_eq!(
            line,
            "progress: 45% after 1.0 s, about 1.2 s left; workers 25% 20%"
        );
        let many = progress_line(45, 100, Duration::from_secs(1), &[1; 64]);
        assert!(many.len() <= WIDTH, "{many}");
        assert!(many.ends_with(" ..."), "{many}");
        assert_eq!(
            progress_line(100, 100, Duration::from_secs(2), &[100]),
            "progress: 100% after 2.0 s"
        );
    }
}

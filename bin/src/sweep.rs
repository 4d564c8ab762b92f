//! `pi-master sweep`: how the run time scales with the number of processes.
//!
//! For each process count the same problem runs a few times; the median wall time gives the
//! speedup S(p) = T(1)/T(p) and the efficiency S(p)/p. Amdahl's law, T(p) = T(1)·(f + (1−f)/p),
//! is fitted by least squares to the counts that do not exceed the CPUs available (beyond them
//! processes only share cores, which the law does not model), giving the serial fraction f.

use std::io::{self, Write};

use plotters::style::{BLUE, RED, RGBColor};
use serde::Serialize;

use crate::master::{self, Config, Event, Ipc, Plan, RunError};
use crate::plot::{Axes, Format, Series, draw};
use crate::stats::median;
use crate::text;
use rust_i18n::t;

/// One process count's measurements.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// Processes.
    pub procs: usize,
    /// Median wall time over the runs.
    pub wall_seconds: f64,
    /// Every run's wall time, in order.
    pub runs: Vec<f64>,
    /// T(1) / T(p).
    pub speedup: f64,
    /// Speedup / p.
    pub efficiency: f64,
    /// The pi computed (the same bits for every p).
    pub pi: f64,
}

/// A finished sweep.
#[derive(Clone, Debug, Serialize)]
pub struct Sweep {
    /// Steps of every run.
    pub steps: u64,
    /// Runs per process count.
    pub repeat: usize,
    /// CPUs available to this process.
    pub cpus: usize,
    /// Amdahl's serial fraction fitted to the counts up to `cpus`; `None` without a count
    /// above 1 in that range.
    pub serial_fraction: Option<f64>,
    /// One point per process count, ascending; the first is always 1 process.
    pub points: Vec<Point>,
    /// What made the timings doubtful: a machine already busy when the sweep began, or
    /// workers that got well under a CPU each while they computed.
    pub warnings: Vec<Warning>,
}

/// What made a sweep's timings doubtful. In `--json` it is said in English whatever the
/// language (the JSON output does not change with it); the table says it in the language
/// chosen.
#[derive(Clone, Debug)]
pub enum Warning {
    /// Other programs kept `busy` CPUs busy before the sweep began.
    Busy {
        /// CPUs' worth of other work.
        busy: f64,
        /// CPUs available.
        cpus: usize,
    },
    /// The workers had a CPU for only `percent` of the time they computed.
    Starved {
        /// That share, in percent.
        percent: f64,
    },
}

impl Warning {
    /// The warning in words: in `locale` (`None`: the language chosen).
    pub fn words(&self, locale: Option<&str>) -> String {
        let locale = locale
            .map(str::to_string)
            .unwrap_or_else(|| rust_i18n::locale().to_string());
        match self {
            Warning::Busy { busy, cpus } => {
                let cpus = text::count(
                    *cpus as u64,
                    &t!("word.cpu", locale = &locale),
                    &t!("word.cpus", locale = &locale),
                );
                t!(
                    "sweep.busy",
                    locale = &locale,
                    busy = format!("{busy:.1}"),
                    cpus = cpus
                )
            }
            Warning::Starved { percent } => t!(
                "sweep.starved",
                locale = &locale,
                percent = format!("{percent:.0}")
            ),
        }
        .into_owned()
    }
}

impl Serialize for Warning {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.words(Some("en")))
    }
}

/// CPUs' worth of work already running when the sweep begins, above which the machine is
/// busy (measured over [`IDLE_SAMPLE`] before the sweep's own runs).
const BUSY_CPUS: f64 = 0.5;
/// How long the machine is watched for other work before the sweep.
const IDLE_SAMPLE: std::time::Duration = std::time::Duration::from_millis(250);
/// Workers that had fewer CPU seconds than this share of their computing seconds were kept
/// waiting by something else.
const MIN_CPU_SHARE: f64 = 0.8;

/// The machine's busy and total CPU time so far, in ticks, and its number of CPUs, from
/// `/proc/stat`.
fn cpu_ticks() -> Option<(u64, u64, usize)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let all: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: u64 = all.iter().take(8).sum();
    let idle = all.get(3)? + all.get(4).copied().unwrap_or(0);
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    Some((total - idle, total, cpus))
}

/// How many CPUs' worth of work other programs are running now, watched over
/// [`IDLE_SAMPLE`].
fn busy_cpus() -> Option<f64> {
    let (busy0, total0, cpus) = cpu_ticks()?;
    std::thread::sleep(IDLE_SAMPLE);
    let (busy1, total1, _) = cpu_ticks()?;
    let total = total1.checked_sub(total0).filter(|t| *t > 0)?;
    Some((busy1 - busy0) as f64 / total as f64 * cpus as f64)
}

/// CPU seconds (user and system) of every child reaped so far.
fn children_cpu_seconds() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_CHILDREN).map_or(0.0, |u| {
        let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 * 1e-6;
        t(u.user_time()) + t(u.system_time())
    })
}

/// Fits f in T(p)/T(1) = f + (1−f)/p, by least squares through the origin on
/// y = T(p)/T(1) − 1/p against x = 1 − 1/p. Clamped to [0, 1].
pub fn fit_serial_fraction(points: &[(usize, f64)], t1: f64) -> Option<f64> {
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for &(p, t) in points.iter().filter(|(p, _)| *p > 1) {
        let x = 1.0 - 1.0 / p as f64;
        let y = t / t1 - 1.0 / p as f64;
        sxy += x * y;
        sxx += x * x;
    }
    (sxx > 0.0).then(|| (sxy / sxx).clamp(0.0, 1.0))
}

/// Runs the sweep. `procs` must be ascending; 1 is added if missing (it is the baseline).
pub fn run(
    steps: u64,
    procs: &[usize],
    repeat: usize,
    observe: &mut dyn FnMut(usize, usize, &Event),
) -> Result<Sweep, RunError> {
    let mut counts = procs.to_vec();
    if counts.first() != Some(&1) {
        counts.insert(0, 1);
    }
    let cpus = multiproc::cpu_count();
    let mut warnings = Vec::new();
    if let Some(busy) = busy_cpus().filter(|b| *b > BUSY_CPUS) {
        warnings.push(Warning::Busy { busy, cpus });
    }
    // CPU seconds the workers got, against the seconds they spent computing, over the runs
    // with no more processes than CPUs (beyond that, sharing cores is the point).
    let (mut cpu, mut computing) = (0.0, 0.0);
    let mut raw: Vec<(usize, Vec<f64>, f64)> = Vec::new();
    for &p in &counts {
        let config = Config {
            procs: p,
            steps,
            ipc: Ipc::Pipe,
            chunks: None,
            progress: false,
            timeout: None,
            retries: 0,
        };
        let plan = Plan::new(&config)?;
        let mut walls = Vec::with_capacity(repeat);
        let mut pi = 0.0;
        for r in 0..repeat {
            let before = children_cpu_seconds();
            let run = master::run(&plan, &mut |e| observe(p, r, e))?;
            if p <= cpus {
                cpu += children_cpu_seconds() - before;
                computing += run.workers.iter().map(|w| w.compute_seconds).sum::<f64>();
            }
            walls.push(run.wall_seconds);
            pi = run.pi;
        }
        raw.push((p, walls, pi));
    }
    let t1 = median(&raw[0].1);
    // Tiny runs measure start-up more than computing; judge only runs that computed a while.
    if computing > 0.2 && cpu < MIN_CPU_SHARE * computing {
        warnings.push(Warning::Starved {
            percent: 100.0 * cpu / computing,
        });
    }
    let fit_points: Vec<(usize, f64)> = raw
        .iter()
        .filter(|(p, _, _)| *p <= cpus)
        .map(|(p, w, _)| (*p, median(w)))
        .collect();
    let points = raw
        .into_iter()
        .map(|(p, runs, pi)| {
            let wall = median(&runs);
            let speedup = t1 / wall;
            Point {
                procs: p,
                wall_seconds: wall,
                runs,
                speedup,
                efficiency: speedup / p as f64,
                pi,
            }
        })
        .collect();
    Ok(Sweep {
        steps,
        repeat,
        cpus,
        serial_fraction: fit_serial_fraction(&fit_points, t1),
        points,
        warnings,
    })
}

/// Writes the sweep as a table, within 80 columns, in the language chosen.
pub fn write_table(out: &mut dyn Write, sweep: &Sweep) -> io::Result<()> {
    let steps = text::count(sweep.steps, &t!("word.step"), &t!("word.steps"));
    let cpus = text::count(sweep.cpus as u64, &t!("word.cpu"), &t!("word.cpus"));
    writeln!(out, "{}", t!("sweep.title", steps = steps))?;
    writeln!(
        out,
        "{}",
        t!(
            "sweep.how",
            runs = text::count(sweep.repeat as u64, &t!("word.run"), &t!("word.runs")),
            cpus = cpus
        )
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "  {:>5}  {:>10}  {:>8}  {:>10}  {:>17}",
        t!("sweep.col_procs"),
        t!("sweep.col_wall"),
        t!("sweep.col_speedup"),
        t!("sweep.col_efficiency"),
        t!("sweep.col_pi")
    )?;
    for p in &sweep.points {
        writeln!(
            out,
            "  {:>5}  {:>10.4}  {:>8.2}  {:>9.0}%  {:>17.15}",
            p.procs,
            p.wall_seconds,
            p.speedup,
            p.efficiency * 100.0,
            p.pi
        )?;
    }
    if let Some(note) = text::debug_build_note(&t!("report.debug_pi")) {
        writeln!(out, "  ({note})")?;
    }
    writeln!(out)?;
    let amdahl = match sweep.serial_fraction {
        Some(f) => t!(
            "sweep.amdahl",
            cpus = sweep.cpus,
            f = format!("{f:.4}"),
            bound = amdahl_bound(f)
        ),
        None => t!("sweep.amdahl_cannot", cpus = sweep.cpus),
    };
    out.write_all(text::wrap(&amdahl, "", "").as_bytes())?;
    for warning in &sweep.warnings {
        writeln!(out)?;
        out.write_all(text::wrap(&warning.words(None), &t!("sweep.warning"), "  ").as_bytes())?;
    }
    Ok(())
}

/// Draws speedup against processes, fit for a projector, in `format`: the ideal line (capped
/// at the CPU count), the measured points, and the fitted Amdahl curve dashed over them.
pub fn plot(sweep: &Sweep, format: Format) -> Result<Vec<u8>, String> {
    let max_p = sweep.points.iter().map(|p| p.procs).max().unwrap_or(1) as f64;
    let max_s = sweep
        .points
        .iter()
        .map(|p| p.speedup)
        .fold(sweep.cpus as f64, f64::max)
        .max(1.0);
    let cpus = sweep.cpus as f64;
    let along: Vec<f64> = (0..=200)
        .map(|i| 1.0 + (max_p - 1.0) * i as f64 / 200.0)
        .collect();
    let ideal: Vec<(f64, f64)> = along.iter().map(|&p| (p, p.min(cpus))).collect();
    let measured: Vec<(f64, f64)> = sweep
        .points
        .iter()
        .map(|p| (p.procs as f64, p.speedup))
        .collect();
    let mut series = vec![Series {
        label: t!(
            "sweep.plot_ideal",
            cpus = text::count(sweep.cpus as u64, &t!("word.cpu"), &t!("word.cpus"))
        )
        .into_owned(),
        points: &ideal,
        color: RGBColor(150, 150, 150),
        width: 3,
        markers: false,
        dashed: false,
    }];
    let amdahl: Vec<(f64, f64)>;
    if let Some(f) = sweep.serial_fraction {
        amdahl = along
            .iter()
            .map(|&p| (p, 1.0 / (f + (1.0 - f) / p.min(cpus))))
            .collect();
        series.push(Series {
            label: t!("sweep.plot_amdahl", f = format!("{f:.3}")).into_owned(),
            points: &amdahl,
            color: RED,
            width: 3,
            markers: false,
            dashed: true,
        });
    }
    series.push(Series {
        label: t!("sweep.plot_measured").into_owned(),
        points: &measured,
        color: BLUE,
        width: 4,
        markers: true,
        dashed: false,
    });
    let axes = Axes {
        x_desc: &t!("sweep.plot_x"),
        y_desc: &t!("sweep.plot_y"),
        x_labels: (max_p as usize + 2).min(20),
        y_labels: 10,
        x_format: &|x| format!("{x:.0}"),
        y_format: &|y| format!("{y}"),
    };
    draw(
        format,
        &t!(
            "sweep.plot_title",
            steps = text::count(sweep.steps, &t!("word.step"), &t!("word.steps"))
        ),
        0.0..max_p * 1.05 + 0.5,
        0.0..max_s * 1.15,
        &axes,
        &series,
    )
}

/// How many times as fast as one process any number can be, by Amdahl's law with serial
/// fraction `f`: `1.3`, not `1` (under ten, a decimal); `33`, not `33.3`.
fn amdahl_bound(f: f64) -> String {
    if f <= 0.0 {
        return t!("sweep.amdahl_unbounded").into_owned();
    }
    let bound = 1.0 / f;
    if bound < 10.0 {
        format!("{bound:.1}")
    } else {
        format!("{bound:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amdahl_bound_keeps_a_decimal_under_ten() {
        assert_eq!(amdahl_bound(0.7812), "1.3");
        assert_eq!(amdahl_bound(0.5), "2.0");
        assert_eq!(amdahl_bound(0.03), "33");
        assert_eq!(amdahl_bound(0.0), t!("sweep.amdahl_unbounded"));
    }

    #[test]
    fn amdahl_fit_recovers_the_fraction() {
        let f = 0.1;
        let t1 = 2.0;
        let points: Vec<(usize, f64)> = [1, 2, 4, 8]
            .iter()
            .map(|&p| (p, t1 * (f + (1.0 - f) / p as f64)))
            .collect();
        let fitted = fit_serial_fraction(&points, t1).unwrap();
        assert!((fitted - f).abs() < 1e-12, "{fitted}");
        assert_eq!(fit_serial_fraction(&[(1, 1.0)], 1.0), None);
    }
}

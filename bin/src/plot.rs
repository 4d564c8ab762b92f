//! Pictures for a projector: the chart style both tools share (size, fonts, line widths, the
//! legend), drawn with plotters into an SVG string; and [`PlotFile`], which puts a picture in
//! its file only once a run has succeeded.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::prelude::*;

/// Pixels of every chart: 16:9, large enough for the back of a room.
pub const SIZE: (u32, u32) = (1280, 720);

/// Grey, blue, red, green, orange: the series colours, in order.
pub const COLORS: [RGBColor; 5] = [
    RGBColor(120, 120, 120),
    RGBColor(0, 0, 255),
    RGBColor(255, 0, 0),
    RGBColor(0, 150, 0),
    RGBColor(230, 130, 0),
];

/// One series of a chart.
pub struct Series<'a> {
    /// The legend's text.
    pub label: String,
    /// The points, in drawing order.
    pub points: &'a [(f64, f64)],
    /// Its colour.
    pub color: RGBColor,
    /// Line width in pixels.
    pub width: u32,
    /// Whether each point gets a dot.
    pub markers: bool,
}

/// The axes' descriptions and label formats.
pub struct Axes<'a> {
    /// The x axis' title.
    pub x_desc: &'a str,
    /// The y axis' title.
    pub y_desc: &'a str,
    /// How many x labels at most.
    pub x_labels: usize,
    /// Formats an x label.
    pub x_format: &'a dyn Fn(&f64) -> String,
    /// Formats a y label.
    pub y_format: &'a dyn Fn(&f64) -> String,
}

/// Draws a chart titled `title` with the given axes and series, over `x` and `y` (plain
/// ranges or `log_scale()` ones), and returns the SVG.
pub fn draw_svg<X, Y>(
    title: &str,
    x: X,
    y: Y,
    axes: &Axes<'_>,
    series: &[Series<'_>],
) -> Result<String, String>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw_on(&root, title, x, y, axes, series).map_err(|e| format!("cannot draw: {e}"))?;
        root.present().map_err(|e| format!("cannot draw: {e}"))?;
    }
    Ok(svg)
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw_on<DB, X, Y>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x: X,
    y: Y,
    axes: &Axes<'_>,
    series: &[Series<'_>],
) -> DrawResult<DB>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 34))
        .margin(30)
        .x_label_area_size(70)
        .y_label_area_size(100)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc(axes.x_desc)
        .y_desc(axes.y_desc)
        .x_labels(axes.x_labels)
        .x_label_formatter(axes.x_format)
        .y_label_formatter(axes.y_format)
        .label_style(("sans-serif", 24))
        .axis_desc_style(("sans-serif", 28))
        .draw()?;
    for s in series {
        let style = s.color.stroke_width(s.width);
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), style))?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], style));
        if s.markers {
            let dot = s.color.filled();
            chart.draw_series(s.points.iter().map(|p| Circle::new(*p, 8, dot)))?;
        }
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 26))
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Where a plot goes: checked before a run starts, written only once the run succeeded.
///
/// Nothing at the target is touched before [`PlotFile::write`]: a run that fails or is
/// interrupted leaves an existing file exactly as it was. A regular file (or a new one) is
/// replaced whole: the picture is written to a temporary file beside it, which is then renamed
/// over it. A target that is not a regular file (`/dev/null`, `/dev/stdout`, a FIFO) is written
/// into as it is, and never removed or replaced.
#[derive(Clone, Debug)]
pub struct PlotFile {
    target: PathBuf,
    in_place: bool,
}

impl PlotFile {
    /// Checks that a plot can be written at `target` (its directory takes new files, or it is
    /// a device or FIFO), without changing anything there.
    pub fn check(target: &Path) -> Result<PlotFile, String> {
        let shown = target.display();
        match fs::metadata(target) {
            Ok(meta) if meta.is_dir() => Err(format!("{shown} is a directory")),
            Ok(meta) if !meta.is_file() => Ok(PlotFile {
                target: target.to_path_buf(),
                in_place: true,
            }),
            found => {
                // Through a symbolic link, replace the file it points to, not the link.
                let target = match found {
                    Ok(_) => fs::canonicalize(target).map_err(|e| format!("{shown}: {e}"))?,
                    Err(_) => target.to_path_buf(),
                };
                let plot = PlotFile {
                    target,
                    in_place: false,
                };
                // Try the directory with a file of our own, removed at once.
                let probe = plot.temporary();
                File::options()
                    .write(true)
                    .create_new(true)
                    .open(&probe)
                    .map_err(|e| format!("cannot write the plot to {shown}: {e}"))?;
                let _ = fs::remove_file(&probe);
                Ok(plot)
            }
        }
    }

    /// The file the plot goes to.
    pub fn path(&self) -> &Path {
        &self.target
    }

    /// The temporary file beside the target: hidden, and named after this process.
    fn temporary(&self) -> PathBuf {
        let name = self
            .target
            .file_name()
            .map_or_else(|| "plot".into(), |n| n.to_string_lossy().into_owned());
        let dir = match self.target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        dir.join(format!(".{name}.{}.tmp", std::process::id()))
    }

    /// Writes `contents` at the target: into it when it is not a regular file, else through a
    /// temporary file renamed over it (keeping an existing file's permissions).
    pub fn write(&self, contents: &[u8]) -> Result<(), String> {
        let shown = self.target.display();
        let fail = |e: std::io::Error| format!("cannot write the plot to {shown}: {e}");
        if self.in_place {
            return File::options()
                .write(true)
                .open(&self.target)
                .and_then(|mut f| f.write_all(contents))
                .map_err(fail);
        }
        let temp = self.temporary();
        let written = File::options()
            .write(true)
            .create_new(true)
            .open(&temp)
            .and_then(|mut f| {
                f.write_all(contents)?;
                if let Ok(meta) = fs::metadata(&self.target) {
                    f.set_permissions(meta.permissions())?;
                }
                f.sync_all()
            })
            .and_then(|()| fs::rename(&temp, &self.target));
        if let Err(e) = written {
            // The temporary file is ours; the target was never touched.
            let _ = fs::remove_file(&temp);
            return Err(fail(e));
        }
        Ok(())
    }
}

//! Pictures for a projector: the chart style both tools share (size, fonts, line widths, a
//! legend beside the data, never over it), drawn with plotters as SVG or PNG; and [`PlotFile`],
//! which puts a picture in its file only once a run has succeeded.
//!
//! The text is set in DejaVu Sans, built into the program (the `dejavu` crate), so a PNG has
//! its labels on a machine without fonts and an SVG is laid out with the same measures.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::prelude::*;
use plotters::style::FontStyle;

/// Pixels of every chart: 16:9, large enough for the back of a room.
pub const SIZE: (u32, u32) = (1280, 720);
/// The strip under the chart that holds the legend.
const LEGEND_HEIGHT: u32 = 60;

/// Grey, blue, red, green, orange: the series colours, in order.
pub const COLORS: [RGBColor; 5] = [
    RGBColor(120, 120, 120),
    RGBColor(0, 0, 255),
    RGBColor(255, 0, 0),
    RGBColor(0, 150, 0),
    RGBColor(230, 130, 0),
];

/// The picture formats a plot is written in, chosen by the file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Scalable vector graphics (`.svg`).
    Svg,
    /// A 1280×720 bitmap (`.png`).
    Png,
}

impl Format {
    /// The format a file name asks for: `.svg` or `.png` (any case); `None` for another.
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "svg" => Some(Format::Svg),
            "png" => Some(Format::Png),
            _ => None,
        }
    }
}

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
    /// A dashed line (drawn over solid ones, so a line under it still shows).
    pub dashed: bool,
}

/// The axes' descriptions and label formats.
pub struct Axes<'a> {
    /// The x axis' title.
    pub x_desc: &'a str,
    /// The y axis' title.
    pub y_desc: &'a str,
    /// How many x labels at most.
    pub x_labels: usize,
    /// How many y labels at most.
    pub y_labels: usize,
    /// Formats an x label.
    pub x_format: &'a dyn Fn(&f64) -> String,
    /// Formats a y label.
    pub y_format: &'a dyn Fn(&f64) -> String,
}

/// Makes DejaVu Sans the chart's `sans-serif`, once.
fn register_fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        for (style, bytes) in [
            (FontStyle::Normal, dejavu::sans::regular()),
            (FontStyle::Bold, dejavu::sans::bold()),
        ] {
            // The font is built in and known to parse; a failure would only lose labels.
            let _ = plotters::style::register_font("sans-serif", style, bytes);
        }
    });
}

/// The bytes of a picture in `format`: `$draw`, an expression drawing on `$root` (the whole
/// [`SIZE`] area), is run on the SVG or the bitmap backend. A macro, because the two backends
/// are different types and the drawing code is generic over them.
macro_rules! render {
    ($format:expr, $root:ident => $draw:expr) => {{
        register_fonts();
        let failed = |e: &dyn std::fmt::Display| {
            rust_i18n::t!("error.cannot_draw", error = e.to_string()).into_owned()
        };
        match $format {
            Format::Svg => {
                let mut svg = String::new();
                {
                    let $root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
                    $draw.map_err(|e| failed(&e))?;
                    $root.present().map_err(|e| failed(&e))?;
                }
                Ok(svg.into_bytes())
            }
            Format::Png => {
                let mut rgb = vec![0u8; SIZE.0 as usize * SIZE.1 as usize * 3];
                {
                    let $root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
                    $draw.map_err(|e| failed(&e))?;
                    $root.present().map_err(|e| failed(&e))?;
                }
                encode_png(&rgb).map_err(|e| failed(&e))
            }
        }
    }};
}

/// Draws a chart titled `title` with the given axes and series, over `x` and `y` (plain
/// ranges, `log_scale()` ones, or ones with chosen key points), in `format`.
pub fn draw<X, Y>(
    format: Format,
    title: &str,
    x: X,
    y: Y,
    axes: &Axes<'_>,
    series: &[Series<'_>],
) -> Result<Vec<u8>, String>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    render!(format, root => draw_on(&root, title, x, y, axes, series))
}

/// The RGB pixels of a [`SIZE`] picture as a PNG file.
fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, SIZE.0, SIZE.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(bytes)
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
    // The legend has its own strip under the chart, so it never covers a point.
    let (top, legend) = root.split_vertically(SIZE.1 - LEGEND_HEIGHT);
    let mut chart = ChartBuilder::on(&top)
        .caption(title, ("sans-serif", 34))
        .margin(30)
        .margin_bottom(10)
        .x_label_area_size(70)
        .y_label_area_size(140)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc(axes.x_desc)
        .y_desc(axes.y_desc)
        .x_labels(axes.x_labels)
        .y_labels(axes.y_labels)
        .x_label_formatter(axes.x_format)
        .y_label_formatter(axes.y_format)
        .label_style(("sans-serif", 24))
        .axis_desc_style(("sans-serif", 28))
        .draw()?;
    // Solid lines first, dashed ones over them: a dashed line on top of a solid one leaves
    // both visible.
    let solid = series.iter().filter(|s| !s.dashed);
    for s in solid.chain(series.iter().filter(|s| s.dashed)) {
        let style = s.color.stroke_width(s.width);
        if s.dashed {
            chart.draw_series(DashedLineSeries::new(
                s.points.iter().copied(),
                18,
                10,
                style,
            ))?;
        } else {
            chart.draw_series(LineSeries::new(s.points.iter().copied(), style))?;
        }
        if s.markers {
            let dot = s.color.filled();
            chart.draw_series(s.points.iter().map(|p| Circle::new(*p, 8, dot)))?;
        }
    }
    draw_legend(&legend, series)
}

/// The legend: each series' line (and dot) and its label, side by side in the bottom strip.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[Series<'_>],
) -> DrawResult<DB> {
    let font = ("sans-serif", 26).into_font().color(&BLACK);
    let mut x = 170;
    let y = (LEGEND_HEIGHT / 2) as i32 - 10;
    for s in series {
        let style = s.color.stroke_width(s.width);
        if s.dashed {
            for dash in 0..2 {
                let start = x + dash * 24;
                area.draw(&PathElement::new(vec![(start, y), (start + 14, y)], style))?;
            }
        } else {
            area.draw(&PathElement::new(vec![(x, y), (x + 40, y)], style))?;
        }
        if s.markers {
            area.draw(&Circle::new((x + 20, y), 8, s.color.filled()))?;
        }
        let (width, _) = area.estimate_text_size(&s.label, &font)?;
        area.draw(&Text::new(s.label.clone(), (x + 52, y - 14), font.clone()))?;
        x += 52 + width as i32 + 40;
    }
    Ok(())
}

/// One row of a bar chart: its label and its spans `(from, to, kind)`, `kind` indexing the
/// legend's colours.
pub struct BarRow {
    /// The row's label (on the y axis).
    pub label: String,
    /// Its spans, along x.
    pub spans: Vec<(f64, f64, usize)>,
}

/// Draws horizontal bars, one row each (the first at the top), over `0..x_end` along x, in
/// `format`; `kinds` names and colours the span kinds in the legend.
pub fn draw_bars(
    format: Format,
    title: &str,
    x_desc: &str,
    x_end: f64,
    rows: &[BarRow],
    kinds: &[(&str, RGBColor)],
) -> Result<Vec<u8>, String> {
    render!(format, root => bars_on(&root, title, x_desc, x_end, rows, kinds))
}

fn bars_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_desc: &str,
    x_end: f64,
    rows: &[BarRow],
    kinds: &[(&str, RGBColor)],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (top, legend) = root.split_vertically(SIZE.1 - LEGEND_HEIGHT);
    let n = rows.len().max(1) as f64;
    // Row i is drawn between y = n - i - 1 and n - i, so the first row is at the top.
    let mut chart = ChartBuilder::on(&top)
        .caption(title, ("sans-serif", 34))
        .margin(30)
        .margin_bottom(10)
        .x_label_area_size(70)
        .y_label_area_size(300)
        .build_cartesian_2d(0.0..x_end * 1.02, 0.0..n)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .x_labels(10)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_labels(0)
        .disable_y_mesh()
        .label_style(("sans-serif", 22))
        .axis_desc_style(("sans-serif", 28))
        .draw()?;
    // The rows' labels, left of the axis, each at its row's height.
    let font = ("sans-serif", 22).into_font().color(&BLACK);
    for (i, row) in rows.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(0.0, n - i as f64 - 0.5));
        let (width, height) = top.estimate_text_size(&row.label, &font)?;
        top.draw(&Text::new(
            row.label.clone(),
            (x - width as i32 - 12, y - height as i32 / 2),
            font.clone(),
        ))?;
    }
    for (i, row) in rows.iter().enumerate() {
        let y = n - i as f64 - 1.0;
        chart.draw_series(row.spans.iter().map(|&(a, b, kind)| {
            let color = kinds.get(kind).map_or(BLACK, |k| k.1);
            Rectangle::new([(a, y + 0.15), (b, y + 0.85)], color.filled())
        }))?;
    }
    let legend_series: Vec<Series<'_>> = kinds
        .iter()
        .map(|(label, color)| Series {
            label: (*label).to_string(),
            points: &[],
            color: *color,
            width: 14,
            markers: false,
            dashed: false,
        })
        .collect();
    draw_legend(&legend, &legend_series)
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
    format: Format,
}

/// Why a plot cannot be written at `path`, in the language chosen.
fn cannot_write(path: &dyn std::fmt::Display, e: &std::io::Error) -> String {
    rust_i18n::t!(
        "error.cannot_write_plot",
        path = path.to_string(),
        error = crate::lang::os_error(e)
    )
    .into_owned()
}

impl PlotFile {
    /// Checks that a plot can be written at `target` (its directory takes new files, or it is
    /// a device or FIFO) in a format its name asks for (`.svg` or `.png`; a device or FIFO
    /// with another name gets SVG), without changing anything there.
    pub fn check(target: &Path) -> Result<PlotFile, String> {
        let shown = target.display();
        let format = Format::of(target);
        match fs::metadata(target) {
            Ok(meta) if meta.is_dir() => {
                Err(rust_i18n::t!("error.plot_is_directory", path = shown).into_owned())
            }
            Ok(meta) if !meta.is_file() => Ok(PlotFile {
                target: target.to_path_buf(),
                in_place: true,
                format: format.unwrap_or(Format::Svg),
            }),
            _ if format.is_none() => {
                Err(rust_i18n::t!("error.plot_name", path = shown).into_owned())
            }
            found => {
                let format = format.unwrap_or(Format::Svg);
                // Through a symbolic link, replace the file it points to, not the link.
                let target = match found {
                    Ok(_) => fs::canonicalize(target).map_err(|e| cannot_write(&shown, &e))?,
                    Err(_) => target.to_path_buf(),
                };
                let plot = PlotFile {
                    target,
                    in_place: false,
                    format,
                };
                // Try the directory with a file of our own, removed at once.
                let probe = plot.temporary();
                File::options()
                    .write(true)
                    .create_new(true)
                    .open(&probe)
                    .map_err(|e| cannot_write(&shown, &e))?;
                let _ = fs::remove_file(&probe);
                Ok(plot)
            }
        }
    }

    /// The file the plot goes to.
    pub fn path(&self) -> &Path {
        &self.target
    }

    /// The format the plot is drawn in.
    pub fn format(&self) -> Format {
        self.format
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
        let fail = |e: std::io::Error| cannot_write(&shown, &e);
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

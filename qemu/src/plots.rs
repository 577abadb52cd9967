//! The benchmark's pictures (plotters), each written as SVG and PNG under
//! `target/bench/`: the fault latency distributions against their floors
//! (`cargo qemu bench`), page-ins over time per policy and the miss-ratio
//! curves (`cargo qemu bench --policies`).
//!
//! Text in the PNGs is drawn with DejaVu Sans from the `dejavu` crate,
//! through plotters' `ab_glyph` feature: a font that travels with the
//! source, so a fresh clone draws the same pictures without system font
//! libraries (plotters' default `ttf` feature needs fontconfig and
//! FreeType). The SVGs name the same family, and a viewer renders it.

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// The font family every text in the pictures uses.
const FONT: &str = "sans-serif";

/// The colours of the series, in order (policies, fault kinds).
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Colour number `i` of [`COLOURS`] (they repeat).
fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// One operation's latency samples in log-spaced buckets
/// (`BENCH-HIST`), and the median of its floor's rounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    pub name: String,
    /// The floor's median in cycles (0: not measured).
    pub floor: u64,
    /// (lower bound in cycles, samples), in order of the bound.
    pub buckets: Vec<(u64, u64)>,
}

impl Histogram {
    /// The upper bound of the bucket at `lower`: four buckets per
    /// doubling, as bench-fault counts them.
    fn upper(lower: u64) -> u64 {
        if lower < 8 {
            return lower + 1;
        }
        let shift = 63 - lower.leading_zeros() - 2;
        lower + (1 << shift)
    }
}

/// A series of points of one policy in one panel.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// One panel of a picture of line series.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// A vertical marker (x, label), such as the pool's size.
    pub marker: Option<(f64, String)>,
}

/// Something drawn on any plotters backend.
trait Picture {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// A plotters error as text.
fn err(e: impl std::fmt::Debug) -> String {
    format!("plot: {e:?}")
}

/// Registers the bundled font once: the PNG backend draws text with it.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_err()
        {
            eprintln!("plots: the bundled DejaVu Sans did not load; PNG text will be missing");
        }
    });
}

/// Writes `picture` as `<dir>/<stem>.svg` and `.png`; returns the files.
fn write_both(
    dir: &Path,
    stem: &str,
    size: (u32, u32),
    picture: &impl Picture,
) -> Result<Vec<PathBuf>, String> {
    register_font();
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let svg = dir.join(format!("{stem}.svg"));
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        picture.draw(&root)?;
        root.present().map_err(err)?;
    }
    let png = dir.join(format!("{stem}.png"));
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        picture.draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(vec![svg, png])
}

/// Panels in a grid of `cols` columns and as many rows as needed.
fn grid<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    n: usize,
    cols: usize,
) -> Vec<DrawingArea<DB, Shift>> {
    let cols = cols.clamp(1, n.max(1));
    let rows = n.div_ceil(cols).max(1);
    root.split_evenly((rows, cols))
}

/// The fault latency distributions, one panel per operation: samples per
/// bucket on a log scale of cycles, the floor's median as a red line.
struct Latency<'a>(&'a [Histogram]);

impl Picture for Latency<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        for (h, area) in self.0.iter().zip(grid(root, self.0.len(), 2)) {
            let lo = h
                .buckets
                .iter()
                .map(|b| b.0)
                .chain((h.floor > 0).then_some(h.floor))
                .min()
                .unwrap_or(1)
                .max(1);
            let hi = h
                .buckets
                .iter()
                .map(|b| Histogram::upper(b.0))
                .chain(std::iter::once(h.floor + 1))
                .max()
                .unwrap_or(2);
            let (lo, hi) = (lo as f64 / 1.3, hi as f64 * 1.3);
            let top = h.buckets.iter().map(|b| b.1).max().unwrap_or(1) as f64 * 1.1;
            let mut chart = ChartBuilder::on(&area)
                .caption(&h.name, (FONT, 22))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d((lo..hi).log_scale(), 0.0..top)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("cycles per operation (log scale)")
                .y_desc("operations")
                .x_labels(6)
                .x_label_formatter(&|x| format!("{:.0}k", x / 1000.0))
                .y_label_formatter(&|y| format!("{y:.0}"))
                .label_style((FONT, 14))
                .max_light_lines(1)
                .draw()
                .map_err(err)?;
            chart
                .draw_series(h.buckets.iter().map(|&(l, n)| {
                    Rectangle::new(
                        [(l as f64, 0.0), (Histogram::upper(l) as f64, n as f64)],
                        colour(0).mix(0.7).filled(),
                    )
                }))
                .map_err(err)?
                .label("this operation")
                .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], colour(0).filled()));
            if h.floor > 0 {
                let f = h.floor as f64;
                chart
                    .draw_series(LineSeries::new(
                        [(f, 0.0), (f, top)],
                        colour(1).stroke_width(3),
                    ))
                    .map_err(err)?
                    .label(format!("floor (median {})", h.floor))
                    .legend(|(x, y)| {
                        PathElement::new([(x, y), (x + 15, y)], colour(1).stroke_width(3))
                    });
            }
            legend(&mut chart)?;
        }
        Ok(())
    }
}

/// Draws a chart's legend, the same in every picture.
fn legend<'a, DB, X, Y>(chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)
}

/// Panels of line series (one line per policy).
struct Lines<'a>(&'a [Panel]);

impl Picture for Lines<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        for (p, area) in self.0.iter().zip(grid(root, self.0.len(), 3)) {
            let points = || p.series.iter().flat_map(|s| s.points.iter());
            let xmax = points()
                .map(|q| q.0)
                .chain(p.marker.as_ref().map(|m| m.0))
                .fold(1e-9, f64::max);
            let ymax = points().map(|q| q.1).fold(1e-9, f64::max) * 1.1;
            let mut chart = ChartBuilder::on(&area)
                .caption(&p.title, (FONT, 22))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(0.0..xmax * 1.02, 0.0..ymax)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(p.x_label.as_str())
                .y_desc(p.y_label.as_str())
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| format!("{y:.0}"))
                .label_style((FONT, 14))
                .max_light_lines(1)
                .draw()
                .map_err(err)?;
            for (i, s) in p.series.iter().enumerate() {
                let c = colour(i);
                chart
                    .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))
                    .map_err(err)?
                    .label(s.label.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 15, y)], c.stroke_width(2))
                    });
            }
            if let Some((x, label)) = &p.marker {
                chart
                    .draw_series(LineSeries::new(
                        [(*x, 0.0), (*x, ymax)],
                        BLACK.mix(0.5).stroke_width(1),
                    ))
                    .map_err(err)?
                    .label(label.as_str())
                    .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], BLACK.mix(0.5)));
            }
            legend(&mut chart)?;
        }
        Ok(())
    }
}

/// `<dir>/fault-latency.{svg,png}`: the latency distribution of each
/// measured operation against its floor.
pub fn fault_latency(dir: &Path, hists: &[Histogram]) -> Result<Vec<PathBuf>, String> {
    let rows = hists.len().div_ceil(2).max(1) as u32;
    write_both(dir, "fault-latency", (1400, 420 * rows), &Latency(hists))
}

/// `<dir>/<stem>.{svg,png}`: panels of line series, three to a row.
pub fn line_panels(dir: &Path, stem: &str, panels: &[Panel]) -> Result<Vec<PathBuf>, String> {
    let rows = panels.len().div_ceil(3).max(1) as u32;
    write_both(dir, stem, (1800, 480 * rows), &Lines(panels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("qemu-plots-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn non_empty(files: &[PathBuf]) {
        assert_eq!(files.len(), 2);
        for f in files {
            let len = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
            assert!(len > 1000, "{} has {len} bytes", f.display());
        }
    }

    #[test]
    fn bucket_bounds_are_a_quarter_octave_apart() {
        assert_eq!(Histogram::upper(65536), 81920);
        assert_eq!(Histogram::upper(98304), 114688);
        assert_eq!(Histogram::upper(5), 6);
    }

    #[test]
    fn latency_plot_writes_svg_and_png() {
        let dir = scratch("latency");
        let h = |name: &str, floor| Histogram {
            name: name.into(),
            floor,
            buckets: vec![(65536, 3), (81920, 40), (98304, 12), (229376, 1)],
        };
        let files = fault_latency(&dir, &[h("vm-fault-zero-fill", 60000), h("ping", 0)]).unwrap();
        non_empty(&files);
        let svg = std::fs::read_to_string(&files[0]).unwrap();
        assert!(svg.contains("vm-fault-zero-fill") && svg.contains("floor"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn line_plot_writes_svg_and_png() {
        let dir = scratch("lines");
        let series = |label: &str, k: f64| Series {
            label: label.into(),
            points: (0..10).map(|i| (i as f64, k * i as f64)).collect(),
        };
        let panel = Panel {
            title: "loop".into(),
            x_label: "frames".into(),
            y_label: "page-ins".into(),
            series: vec![series("clock", 1.0), series("2q", 0.5)],
            marker: Some((5.0, "pool".into())),
        };
        let empty = Panel {
            series: Vec::new(),
            marker: None,
            ..panel.clone()
        };
        let files = line_panels(&dir, "test-lines", &[panel, empty]).unwrap();
        non_empty(&files);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

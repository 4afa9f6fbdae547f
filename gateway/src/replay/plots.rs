//! Charts of a replay, each written as PNG and SVG with `plotters`.
//!
//! - `cdf`: latency CDF per policy (log-scaled latency axis);
//! - `p95_over_time`: windowed p95 per policy (drift and recovery);
//! - `share_over_time`: per policy, each replica's share of routed requests per window;
//! - `sweep`: p95 against offered load per policy (with `--sweep`).
//!
//! PNG text needs a TrueType font: the first of [`FONT_PATHS`] that exists is registered; if
//! none does, only the SVG files are written (SVG viewers render the text themselves).

use std::path::Path;

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::prelude::*;
use vecgate_learner::sim::{Replay, SweepPoint};

const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];
/// Points per CDF curve.
const CDF_POINTS: usize = 400;
const SIZE: (u32, u32) = (1000, 640);

/// Draws every chart into `dir`; returns the file names written.
pub(super) fn draw_all(
    dir: &Path,
    result: &Replay,
    sweep: &[SweepPoint],
) -> anyhow::Result<Vec<&'static str>> {
    let png = register_font();
    let mut written = Vec::new();
    let mut both =
        |name: &'static str,
         png_name: &'static str,
         draw: &dyn Fn(DrawingArea<SVGBackend<'_>, Shift>) -> anyhow::Result<()>,
         draw_png: &dyn Fn(DrawingArea<BitMapBackend<'_>, Shift>) -> anyhow::Result<()>|
         -> anyhow::Result<()> {
            let svg = dir.join(name);
            draw(SVGBackend::new(&svg, SIZE).into_drawing_area())?;
            written.push(name);
            if png {
                let path = dir.join(png_name);
                draw_png(BitMapBackend::new(&path, SIZE).into_drawing_area())?;
                written.push(png_name);
            }
            Ok(())
        };
    both("cdf.svg", "cdf.png", &|a| cdf(a, result), &|a| {
        cdf(a, result)
    })?;
    both(
        "p95_over_time.svg",
        "p95_over_time.png",
        &|a| p95_over_time(a, result),
        &|a| p95_over_time(a, result),
    )?;
    both(
        "share_over_time.svg",
        "share_over_time.png",
        &|a| share_over_time(a, result),
        &|a| share_over_time(a, result),
    )?;
    if !sweep.is_empty() {
        both("sweep.svg", "sweep.png", &|a| sweep_chart(a, sweep), &|a| {
            sweep_chart(a, sweep)
        })?;
    }
    if !png {
        println!(
            "no TrueType font found ({}); wrote SVG only",
            FONT_PATHS.join(", ")
        );
    }
    Ok(written)
}

fn register_font() -> bool {
    for path in FONT_PATHS {
        if let Ok(bytes) = std::fs::read(path) {
            // plotters keeps fonts for the life of the process; one font per process is leaked.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return true;
            }
        }
    }
    false
}

fn colour(i: usize) -> RGBColor {
    const PALETTE: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    PALETTE[i % PALETTE.len()]
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e}")
}

fn cdf<DB: DrawingBackend>(area: DrawingArea<DB, Shift>, result: &Replay) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(err)?;
    let curves: Vec<(String, Vec<(f64, f64)>)> = result
        .runs
        .iter()
        .map(|run| {
            let sorted = run.sorted_latency_ms();
            let n = sorted.len().max(1);
            let step = (n / CDF_POINTS).max(1);
            let mut points: Vec<(f64, f64)> = (0..n)
                .step_by(step)
                .chain(std::iter::once(n - 1))
                .filter_map(|i| {
                    sorted
                        .get(i)
                        .map(|&x| (f64::from(x).max(0.01), (i + 1) as f64 / n as f64))
                })
                .collect();
            points.dedup();
            (run.policy.clone(), points)
        })
        .collect();
    let max = curves
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.0))
        .fold(1.0f64, f64::max);
    let min = curves
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.0))
        .fold(max, f64::min)
        .max(0.01);
    let mut chart = ChartBuilder::on(&area)
        .caption("Latency CDF per policy", ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d((min..max * 1.1).log_scale(), 0.0..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms, log scale)")
        .y_desc("fraction of requests")
        .draw()
        .map_err(err)?;
    for (i, (name, points)) in curves.iter().enumerate() {
        let c = colour(i);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    area.present().map_err(err)
}

fn p95_over_time<DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    result: &Replay,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(err)?;
    let t_max = result
        .runs
        .iter()
        .flat_map(|r| r.timeline.iter().map(|w| w.start_s))
        .fold(0.0f64, f64::max)
        .max(1e-3);
    let y_max = result
        .runs
        .iter()
        .flat_map(|r| r.timeline.iter().map(|w| w.p95))
        .fold(1.0f64, f64::max);
    let mut chart = ChartBuilder::on(&area)
        .caption(
            "p95 latency over time (windows of requests)",
            ("sans-serif", 24),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..t_max * 1.02, 0.0..y_max * 1.05)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("virtual time (s)")
        .y_desc("p95 (ms)")
        .draw()
        .map_err(err)?;
    for (i, run) in result.runs.iter().enumerate() {
        let c = colour(i);
        chart
            .draw_series(LineSeries::new(
                run.timeline.iter().map(|w| (w.start_s, w.p95)),
                c.stroke_width(2),
            ))
            .map_err(err)?
            .label(run.policy.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    area.present().map_err(err)
}

fn share_over_time<DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    result: &Replay,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(err)?;
    let runs = &result.runs;
    let cols = 3usize;
    let rows = runs.len().div_ceil(cols).max(1);
    let (body, legend) = area.split_vertically(SIZE.1 - 40);
    let panels = body.split_evenly((rows, cols));
    let t_max = runs
        .iter()
        .flat_map(|r| r.timeline.iter().map(|w| w.start_s))
        .fold(0.0f64, f64::max)
        .max(1e-3);
    for (run, panel) in runs.iter().zip(panels.iter()) {
        let mut chart = ChartBuilder::on(panel)
            .caption(&run.policy, ("sans-serif", 16))
            .margin(6)
            .x_label_area_size(22)
            .y_label_area_size(34)
            .build_cartesian_2d(0.0..t_max * 1.02, 0.0..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(4)
            .y_labels(3)
            .label_style(("sans-serif", 11))
            .draw()
            .map_err(err)?;
        for (r, _) in result.replicas.iter().enumerate() {
            chart
                .draw_series(LineSeries::new(
                    run.timeline
                        .iter()
                        .map(|w| (w.start_s, w.share.get(r).copied().unwrap_or(0.0))),
                    colour(r).stroke_width(2),
                ))
                .map_err(err)?;
        }
    }
    // One shared legend row: replica colours.
    let mut x = 10i32;
    for (r, name) in result.replicas.iter().enumerate() {
        legend
            .draw(&Rectangle::new([(x, 14), (x + 14, 26)], colour(r).filled()))
            .map_err(err)?;
        legend
            .draw(&Text::new(name.clone(), (x + 18, 13), ("sans-serif", 13)))
            .map_err(err)?;
        x += 26 + 8 * name.len() as i32;
    }
    area.present().map_err(err)
}

fn sweep_chart<DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    points: &[SweepPoint],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(err)?;
    let mut policies: Vec<&str> = Vec::new();
    for p in points {
        if !policies.contains(&p.policy.as_str()) {
            policies.push(&p.policy);
        }
    }
    let x_min = points.iter().map(|p| p.load).fold(f64::INFINITY, f64::min);
    let x_max = points.iter().map(|p| p.load).fold(0.0f64, f64::max);
    let y_max = points.iter().map(|p| p.p95).fold(1.0f64, f64::max);
    let y_min = points.iter().map(|p| p.p95).fold(y_max, f64::min).max(0.01);
    let mut chart = ChartBuilder::on(&area)
        .caption("p95 vs offered load", ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(
            x_min * 0.95..x_max * 1.02,
            (y_min * 0.9..y_max * 1.1).log_scale(),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("offered load")
        .y_desc("p95 (ms, log scale)")
        .draw()
        .map_err(err)?;
    for (i, policy) in policies.iter().enumerate() {
        let c = colour(i);
        let series: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.policy == *policy)
            .map(|p| (p.load, p.p95.max(0.01)))
            .collect();
        chart
            .draw_series(LineSeries::new(series.iter().copied(), c.stroke_width(2)))
            .map_err(err)?
            .label(policy.to_string())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart
            .draw_series(series.iter().map(|&p| Circle::new(p, 3, c.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    area.present().map_err(err)
}

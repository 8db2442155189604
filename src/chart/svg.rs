//! Charts as SVG, written with maud templates (escaping names and labels): grouped
//! bars for PSI bins, horizontal bars for categories, a histogram with the current
//! data as a step line over the reference's bars, and a statistic over time. Colours
//! come from classes ([`super::CHART_CSS`]), so one chart reads in light and dark.

use maud::{html, Markup, PreEscaped};

use super::{short_number, Bars, Density, Series, CHART_CSS};

/// Width of every chart, in pixels (the height depends on the chart).
pub const WIDTH: f64 = 420.0;

fn px(x: f64) -> String {
    format!("{x:.1}")
}

fn percent(x: f64) -> String {
    if x >= 0.1 {
        format!("{:.0} %", x * 100.0)
    } else {
        format!("{:.1} %", x * 100.0)
    }
}

/// Cuts a label to `n` characters, with an ellipsis.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// The legend: a bar for the reference, `current` drawn as `current_mark`.
fn legend(current_is_line: bool) -> Markup {
    html! {
        g transform="translate(8,12)" {
            rect.ref x="0" y="-8" width="14" height="9" {}
            text x="19" y="0" { "reference" }
            @if current_is_line {
                line.line x1="92" y1="-4" x2="106" y2="-4" {}
            } @else {
                rect.cur x="92" y="-8" width="14" height="9" {}
            }
            text x="111" y="0" { "current" }
        }
    }
}

fn frame(height: f64, label: &str, body: Markup) -> Markup {
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" width=(px(WIDTH)) height=(px(height))
            viewBox={ "0 0 " (px(WIDTH)) " " (px(height)) } role="img" aria-label=(label) {
            title { (label) }
            rect.bg x="0" y="0" width=(px(WIDTH)) height=(px(height)) {}
            (body)
        }
    }
}

const TOP: f64 = 26.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 10.0;

/// The y axis: a base line and the top share as a label.
fn y_axis(top_value: f64, plot_bottom: f64, as_percent: bool) -> Markup {
    let label = if as_percent {
        percent(top_value)
    } else {
        short_number(top_value)
    };
    html! {
        line.axis x1=(px(LEFT)) y1=(px(plot_bottom)) x2=(px(WIDTH - RIGHT)) y2=(px(plot_bottom)) {}
        line.axis x1=(px(LEFT)) y1=(px(TOP)) x2=(px(LEFT)) y2=(px(plot_bottom)) {}
        text.muted x=(px(LEFT - 4.0)) y=(px(TOP + 4.0)) text-anchor="end" { (label) }
        text.muted x=(px(LEFT - 4.0)) y=(px(plot_bottom)) text-anchor="end" { "0" }
    }
}

fn top_of(values: impl Iterator<Item = f64>) -> f64 {
    let m = values.filter(|v| v.is_finite()).fold(0.0, f64::max);
    if m > 0.0 {
        m * 1.1
    } else {
        1.0
    }
}

/// Reference and current shares per PSI bin, side by side.
pub fn grouped_bars(b: &Bars, label: &str) -> Markup {
    let height = 170.0;
    let bottom = height - 30.0;
    let n = b.labels.len().max(1) as f64;
    let slot = (WIDTH - LEFT - RIGHT) / n;
    let bar = (slot * 0.4).max(1.0);
    let top = top_of(b.reference.iter().chain(&b.current).copied());
    let y = |v: f64| bottom - (bottom - TOP) * (v / top);
    let body = html! {
        (legend(false))
        (y_axis(top, bottom, true))
        @for (i, name) in b.labels.iter().enumerate() {
            @let x = LEFT + slot * i as f64 + slot * 0.1;
            @let (r, c) = (b.reference[i], b.current[i]);
            g {
                title { (name) ": reference " (percent(r)) ", current " (percent(c)) }
                rect.ref x=(px(x)) y=(px(y(r))) width=(px(bar)) height=(px(bottom - y(r))) {}
                rect.cur x=(px(x + bar)) y=(px(y(c))) width=(px(bar)) height=(px(bottom - y(c))) {}
            }
        }
        @if let (Some(first), Some(last)) = (b.labels.first(), b.labels.last()) {
            text.muted x=(px(LEFT)) y=(px(bottom + 14.0)) { (cut(first, 22)) }
            text.muted x=(px(WIDTH - RIGHT)) y=(px(bottom + 14.0)) text-anchor="end" { (cut(last, 22)) }
            text.muted x=(px(WIDTH / 2.0)) y=(px(bottom + 26.0)) text-anchor="middle" {
                (b.labels.len()) " PSI bins (reference quantiles)"
            }
        }
    };
    frame(height, label, body)
}

/// Reference and current shares per category, one row each, `__other__` last.
pub fn category_bars(b: &Bars, label: &str) -> Markup {
    let row = 20.0;
    let names = 120.0;
    let height = TOP + row * b.labels.len() as f64 + if b.hidden > 0 { 22.0 } else { 8.0 };
    let top = top_of(b.reference.iter().chain(&b.current).copied());
    // Room after the longest bar for its `12 % → 100 %` label.
    let span = WIDTH - names - RIGHT - 96.0;
    let w = |v: f64| span * v / top;
    let body = html! {
        (legend(false))
        @for (i, name) in b.labels.iter().enumerate() {
            @let y0 = TOP + row * i as f64;
            @let (r, c) = (b.reference[i], b.current[i]);
            g {
                title { (name) ": reference " (percent(r)) ", current " (percent(c)) }
                text x=(px(names - 6.0)) y=(px(y0 + 12.0)) text-anchor="end" { (cut(name, 18)) }
                rect.ref x=(px(names)) y=(px(y0 + 2.0)) width=(px(w(r))) height="7" {}
                rect.cur x=(px(names)) y=(px(y0 + 10.0)) width=(px(w(c))) height="7" {}
                text.muted x=(px(names + w(r.max(c)) + 4.0)) y=(px(y0 + 13.0)) {
                    (percent(r)) " → " (percent(c))
                }
            }
        }
        line.axis x1=(px(names)) y1=(px(TOP)) x2=(px(names)) y2=(px(TOP + row * b.labels.len() as f64)) {}
        @if b.hidden > 0 {
            text.muted x=(px(names)) y=(px(height - 6.0)) {
                "and " (b.hidden) " rarer categories not drawn"
            }
        }
    };
    frame(height, label, body)
}

/// The fine bins: the reference as bars, the current data as a step line over them.
pub fn histogram(d: &Density, label: &str) -> Markup {
    let height = 170.0;
    let bottom = height - 30.0;
    let n = d.reference.len().max(1);
    let slot = (WIDTH - LEFT - RIGHT) / n as f64;
    let top = top_of(d.reference.iter().chain(&d.current).copied());
    let y = |v: f64| bottom - (bottom - TOP) * (v / top);
    let mut step = String::new();
    for (i, c) in d.current.iter().enumerate() {
        let (x0, x1) = (LEFT + slot * i as f64, LEFT + slot * (i + 1) as f64);
        let sep = if i == 0 { "" } else { " " };
        step.push_str(&format!(
            "{sep}{},{} {},{}",
            px(x0),
            px(y(*c)),
            px(x1),
            px(y(*c))
        ));
    }
    let (lo, hi) = (
        d.edges.first().copied().unwrap_or(0.0),
        d.edges.last().copied().unwrap_or(0.0),
    );
    let body = html! {
        (legend(true))
        (y_axis(top, bottom, true))
        @for (i, r) in d.reference.iter().enumerate() {
            @let x = LEFT + slot * i as f64;
            g {
                title {
                    (short_number(d.edges[i])) " – " (short_number(d.edges[i + 1]))
                    ": reference " (percent(*r)) ", current " (percent(d.current[i]))
                }
                rect.ref x=(px(x + 0.5)) y=(px(y(*r))) width=(px((slot - 1.0).max(0.5))) height=(px(bottom - y(*r))) {}
            }
        }
        polyline.line points=(step) {}
        text.muted x=(px(LEFT)) y=(px(bottom + 14.0)) { (short_number(lo)) }
        text.muted x=(px((LEFT + WIDTH - RIGHT) / 2.0)) y=(px(bottom + 14.0)) text-anchor="middle" {
            (short_number((lo + hi) / 2.0))
        }
        text.muted x=(px(WIDTH - RIGHT)) y=(px(bottom + 14.0)) text-anchor="end" { (short_number(hi)) }
        text.muted x=(px(WIDTH / 2.0)) y=(px(bottom + 26.0)) text-anchor="middle" {
            "value (reference 0.5–99.5 %; beyond it: the end bars)"
        }
    };
    frame(height, label, body)
}

fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// A statistic per period, with its threshold dashed.
pub fn series(s: &Series, label: &str) -> Markup {
    let height = 150.0;
    let bottom = height - 30.0;
    let (t0, t1) = match (s.points.first(), s.points.last()) {
        (Some(a), Some(b)) => (a.0, b.0.max(a.0 + 1)),
        _ => (0, 1),
    };
    let top = top_of(
        s.points
            .iter()
            .filter_map(|p| p.1)
            .chain(s.threshold.map(|t| t / 1.1 * 1.15)),
    );
    let x = |t: i64| LEFT + (WIDTH - LEFT - RIGHT) * (t - t0) as f64 / (t1 - t0) as f64;
    let y = |v: f64| bottom - (bottom - TOP) * (v.clamp(0.0, top) / top);
    // Unknown periods break the line.
    let mut runs: Vec<String> = Vec::new();
    let mut run = String::new();
    for (t, v) in &s.points {
        match v {
            Some(v) if v.is_finite() => {
                if !run.is_empty() {
                    run.push(' ');
                }
                run.push_str(&format!("{},{}", px(x(*t)), px(y(*v))));
            }
            _ => {
                if !run.is_empty() {
                    runs.push(std::mem::take(&mut run));
                }
            }
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    let body = html! {
        g transform="translate(8,12)" {
            line.line x1="0" y1="-4" x2="14" y2="-4" {}
            text x="19" y="0" { (s.metric) }
            @if let Some(t) = s.threshold {
                line.thr x1="120" y1="-4" x2="134" y2="-4" {}
                text x="139" y="0" { "threshold " (short_number(t)) }
            }
        }
        (y_axis(top, bottom, false))
        @if let Some(t) = s.threshold {
            line.thr x1=(px(LEFT)) y1=(px(y(t))) x2=(px(WIDTH - RIGHT)) y2=(px(y(t))) {}
        }
        @for r in &runs {
            polyline.line points=(r) {}
        }
        @for (t, v) in &s.points {
            @if let Some(v) = v.filter(|v| v.is_finite()) {
                circle.dot cx=(px(x(*t))) cy=(px(y(v))) r="2" {
                    title { (when(*t)) ": " (short_number(v)) }
                }
            }
        }
        text.muted x=(px(LEFT)) y=(px(bottom + 14.0)) { (when(t0)) }
        text.muted x=(px(WIDTH - RIGHT)) y=(px(bottom + 14.0)) text-anchor="end" { (when(t1)) " UTC" }
    };
    frame(height, label, body)
}

/// A chart as a standalone SVG document for rasterising: the light colours inline
/// (resvg reads `<style>`, not custom properties).
pub fn standalone(chart: &Markup) -> String {
    let css = light_css();
    let svg = chart.0.as_str();
    // The style goes right after the opening tag.
    match svg.find('>') {
        Some(end) => format!(
            "{}<style>{}</style>{}",
            &svg[..=end],
            PreEscaped(css).0,
            &svg[end + 1..]
        ),
        None => svg.to_string(),
    }
}

/// [`CHART_CSS`] with each `var(--name,#colour)` replaced by its fallback colour.
fn light_css() -> String {
    let mut out = String::with_capacity(CHART_CSS.len());
    let mut rest = CHART_CSS;
    while let Some(at) = rest.find("var(--") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        match (after.find(','), after.find(')')) {
            (Some(comma), Some(close)) if comma < close => {
                out.push_str(&after[comma + 1..close]);
                rest = &after[close + 1..];
            }
            _ => {
                out.push_str(after);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn light_css_has_no_custom_properties() {
        let css = light_css();
        assert!(!css.contains("var("), "{css}");
        assert!(css.contains(".chart .ref{fill:#0072B2}"), "{css}");
    }

    #[test]
    fn names_are_escaped_and_cut() {
        let b = Bars {
            labels: vec!["<script>alert(1)</script>".into(), "__other__".into()],
            reference: vec![0.5, 0.5],
            current: vec![0.2, 0.8],
            hidden: 3,
        };
        let svg = category_bars(&b, "plan <&>").into_string();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert!(svg.contains("aria-label=\"plan &lt;&amp;&gt;\""), "{svg}");
        assert!(svg.contains("and 3 rarer categories"), "{svg}");
        assert!(svg.contains("50 % → 80 %"), "{svg}");
    }

    #[test]
    fn a_series_breaks_at_unknown_periods_and_draws_the_threshold() {
        let s = Series {
            metric: "psi".into(),
            points: vec![
                (0, Some(0.1)),
                (3_600_000, Some(0.3)),
                (7_200_000, None),
                (10_800_000, Some(0.5)),
            ],
            threshold: Some(0.2),
        };
        let svg = series(&s, "psi of x").into_string();
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 3, "{svg}");
        assert!(svg.contains("threshold 0.2"), "{svg}");
    }
}

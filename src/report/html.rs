//! The drift report as one self-contained HTML page: a summary (the drifted features,
//! worst first, and the thresholds used), then per feature its verdict, the
//! statistics of [`FEATURE_STATISTICS`] and charts of the reference against the
//! current data ([`crate::chart`]), optionally the statistic over time. No external
//! script, style, font or image: the page works offline and as a CI artifact. Pure.

use std::collections::BTreeMap;

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::{DriftReport, FeatureDrift, ReportSettings, FEATURE_STATISTICS};
use crate::chart::{svg, Distribution, Series, CHART_CSS};

/// What the page says about where the numbers come from.
#[derive(Debug, Clone, Default)]
pub struct PageContext {
    /// What is compared: a file name, or `model churn, window 1h`.
    pub title: String,
    /// Lines of provenance (`reference` → `train.csv`), in order.
    pub about: Vec<(String, String)>,
}

/// Everything drawn besides the report itself, aligned with `report.features`.
#[derive(Debug, Clone, Default)]
pub struct Pictures {
    /// The distributions of each feature (`None` for columns without a reference).
    pub distributions: Vec<Option<Distribution>>,
    /// The statistic over time per feature name, when history is available.
    pub history: BTreeMap<String, Series>,
}

const PAGE_CSS: &str = "
:root{--bg:#fff;--fg:#1d1f23;--muted:#5f6368;--line:#d9dce1;--card:#f6f7f9;--ref:#0072B2;--cur:#E69F00;--warn:#C0392B;--ok:#00734F;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#15181c;--fg:#e8eaed;--muted:#a0a6ad;--line:#3a3f45;--card:#1f2328;--ref:#56B4E9;--cur:#F0B43C;--warn:#FF8A7A;--ok:#5FD3A8}}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif}
header,main,nav{max-width:1080px;margin:0 auto;padding:0 20px}
h1{font-size:1.6em;margin:22px 0 4px}h2{font-size:1.15em;margin:0}
dl.about{display:grid;grid-template-columns:max-content auto;gap:2px 14px;color:var(--muted);margin:8px 0}
dl.about dt{font-weight:600}dl.about dd{margin:0}
.summary{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 16px;margin:14px 0}
.summary p{margin:4px 0}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:.85em;font-weight:700;border:1.5px solid currentColor}
.badge.drift{color:var(--warn)}.badge.ok{color:var(--ok)}.badge.none{color:var(--muted)}
nav.controls{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:10px auto}
nav button,nav select{font:inherit;background:var(--card);color:var(--fg);border:1px solid var(--line);border-radius:6px;padding:3px 10px;cursor:pointer}
nav button[aria-pressed=true]{border-color:var(--fg);font-weight:700}
section.feature{border:1px solid var(--line);border-radius:8px;padding:12px 16px;margin:12px 0;background:var(--bg)}
section.feature header{display:flex;gap:10px;align-items:baseline;padding:0;margin:0 0 8px;max-width:none}
.kind{color:var(--muted);font-size:.9em}
.body{display:grid;grid-template-columns:minmax(260px,330px) 1fr;gap:16px;align-items:start}
.charts{display:flex;flex-wrap:wrap;gap:12px}
@media (max-width:760px){.body{grid-template-columns:1fr}}
table.stats{border-collapse:collapse;font-size:.9em;min-width:260px}
table.stats td,table.stats th{border-bottom:1px solid var(--line);padding:2px 8px;text-align:left}
table.stats td.v{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:0}figcaption{font-size:.85em;color:var(--muted)}
a{color:var(--ref)}
footer{max-width:1080px;margin:20px auto;padding:0 20px;color:var(--muted);font-size:.85em}
";

/// Sorting and filtering, inline (the page loads nothing else).
const PAGE_SCRIPT: &str = r#"
(function(){
  var main=document.getElementById('features');
  var cards=Array.prototype.slice.call(main.querySelectorAll('section.feature'));
  var buttons=document.querySelectorAll('nav.controls button[data-show]');
  function show(which){
    buttons.forEach(function(b){b.setAttribute('aria-pressed',String(b.dataset.show===which));});
    var shown=0;
    cards.forEach(function(c){var v=which==='all'||c.dataset.verdict===which;c.hidden=!v;if(v)shown++;});
    document.getElementById('shown').textContent=shown+' of '+cards.length+' shown';
  }
  buttons.forEach(function(b){b.addEventListener('click',function(){show(b.dataset.show);});});
  var order=document.getElementById('order');
  order.addEventListener('change',function(){
    var key=order.value;
    cards.sort(function(a,b){
      if(key==='name')return a.dataset.name.localeCompare(b.dataset.name);
      if(key==='missing')return Number(b.dataset.missing)-Number(a.dataset.missing);
      return Number(a.dataset.rank)-Number(b.dataset.rank);
    });
    cards.forEach(function(c){main.appendChild(c);});
  });
  show('all');
})();
"#;

/// `drift`, `ok` or `none` (nothing to compare).
fn verdict(f: &FeatureDrift) -> &'static str {
    match (f.status, f.drifted) {
        ("ok", true) => "drift",
        ("ok", false) => "ok",
        _ => "none",
    }
}

fn verdict_text(f: &FeatureDrift) -> String {
    match verdict(f) {
        "drift" => "DRIFT".into(),
        "ok" => "ok".into(),
        _ => f.status.replace('_', " "),
    }
}

/// Worst first: drifted features by PSI over their threshold, then the others by PSI,
/// then those without a PSI.
fn worst_first(features: &[FeatureDrift]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..features.len()).collect();
    let key = |f: &FeatureDrift| match f.psi {
        Some(p) if f.threshold > 0.0 => p / f.threshold,
        Some(p) => p,
        None => f64::NEG_INFINITY,
    };
    order.sort_by(|&a, &b| {
        let (fa, fb) = (&features[a], &features[b]);
        fb.drifted
            .cmp(&fa.drifted)
            .then(key(fb).total_cmp(&key(fa)))
            .then(fa.name.cmp(&fb.name))
    });
    order
}

fn number(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.abs() < 1e-3 || x.abs() >= 1e6 {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

fn stats_table(f: &FeatureDrift) -> Markup {
    html! {
        table.stats {
            tr { th { "values" } td.v { (f.count) " current · " (f.reference_count) " reference" } }
            @for s in FEATURE_STATISTICS.iter().filter(|s| s.field != "drifted") {
                @if let Some(v) = (s.value)(f) {
                    tr title=(s.help) { th { (s.field) } td.v { (number(v)) } }
                }
            }
            @if let Some(c) = f.psi_critical_value() {
                tr title="PSI that sampling noise alone exceeds with probability α" {
                    th { "psi_critical_value" } td.v { (number(c)) }
                }
            }
            tr { th { "threshold (PSI)" } td.v { (number(f.threshold)) } }
        }
    }
}

fn charts(f: &FeatureDrift, d: Option<&Distribution>, h: Option<&Series>) -> Markup {
    html! {
        @match d {
            Some(Distribution::Numeric { psi, fine }) => {
                figure { (svg::histogram(fine, &format!("{}: reference and current distribution", f.name)))
                    figcaption { "Distribution over the fine bins" } }
                figure { (svg::grouped_bars(psi, &format!("{}: shares per PSI bin", f.name)))
                    figcaption { "Shares per PSI bin (equal reference mass)" } }
            }
            Some(Distribution::Categorical(bars)) => {
                figure { (svg::category_bars(bars, &format!("{}: shares per category", f.name)))
                    figcaption { "Shares per category; __other__ = categories the reference did not keep" } }
            }
            None => {}
        }
        @if let Some(s) = h {
            figure { (svg::series(s, &format!("{}: {} over time", f.name, s.metric)))
                figcaption { (s.metric) " per period" } }
        }
    }
}

/// The page. `settings` are the thresholds the report used.
pub(crate) fn render(
    report: &DriftReport,
    pictures: &Pictures,
    settings: &ReportSettings,
    page: &PageContext,
) -> String {
    let order = worst_first(&report.features);
    let rank: Vec<usize> = {
        let mut r = vec![0; order.len()];
        for (pos, &i) in order.iter().enumerate() {
            r[i] = pos;
        }
        r
    };
    // Sections are named by position: a feature name may hold spaces or quotes, which
    // an id and a fragment cannot.
    let drifted: Vec<(usize, &FeatureDrift)> = order
        .iter()
        .map(|&i| (i, &report.features[i]))
        .filter(|(_, f)| f.drifted)
        .collect();
    let title = format!("Drift report: {}", page.title);
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="generator" content={ "driftd " (env!("CARGO_PKG_VERSION")) };
                title { (title) }
                // An empty icon: a browser would otherwise ask the server for /favicon.ico.
                link rel="icon" href="data:,";
                style { (PreEscaped(PAGE_CSS)) (PreEscaped(CHART_CSS)) }
            }
            body {
                header {
                    h1 { (title) }
                    dl.about {
                        @for (k, v) in &page.about { dt { (k) } dd { (v) } }
                        dt { "rows" } dd { (report.reference.rows) " reference · " (report.current.rows) " current" }
                    }
                    div.summary #summary {
                        p {
                            strong { (drifted.len()) " of " (report.features.len()) " features drifted" }
                            @if !drifted.is_empty() { ", worst first:" }
                        }
                        @if !drifted.is_empty() {
                            p {
                                @for (n, (i, f)) in drifted.iter().enumerate() {
                                    @if n > 0 { ", " }
                                    a href={ "#f-" (i) } { (f.name) }
                                    " (PSI " (number(f.psi.unwrap_or(0.0))) ")"
                                }
                            }
                        }
                        p {
                            "A feature drifts when its PSI reaches " (number(settings.psi_threshold))
                            @for (name, t) in &settings.thresholds { "; " code { (name) } ": " (number(*t)) }
                            ". PSI critical values at α = " (settings.alpha) "."
                        }
                    }
                }
                nav.controls aria-label="Filter and sort features" {
                    "Show "
                    button type="button" data-show="all" aria-pressed="true" { "all" }
                    button type="button" data-show="drift" aria-pressed="false" { "drifted" }
                    button type="button" data-show="ok" aria-pressed="false" { "not drifted" }
                    button type="button" data-show="none" aria-pressed="false" { "no data" }
                    label { " sorted by "
                        select #order {
                            option value="worst" { "worst first" }
                            option value="name" { "name" }
                            option value="missing" { "missing rate" }
                        }
                    }
                    span.kind #shown {}
                }
                main #features {
                    @for &i in &order {
                        @let f = &report.features[i];
                        section.feature id={ "f-" (i) } data-name=(f.name) data-verdict=(verdict(f))
                            data-rank=(rank[i]) data-missing=(f.missing_rate) {
                            header {
                                h2 { (f.name) }
                                span.kind { (f.kind) }
                                span class={ "badge " (verdict(f)) } { (verdict_text(f)) }
                            }
                            div.body {
                                (stats_table(f))
                                div.charts {
                                    (charts(f, pictures.distributions.get(i).and_then(Option::as_ref),
                                        pictures.history.get(&f.name)))
                                }
                            }
                        }
                    }
                }
                footer { "driftd " (env!("CARGO_PKG_VERSION")) " · statistics as in docs/statistics.md" }
                script { (PreEscaped(PAGE_SCRIPT)) }
            }
        }
    };
    markup.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Cell;
    use crate::reference::{test_profile, CurrentCounts};

    fn page(shift: f64) -> String {
        let rows = (0..2000).map(|i| {
            vec![
                Cell::Number((i % 100) as f64),
                Cell::Text(["a", "b"][i % 2]),
            ]
        });
        let profile = test_profile("v", &["amount", "plan<b>"], rows);
        let mut current = CurrentCounts::new(&profile.features);
        let columns = crate::dataset::Columns::from_names(&["amount", "plan<b>"]);
        for i in 0..1000 {
            current.add_row(
                &columns,
                &[
                    Cell::Number((i % 100) as f64 * (1.0 - shift) + 100.0 * shift),
                    Cell::Text(["a", "b"][i % 2]),
                ],
            );
        }
        let settings = ReportSettings::default();
        let features: Vec<_> = profile
            .features
            .iter()
            .zip(&current.features)
            .map(|(f, c)| super::super::feature_drift(f, c, current.rows, true, 1e-4, &settings))
            .collect();
        let pictures = Pictures {
            distributions: profile
                .features
                .iter()
                .zip(&current.features)
                .map(|(f, c)| Some(Distribution::of(f, c)))
                .collect(),
            history: BTreeMap::new(),
        };
        let report = DriftReport::new(profile.rows, current.rows, features);
        render(
            &report,
            &pictures,
            &settings,
            &PageContext {
                title: "current.csv".into(),
                about: vec![("reference".into(), "train.csv".into())],
            },
        )
    }

    #[test]
    fn a_drifted_feature_is_named_first_with_its_charts() {
        let html = page(0.5);
        assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..40]);
        assert!(html.contains("1 of 2 features drifted"), "{html}");
        let amount = html.find("data-name=\"amount\"").unwrap();
        assert!(
            html.contains("href=\"#f-0\">amount</a>"),
            "the summary links the section"
        );
        let plan = html.find("data-name=\"plan&lt;b&gt;\"").unwrap();
        assert!(amount < plan, "worst first");
        assert_eq!(
            html.matches("<svg").count(),
            3,
            "two charts for a number, one for a category"
        );
        assert!(!html.contains("plan<b>"), "names are escaped");
        for external in ["src=\"http", "href=\"http", "@import", "url("] {
            assert!(!html.contains(external), "loads nothing: {external}");
        }
    }

    #[test]
    fn a_stable_dataset_says_nothing_drifted() {
        let html = page(0.0);
        assert!(html.contains("0 of 2 features drifted"), "{html}");
        assert!(!html.contains("badge drift"), "{html}");
    }
}

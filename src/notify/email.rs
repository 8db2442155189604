//! An e-mail's subject, text and HTML from one notification (the evidence table and
//! the Grafana link), with a chart per drifted feature as inline PNGs that the HTML
//! references by `cid:` and a text sparkline in the plain part. Pure.

use serde::{Deserialize, Serialize};

use super::Notification;
use crate::chart::{png, svg, Distribution, Series};
use crate::rules::alert::{format_value, Alert};

/// A rendered e-mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Inline images (`Content-ID` = `cid`), referenced by the HTML.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<InlineImage>,
}

/// A PNG attached inline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InlineImage {
    pub cid: String,
    pub alt: String,
    /// Base64 in the outbox's JSON.
    #[serde(with = "base64_bytes")]
    pub png: Vec<u8>,
}

mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

/// The pictures of one firing feature alert: the window's distributions and the
/// alert's statistic over the last hours.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailChart {
    pub feature: String,
    pub window: String,
    pub distribution: Distribution,
    pub history: Option<Series>,
}

/// The images of one e-mail stop at this many bytes of PNG: an e-mail stays small
/// enough for every mail server and phone; charts past it are left out (counted by
/// `driftd_email_charts_omitted_total`, named in the text).
pub const EMAIL_IMAGE_BUDGET: usize = 60_000;

/// Eight levels of a text sparkline.
const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A series as a text sparkline (`·` where a period had no value), scaled to its
/// largest value or the threshold.
pub fn sparkline(s: &Series) -> String {
    let top = s
        .points
        .iter()
        .filter_map(|p| p.1)
        .chain(s.threshold)
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    s.points
        .iter()
        .map(|(_, v)| match v {
            Some(v) if v.is_finite() && top > 0.0 => {
                SPARKS[((v.max(0.0) / top) * 7.0).round().min(7.0) as usize]
            }
            Some(_) => SPARKS[0],
            None => '·',
        })
        .collect()
}

/// The length of a series' periods (`1m`, `10m`, `1h`), from its first two points.
fn period(s: &Series) -> String {
    let ms = match s.points.as_slice() {
        [a, b, ..] => b.0 - a.0,
        _ => return "period".into(),
    };
    match ms {
        ms if ms > 0 && ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms > 0 && ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms > 0 && ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// One chart as a PNG, or why not.
fn chart_png(markup: maud::Markup, cid: String, alt: String) -> Result<InlineImage, png::PngError> {
    Ok(InlineImage {
        png: png::render(&svg::standalone(&markup), 1.0)?,
        cid,
        alt,
    })
}

/// The images of `charts` within [`EMAIL_IMAGE_BUDGET`], and how many charts were
/// left out (over the budget, or failed to draw — logged).
fn chart_images(charts: &[EmailChart], id: &str) -> (Vec<(usize, Vec<InlineImage>)>, usize) {
    let mut out = Vec::new();
    let (mut used, mut omitted) = (0usize, 0usize);
    for (i, c) in charts.iter().enumerate() {
        let label = format!("{}: reference and current ({} window)", c.feature, c.window);
        let distribution = match &c.distribution {
            Distribution::Numeric { fine, .. } => svg::histogram(fine, &label),
            Distribution::Categorical(bars) => svg::category_bars(bars, &label),
        };
        let mut images = vec![chart_png(
            distribution,
            format!("dist-{i}.{id}@driftd"),
            label,
        )];
        if let Some(h) = &c.history {
            let label = format!("{}: {} over the last hours", c.feature, h.metric);
            images.push(chart_png(
                svg::series(h, &label),
                format!("hist-{i}.{id}@driftd"),
                label,
            ));
        }
        let images: Result<Vec<InlineImage>, _> = images.into_iter().collect();
        match images {
            Ok(images) => {
                let size: usize = images.iter().map(|i| i.png.len()).sum();
                if used + size > EMAIL_IMAGE_BUDGET {
                    omitted += 1;
                    continue;
                }
                used += size;
                out.push((i, images));
            }
            Err(error) => {
                tracing::warn!(%error, feature = %c.feature, "e-mail chart not drawn");
                omitted += 1;
            }
        }
    }
    (out, omitted)
}

const COLUMNS: &[&str] = &[
    "status",
    "rule",
    "version",
    "window",
    "severity",
    "feature",
    "metric",
    "value",
    "threshold",
    "reference",
];

fn row(status: &str, a: &Alert) -> Vec<String> {
    let l = |k: &str| a.label(k).unwrap_or("all").to_string();
    vec![
        status.to_string(),
        a.rule.clone(),
        l("version"),
        l("window"),
        l("severity"),
        a.label("feature").unwrap_or("—").to_string(),
        a.metric.clone(),
        format_value(a.value),
        format_value(a.threshold),
        a.reference
            .map(format_value)
            .unwrap_or_else(|| "n/a".into()),
    ]
}

/// The Grafana model dashboard of `model` under `base`, the model name encoded (a
/// name like `fraud/eu` or `churn v2` stays one query value).
fn dashboard_link(base: &str, model: &str) -> Option<String> {
    let mut url = url::Url::parse(base).ok()?;
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .extend(["d", "driftd-model", "driftd-model"]);
    url.query_pairs_mut().append_pair("var-model", model);
    Some(url.into())
}

/// Subject, plain text and HTML of a notification, with `charts` of its feature
/// alerts; and how many charts were left out. `dashboard_url`: the Grafana base URL,
/// for a link to the model's dashboard.
pub(crate) fn render_email(
    n: &Notification,
    dashboard_url: Option<&str>,
    charts: &[EmailChart],
) -> (EmailContent, usize) {
    let mut rules: Vec<&str> = n
        .firing
        .iter()
        .chain(&n.resolved)
        .map(|a| a.rule.as_str())
        .collect();
    rules.dedup();
    rules.sort();
    rules.dedup();
    let subject = if n.firing.is_empty() {
        format!("[RESOLVED] {}: {}", n.title(), rules.join(", "))
    } else {
        format!(
            "[FIRING:{}] {}: {}",
            n.firing.len(),
            n.title(),
            rules.join(", ")
        )
    };
    let rows: Vec<Vec<String>> = n
        .firing
        .iter()
        .map(|a| row("firing", a))
        .chain(n.resolved.iter().map(|a| row("resolved", a)))
        .collect();
    let link = dashboard_url
        .zip(n.model())
        .and_then(|(base, model)| dashboard_link(base, model));
    let about = match n.model() {
        Some(m) if n.group_labels.keys().eq(["model"]) => format!("model `{m}`"),
        _ => format!("`{}`", n.title()),
    };
    let when = chrono::DateTime::from_timestamp_millis(n.at_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();

    let mut text = format!("driftd: {about} at {when}\n\n");
    for a in n.firing.iter().chain(&n.resolved) {
        text.push_str(&format!(
            "- {} [{}] {}\n",
            a.rule,
            a.phase.as_str(),
            a.summary()
        ));
        if !a.annotation("description").is_empty() {
            text.push_str(&format!("  {}\n", a.annotation("description")));
        }
    }
    text.push_str("\nEvidence:\n");
    let widths: Vec<usize> = (0..COLUMNS.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([COLUMNS[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    text.push_str(&line(COLUMNS.to_vec()));
    text.push('\n');
    for r in &rows {
        text.push_str(&line(r.iter().map(String::as_str).collect()));
        text.push('\n');
    }
    // A stable part of the Content-IDs: the same notification, the same ids.
    let id = crate::base::id::stable_id(&["email", &n.group, &n.at_ms.to_string()]);
    let (images, omitted) = chart_images(charts, &id);
    let sparks: Vec<String> = charts
        .iter()
        .filter_map(|c| {
            c.history.as_ref().map(|h| {
                let last = h.points.iter().rev().find_map(|p| p.1);
                format!(
                    "  {} {} per {}: {} latest {}{}",
                    c.feature,
                    h.metric,
                    period(h),
                    sparkline(h),
                    last.map(format_value).unwrap_or_else(|| "n/a".into()),
                    h.threshold
                        .map(|t| format!(", threshold {}", format_value(t)))
                        .unwrap_or_default()
                )
            })
        })
        .collect();
    if !sparks.is_empty() {
        text.push_str("\nOver the last hours (each period's own value):\n");
        for s in &sparks {
            text.push_str(s);
            text.push('\n');
        }
    }
    if omitted > 0 {
        text.push_str(&format!(
            "\n{omitted} chart(s) left out to keep this e-mail under {} kB.\n",
            EMAIL_IMAGE_BUDGET / 1000
        ));
    }
    if let Some(l) = &link {
        text.push_str(&format!("\nDashboard: {l}\n"));
    }

    let mut html = format!(
        "<html><body><h2>driftd: {}</h2><p>{}</p><ul>",
        escape(&about)
            .replacen('`', "<code>", 1)
            .replacen('`', "</code>", 1),
        escape(&when)
    );
    for a in n.firing.iter().chain(&n.resolved) {
        html.push_str(&format!(
            "<li><b>{}</b> [{}] {}</li>",
            escape(&a.rule),
            a.phase.as_str(),
            escape(a.summary())
        ));
    }
    html.push_str("</ul><table border=\"1\" cellpadding=\"4\" cellspacing=\"0\"><tr>");
    for c in COLUMNS {
        html.push_str(&format!("<th>{c}</th>"));
    }
    html.push_str("</tr>");
    for r in &rows {
        html.push_str("<tr>");
        for c in r {
            html.push_str(&format!("<td>{}</td>", escape(c)));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    for (i, imgs) in &images {
        let c = &charts[*i];
        html.push_str(&format!(
            "<h3>{} <small>({} window)</small></h3><p>",
            escape(&c.feature),
            escape(&c.window)
        ));
        for img in imgs {
            let (w, h) = png::dimensions(&img.png).unwrap_or((0, 0));
            html.push_str(&format!(
                "<img src=\"cid:{}\" alt=\"{}\" width=\"{w}\" height=\"{h}\"> ",
                escape(&img.cid),
                escape(&img.alt)
            ));
        }
        html.push_str("</p>");
    }
    if omitted > 0 {
        html.push_str(&format!(
            "<p>{omitted} chart(s) left out to keep this e-mail under {} kB.</p>",
            EMAIL_IMAGE_BUDGET / 1000
        ));
    }
    if let Some(l) = &link {
        html.push_str(&format!("<p><a href=\"{0}\">{0}</a></p>", escape(l)));
    }
    html.push_str("</body></html>");
    let images = images.into_iter().flat_map(|(_, imgs)| imgs).collect();
    (
        EmailContent {
            subject,
            text,
            html,
            images,
        },
        omitted,
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

//! An e-mail's subject, text and HTML from one notification (the evidence table and
//! the Grafana link). Pure.

use serde::{Deserialize, Serialize};

use super::Notification;
use crate::rules::alert::{format_value, Alert};

/// A rendered e-mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
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

/// Subject, plain text and HTML of a notification. `dashboard_url`: the Grafana base
/// URL, for a link to the model's dashboard.
pub(crate) fn render_email(n: &Notification, dashboard_url: Option<&str>) -> EmailContent {
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
    if let Some(l) = &link {
        html.push_str(&format!("<p><a href=\"{0}\">{0}</a></p>", escape(l)));
    }
    html.push_str("</body></html>");
    EmailContent {
        subject,
        text,
        html,
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

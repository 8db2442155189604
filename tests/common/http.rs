//! HTTP over plain TCP and the Prometheus text format.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET over plain TCP: (status, body). Handles chunked bodies.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_request(port, "GET", path, &[], "")
}

/// Any request over plain TCP: (status, body).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    http_exchange(port, method, path, headers, body).map(|(status, _, body)| (status, body))
}

/// As [`http_request`], with the response's head (status line and headers) too.
pub fn http_exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    write!(s, "{head}\r\n{body}").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    let head = head.to_string();
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Some((status, head, body.to_string()));
    }
    let mut out = String::new();
    let mut rest = body;
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let n = usize::from_str_radix(size.trim(), 16).ok()?;
        if n == 0 {
            return Some((status, head, out));
        }
        out.push_str(after.get(..n)?);
        rest = after.get(n + 2..)?;
    }
}

/// Parsed Prometheus text: series (name + labels as written) → value.
#[derive(Debug, Default)]
pub struct Metrics(pub BTreeMap<String, f64>);

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut m = BTreeMap::new();
        for line in text.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            if let Some((series, value)) = line.rsplit_once(' ') {
                if let Ok(v) = value.parse() {
                    m.insert(series.to_string(), v);
                }
            }
        }
        Metrics(m)
    }

    /// Sum of every series of a metric name.
    pub fn sum(&self, name: &str) -> f64 {
        self.0
            .iter()
            .filter(|(k, _)| k.as_str() == name || k.starts_with(&format!("{name}{{")))
            .map(|(_, v)| v)
            .sum()
    }

    pub fn get(&self, series: &str) -> Option<f64> {
        self.0.get(series).copied()
    }
}

/// (model, version) → count from /metrics.
pub fn metric_counts(m: &Metrics) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for (series, v) in &m.0 {
        if let Some(labels) = series.strip_prefix("driftd_events_total{") {
            let mut model = String::new();
            let mut version = String::new();
            for part in labels.trim_end_matches('}').split(',') {
                if let Some((k, val)) = part.split_once('=') {
                    let val = val.trim_matches('"').to_string();
                    match k {
                        "model" => model = val,
                        "version" => version = val,
                        _ => {}
                    }
                }
            }
            out.insert((model, version), *v as u64);
        }
    }
    out
}

/// (status answered, authorization header, body) per request.
pub type WebhookCalls = std::sync::Arc<std::sync::Mutex<Vec<(u16, String, String)>>>;

/// A tiny real HTTP server for webhooks on `addr` (`127.0.0.1:0`: any free port):
/// answers `first_status` to the first request and 200 afterwards, and records every
/// request (authorization header, body).
pub fn webhook_server(addr: &str, first_status: u16) -> (u16, WebhookCalls) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind(addr).unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: WebhookCalls = Default::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut length, mut auth) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("authorization:") {
                    auth = line["authorization:".len()..].trim().to_string();
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut seen = log.lock().unwrap();
            let status = if seen.is_empty() { first_status } else { 200 };
            seen.push((status, auth, String::from_utf8_lossy(&body).into_owned()));
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (port, seen)
}

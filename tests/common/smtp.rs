//! A real SMTP server (aiosmtpd) for the alerting tests.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wait_until;

/// A real SMTP server (scripts/smtp_sink.py, aiosmtpd) that saves what it accepts;
/// `DRIFTD_SMTP_PYTHON` is a Python with aiosmtpd (scripts/test.sh sets it).
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

/// One accepted e-mail, decoded by the sink.
#[derive(Debug, Clone)]
pub struct Mail {
    pub received_ms: i64,
    pub subject: String,
    pub message_id: String,
    pub content_type: String,
    pub text: String,
    pub html: String,
    pub to: Vec<String>,
    /// Inline image parts: (Content-ID, content type, disposition, bytes).
    pub inline: Vec<(String, String, String, Vec<u8>)>,
    /// Every MIME part's content type, depth first.
    pub parts: Vec<String>,
    /// The whole message's size in bytes.
    pub size: u64,
}

impl SmtpSink {
    /// Starts the server on `port` (requiring AUTH with driftd/`password`) and waits
    /// until it accepts connections.
    pub fn start(port: u16, dir: &Path, password: &str) -> SmtpSink {
        let python = std::env::var("DRIFTD_SMTP_PYTHON")
            .expect("DRIFTD_SMTP_PYTHON is not set: run scripts/test.sh, which installs aiosmtpd");
        let child = Command::new(python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/smtp_sink.py"))
            .args(["--port", &port.to_string(), "--dir"])
            .arg(dir)
            .args(["--user", "driftd", "--password", password, "--json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the SMTP sink");
        let listening = wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(listening, "SMTP sink did not listen on {port}");
        SmtpSink {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Every e-mail received in `dir`, oldest first.
    pub fn mails(dir: &Path) -> Vec<Mail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|x| x == "json"));
        files.sort();
        files
            .iter()
            .map(|p| {
                let v: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                Mail {
                    received_ms: v["received_ms"].as_i64().unwrap(),
                    subject: s("subject"),
                    message_id: s("message_id"),
                    content_type: s("content_type"),
                    text: s("text"),
                    html: s("html"),
                    to: strings(&v["to"]),
                    inline: v["inline"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|p| {
                                    let t = |k: &str| p[k].as_str().unwrap_or_default().to_string();
                                    (t("cid"), t("content_type"), t("disposition"), {
                                        use base64::Engine;
                                        base64::engine::general_purpose::STANDARD
                                            .decode(t("base64"))
                                            .unwrap()
                                    })
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    parts: strings(&v["parts"]),
                    size: v["size"].as_u64().unwrap_or(0),
                }
            })
            .collect()
    }

    /// Waits until `dir` holds at least `n` e-mails.
    pub fn wait_mails(dir: &Path, n: usize, timeout: Duration) -> Vec<Mail> {
        wait_until(timeout, Duration::from_millis(200), || {
            SmtpSink::mails(dir).len() >= n
        });
        SmtpSink::mails(dir)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON array of strings (empty when absent).
fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

//! The published record contract holds: a record is valid by `docs/record.schema.json`
//! (plus the rules its description lists, checked by `scripts/record_schema.py` with
//! the `jsonschema` package) exactly when driftd's decoder reads it, on 12,000
//! generated records of both roles, about half valid, and on the hostile corpus.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use driftd::base::rng::SplitMix;
use driftd::event::{decode, RecordFields, SourceRole};

/// What the schema's validator says of each `(role, bytes)`: `Ok(())` or why not.
fn validate(records: &[(SourceRole, Vec<u8>)]) -> Vec<Result<(), String>> {
    let python = std::env::var("DRIFTD_PYTHON")
        .expect("DRIFTD_PYTHON is not set: run scripts/test.sh, which installs jsonschema");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/record_schema.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the schema validator");
    let mut input = String::new();
    for (role, bytes) in records {
        let role = match role {
            SourceRole::Predictions => "prediction",
            SourceRole::Labels => "label",
        };
        input.push_str(role);
        input.push(' ');
        for b in bytes {
            input.push_str(&format!("{b:02x}"));
        }
        input.push('\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "record_schema.py failed");
    let answers: Vec<Result<(), String>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| match l {
            "valid" => Ok(()),
            other => Err(other.trim_start_matches("invalid ").to_string()),
        })
        .collect();
    assert_eq!(answers.len(), records.len(), "one answer per record");
    answers
}

/// Compares schema and decoder on every record; panics with the disagreements.
fn assert_equivalent(records: &[(SourceRole, Vec<u8>)], what: &str) -> (usize, usize) {
    let answers = validate(records);
    let mut disagree = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for ((role, bytes), schema) in records.iter().zip(&answers) {
        let decoded = decode(bytes, *role, &RecordFields::default(), 0);
        match (&decoded, schema) {
            (Ok(_), Ok(())) => valid += 1,
            (Err(_), Err(_)) => invalid += 1,
            _ => disagree.push(format!(
                "{role:?} {}\n  decoder: {:?}\n  schema:  {schema:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)]),
                decoded.map(|_| ()).map_err(|e| e.to_string())
            )),
        }
    }
    assert!(
        disagree.is_empty(),
        "{what}: {} of {} records disagree, e.g.\n{}",
        disagree.len(),
        records.len(),
        disagree[..disagree.len().min(8)].join("\n")
    );
    (valid, invalid)
}

#[test]
fn schema_and_decoder_agree_on_generated_records() {
    let mut rng = SplitMix::new(20261203);
    let records: Vec<(SourceRole, Vec<u8>)> = (0..12_000)
        .map(|_| {
            let role = if rng.uniform() < 0.7 {
                SourceRole::Predictions
            } else {
                SourceRole::Labels
            };
            (role, Gen(&mut rng).record(role).into_bytes())
        })
        .collect();
    let (valid, invalid) = assert_equivalent(&records, "generated");
    // Both sides of the equivalence are exercised.
    assert!(
        valid > 3_000 && invalid > 3_000,
        "{valid} valid, {invalid} invalid"
    );
}

#[test]
fn schema_and_decoder_agree_on_the_hostile_corpus() {
    let records: Vec<(SourceRole, Vec<u8>)> = common::hostile::corpus("churn", 1_796_295_600_000)
        .into_iter()
        // The size limit is [limits] max_message_bytes, a setting, not the schema.
        .filter(|h| h.reason != "too_large")
        .map(|h| (SourceRole::Predictions, h.payload))
        .collect();
    let (_, invalid) = assert_equivalent(&records, "hostile corpus");
    assert!(invalid >= 40, "{invalid} refused");
}

/// Random records as raw JSON text: every field drawn from values driftd reads and
/// values it refuses (wrong types, bad names, bad timestamps, NaN, duplicates, deep
/// nesting), so that about half of them are valid.
struct Gen<'a>(&'a mut SplitMix);

impl Gen<'_> {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        self.0.uniform() < p
    }
    fn pick<'s>(&mut self, xs: &[&'s str]) -> &'s str {
        xs[self.below(xs.len())]
    }

    fn record(&mut self, role: SourceRole) -> String {
        // Each field is bad with this probability: about half the records are valid.
        let bad = 0.06;
        let mut members: Vec<(String, String)> = Vec::new();
        if !self.chance(0.02) {
            let v = self.name(bad);
            members.push(("model".into(), v));
        }
        match role {
            SourceRole::Predictions => {
                for (field, p) in [("model_version", 0.5), ("id", 0.6)] {
                    if self.chance(p) {
                        let v = self.name(bad);
                        members.push((field.into(), v));
                    }
                }
                if self.chance(0.9) {
                    let v = self.features(bad);
                    members.push(("features".into(), v));
                }
                if self.chance(0.8) {
                    let v = self.prediction(bad);
                    members.push(("prediction".into(), v));
                }
                if self.chance(0.5) {
                    let v = self.latency(bad);
                    members.push(("latency_ms".into(), v));
                }
                if self.chance(0.4) {
                    let v = self.segment(bad);
                    members.push(("segment".into(), v));
                }
            }
            SourceRole::Labels => {
                if !self.chance(0.03) {
                    let v = self.name(bad);
                    members.push(("id".into(), v));
                }
                if !self.chance(0.03) {
                    let v = self.label(bad);
                    members.push(("label".into(), v));
                }
            }
        }
        if self.chance(0.8) {
            let v = self.timestamp(bad * 3.0);
            members.push(("ts".into(), v));
        }
        if self.chance(0.1) {
            let v = self.extra();
            members.push(("extra".into(), v));
        }
        if self.chance(0.02) && !members.is_empty() {
            // The same key twice.
            let i = self.below(members.len());
            let (k, _) = members[i].clone();
            let v = self.name(0.0);
            members.push((k, v));
        }
        // Member order does not matter to either side.
        for i in (1..members.len()).rev() {
            let j = self.below(i + 1);
            members.swap(i, j);
        }
        let body: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{}:{v}", json_string(k)))
            .collect();
        format!("{{{}}}", body.join(","))
    }

    /// A string of `chars` characters, sometimes multi-byte or control characters.
    fn text(&mut self, chars: usize, controls: bool) -> String {
        let alphabet = [
            "a", "b", "z", "0", "-", "_", " ", "é", "日", "🙂", "/", "\"",
        ];
        let mut s = String::new();
        for _ in 0..chars {
            if controls && self.chance(0.02) {
                s.push(['\u{1}', '\n', '\u{7f}', '\u{85}'][self.below(4)]);
            } else {
                s.push_str(self.pick(&alphabet));
            }
        }
        s
    }

    /// A name: mostly a short string; sometimes an integer, empty, long, or not a name.
    fn name(&mut self, bad: f64) -> String {
        if self.chance(bad) {
            let n = 250 + self.below(20);
            return match self.below(9) {
                0 => json_string(""),
                1 => json_string(&self.text(n, false)),
                2 => json_string(&format!("a{}b", self.text(3, true))),
                3 => "7.5".into(),
                4 => "[1]".into(),
                5 => "true".into(),
                6 => "18446744073709551616".into(),
                7 => "1.8446744073709552e19".into(),
                _ => "{\"a\":1}".into(),
            };
        }
        match self.below(12) {
            0 => self.below(100_000).to_string(),
            1 => format!("{}.0", self.below(100)),
            2 => "-12".into(),
            3 => "1e3".into(),
            4 => "18446744073709551615".into(),
            5 => "null".into(),
            _ => {
                let n = 1 + self.below(12);
                json_string(&self.text(n, false))
            }
        }
    }

    /// A category: mostly short, sometimes near the 1024-byte limit on either side.
    fn category(&mut self, bad: f64) -> String {
        if self.chance(bad) {
            let n = 513 + self.below(10);
            return json_string(&"é".repeat(n));
        }
        if self.chance(0.05) {
            let n = 1000 + self.below(25);
            return json_string(&"x".repeat(n));
        }
        let n = self.below(10);
        json_string(&self.text(n, true))
    }

    fn number(&mut self, bad: f64) -> String {
        if self.chance(bad) {
            return self
                .pick(&["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
                .into();
        }
        self.pick(&[
            "0",
            "1",
            "-3",
            "42.5",
            "1e-5",
            "-0.0",
            "123456789012345678901234567890",
        ])
        .into()
    }

    fn features(&mut self, bad: f64) -> String {
        if self.chance(bad / 2.0) {
            return self.pick(&["[1,2]", "\"age\"", "3"]).into();
        }
        if self.chance(0.03) {
            return "null".into();
        }
        let mut entries = Vec::new();
        for _ in 0..self.below(6) {
            let key = if self.chance(bad / 2.0) {
                match self.below(3) {
                    0 => String::new(),
                    1 => {
                        let n = 257 + self.below(5);
                        self.text(n, false)
                    }
                    _ => format!("f{}", self.text(2, true)),
                }
            } else {
                let n = 1 + self.below(6);
                self.text(n, false)
            };
            let value = match self.below(6) {
                0 | 1 => self.number(bad / 2.0),
                2 => self.category(bad / 2.0),
                3 => self.pick(&["true", "false"]).into(),
                4 => "null".into(),
                _ if self.chance(bad) => self.pick(&["[1]", "{}"]).into(),
                _ => self.number(0.0),
            };
            entries.push(format!("{}:{value}", json_string(&key)));
        }
        if self.chance(bad / 3.0) && !entries.is_empty() {
            let again = entries[0].clone();
            entries.push(again);
        }
        format!("{{{}}}", entries.join(","))
    }

    fn prediction(&mut self, bad: f64) -> String {
        if self.chance(bad) {
            return match self.below(5) {
                0 => "[0.5]".into(),
                1 => "{}".into(),
                2 => "{\"score\":null,\"class\":null}".into(),
                3 => "{\"score\":\"high\"}".into(),
                _ => "{\"class\":[1]}".into(),
            };
        }
        match self.below(7) {
            0 | 1 => self.number(bad / 3.0),
            2 => self.category(bad / 3.0),
            3 => self.pick(&["true", "false", "null"]).into(),
            4 => format!("{{\"score\":{}}}", self.number(bad / 3.0)),
            5 => format!("{{\"class\":{}}}", self.category(bad / 3.0)),
            _ => {
                let class = match self.below(3) {
                    0 => "7".to_string(),
                    1 => "false".to_string(),
                    _ => self.category(0.0),
                };
                format!(
                    "{{\"score\":{},\"class\":{class},\"other\":1}}",
                    self.number(0.0)
                )
            }
        }
    }

    fn latency(&mut self, bad: f64) -> String {
        if self.chance(bad) {
            return self
                .pick(&["-1", "-0.001", "\"fast\"", "[3]", "NaN"])
                .into();
        }
        self.pick(&["0", "-0.0", "12.5", "3", "1e4", "null"]).into()
    }

    fn segment(&mut self, bad: f64) -> String {
        if self.chance(bad / 2.0) {
            return self.pick(&["[\"eu\"]", "\"eu\"", "1"]).into();
        }
        let mut entries = Vec::new();
        for _ in 0..self.below(4) {
            let key = if self.chance(bad / 3.0) {
                String::new()
            } else {
                let n = 1 + self.below(6);
                self.text(n, false)
            };
            let value = if self.chance(bad / 2.0) {
                match self.below(4) {
                    0 => json_string(""),
                    1 => json_string("eu\nwest"),
                    2 => json_string(&"é".repeat(129)),
                    _ => "{\"a\":1}".into(),
                }
            } else {
                match self.below(5) {
                    0 => self.pick(&["3", "2.5", "true", "null"]).into(),
                    _ => {
                        let n = 1 + self.below(8);
                        json_string(&self.text(n, false))
                    }
                }
            };
            entries.push(format!("{}:{value}", json_string(&key)));
        }
        format!("{{{}}}", entries.join(","))
    }

    fn label(&mut self, bad: f64) -> String {
        if self.chance(bad) {
            return self.pick(&["null", "[1]", "{}", "NaN", "1e400"]).into();
        }
        match self.below(4) {
            0 => self.pick(&["0", "1", "0.25", "-3"]).into(),
            1 => self.pick(&["true", "false"]).into(),
            _ => self.category(bad / 3.0),
        }
    }

    /// Event times in every form producers send, valid or not.
    fn timestamp(&mut self, bad: f64) -> String {
        if self.chance(0.35) {
            // Epoch numbers: milliseconds now-ish, floats, seconds, edges.
            let now = 1_796_295_600_123i64 + self.below(1_000_000_000) as i64;
            return if self.chance(bad) {
                match self.below(7) {
                    0 => (now / 1000).to_string(),
                    1 => format!("{}.25", now / 1000),
                    2 => "-1".into(),
                    3 => "99999999999".into(),
                    4 => "253402300800000".into(),
                    5 => "\"soon\"".into(),
                    _ => "true".into(),
                }
            } else {
                match self.below(6) {
                    0 => format!("{now}.{}", self.below(1000)),
                    1 => format!("{:e}", now as f64),
                    2 => "100000000000".into(),
                    3 => "253402300799999".into(),
                    4 => "null".into(),
                    _ => now.to_string(),
                }
            };
        }
        // RFC 3339 strings, built from parts that are each sometimes wrong.
        let wrong = |g: &mut Self| g.chance(bad / 3.0);
        let year = if wrong(self) {
            self.pick(&["1969", "0000", "10000", "99"]).to_string()
        } else {
            self.pick(&["1970", "2000", "2024", "2026", "2100", "2400", "9999"])
                .to_string()
        };
        let month = if wrong(self) {
            self.pick(&["00", "13", "1"]).to_string()
        } else {
            format!("{:02}", 1 + self.below(12))
        };
        let day = if wrong(self) {
            self.pick(&["00", "32", "1"]).to_string()
        } else {
            // 29..31 are invalid in some months: both sides must know which.
            format!("{:02}", 1 + self.below(31))
        };
        let sep = if wrong(self) {
            self.pick(&["x", "_", ""])
        } else {
            self.pick(&["T", "T", "t", " "])
        };
        let time = if wrong(self) {
            self.pick(&["24:00:00", "12:60:00", "12:00:61", "1:00:00", "12:00"])
                .to_string()
        } else if self.chance(0.03) {
            "23:59:60".to_string()
        } else {
            format!(
                "{:02}:{:02}:{:02}",
                self.below(24),
                self.below(60),
                self.below(60)
            )
        };
        let fraction = match self.below(6) {
            0 => format!(".{}", self.below(1000)),
            1 => format!(".{:09}", self.below(1_000_000_000)),
            2 => ".123456789012".to_string(),
            3 if wrong(self) => ".".to_string(),
            _ => String::new(),
        };
        let offset = if self.chance(bad / 2.0) {
            self.pick(&["", "+0100", "+1:00", "+24:00", "+01:60", "UTC", " Z"])
                .to_string()
        } else {
            match self.below(5) {
                0 => "z".to_string(),
                1 | 2 => "Z".to_string(),
                _ => format!(
                    "{}{:02}:{:02}",
                    self.pick(&["+", "-"]),
                    self.below(24),
                    self.below(60)
                ),
            }
        };
        json_string(&format!(
            "{year}-{month}-{day}{sep}{time}{fraction}{offset}"
        ))
    }

    /// An unknown member, ignored by both sides unless nested too deeply.
    fn extra(&mut self) -> String {
        let levels = self.pick(&["3", "126", "127", "200"]).parse().unwrap_or(3);
        format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

//! A corpus of hostile records: each one with the reason driftd must give when it
//! dead-letters it. Built in code (one is 10 MB) so that the bytes are exact.

use serde_json::json;

/// One malformed record: a name for messages, its bytes, the `driftd-reason` expected.
pub struct Hostile {
    pub name: String,
    pub payload: Vec<u8>,
    pub reason: &'static str,
}

fn rec(out: &mut Vec<Hostile>, name: &str, payload: impl Into<Vec<u8>>, reason: &'static str) {
    out.push(Hostile {
        name: name.to_string(),
        payload: payload.into(),
        reason,
    });
}

/// A valid record of `model` with one field replaced (or added) by raw JSON text.
fn with_field(model: &str, field: &str, raw: &str, now_ms: i64) -> String {
    let mut base = serde_json::Map::new();
    base.insert("model".into(), json!(model));
    base.insert("model_version".into(), json!("v1"));
    base.insert("id".into(), json!("hostile"));
    base.insert("ts".into(), json!(now_ms - 60_000));
    base.insert("features".into(), json!({"age": 41, "plan": "gold"}));
    base.insert("prediction".into(), json!(0.4));
    base.insert("latency_ms".into(), json!(12.0));
    base.remove(field);
    let rest = serde_json::Value::Object(base).to_string();
    // Put the raw field first, then the rest of the object.
    format!("{{\"{field}\":{raw},{}", &rest[1..])
}

/// The corpus for a daemon that knows exactly one model, `model`; `now_ms` is the
/// time the records are produced (for the far-future and far-past cases).
pub fn corpus(model: &str, now_ms: i64) -> Vec<Hostile> {
    let mut out = Vec::new();
    let f = |field: &str, raw: &str| with_field(model, field, raw, now_ms);

    // Not text, not JSON, not an object.
    rec(&mut out, "empty", "", "empty");
    rec(&mut out, "whitespace", " \n\t ", "empty");
    rec(&mut out, "lone 0xff", b"\xff".to_vec(), "invalid_utf8");
    let mut v = f("id", "\"x\"").into_bytes();
    v.insert(20, 0xc0);
    v.insert(21, 0x80);
    rec(&mut out, "overlong encoding", v, "invalid_utf8");
    rec(
        &mut out,
        "UTF-16 surrogate",
        {
            let mut v = b"{\"model\":\"".to_vec();
            v.extend_from_slice(&[0xed, 0xa0, 0x80]);
            v.extend_from_slice(b"\"}");
            v
        },
        "invalid_utf8",
    );
    rec(
        &mut out,
        "truncated multibyte",
        {
            let mut v = f("id", "\"x\"").into_bytes();
            v.push(0xe2);
            v
        },
        "invalid_utf8",
    );
    rec(
        &mut out,
        "invalid UTF-8 in a key",
        {
            let mut v = b"{\"\xfe\xff\":1,".to_vec();
            v.extend_from_slice(&f("id", "\"x\"").as_bytes()[1..]);
            v
        },
        "invalid_utf8",
    );
    rec(&mut out, "null", "null", "not_object");
    rec(&mut out, "array", "[1,2,3]", "not_object");
    rec(&mut out, "string", "\"churn\"", "not_object");
    rec(&mut out, "number", "42", "not_object");
    rec(
        &mut out,
        "truncated object",
        "{\"model\":\"churn\",\"features\":{\"age\":",
        "invalid_json",
    );
    rec(
        &mut out,
        "trailing garbage",
        format!("{} x", f("id", "\"x\"")),
        "invalid_json",
    );
    rec(
        &mut out,
        "two objects",
        format!("{0}{0}", f("id", "\"x\"")),
        "invalid_json",
    );
    rec(
        &mut out,
        "byte-order mark",
        format!("\u{feff}{}", f("id", "\"x\"")),
        "invalid_json",
    );
    rec(
        &mut out,
        "single quotes",
        "{'model':'churn'}",
        "invalid_json",
    );
    rec(
        &mut out,
        "comment",
        format!("{}//", f("id", "\"x\"")),
        "invalid_json",
    );

    // Deeply nested: serde_json's recursion limit, not the stack, stops these.
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    rec(
        &mut out,
        "nested 100k arrays in an unread field",
        f("extra", &deep(100_000)),
        "invalid_json",
    );
    rec(
        &mut out,
        "nested 1k arrays as a feature",
        f("features", &format!("{{\"age\":{}}}", deep(1000))),
        "invalid_json",
    );
    rec(
        &mut out,
        "nested 10k objects",
        format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)),
        "invalid_json",
    );
    rec(
        &mut out,
        "nested 200 arrays as the record",
        deep(200),
        "invalid_json",
    );

    // Too large to parse at all.
    rec(
        &mut out,
        "10 MB message",
        f("id", &format!("\"{}\"", "x".repeat(10 * 1024 * 1024))),
        "too_large",
    );
    rec(
        &mut out,
        "2 MB of features",
        f(
            "features",
            &format!("{{{}\"age\":1}}", "\"pad\":1,".repeat(2 * 1024 * 1024 / 8)),
        ),
        "too_large",
    );

    // Numbers beyond f64 and non-JSON number literals.
    rec(
        &mut out,
        "feature 1e400",
        f("features", "{\"age\":1e400}"),
        "invalid_json",
    );
    rec(
        &mut out,
        "latency 1e999",
        f("latency_ms", "1e999"),
        "invalid_json",
    );
    rec(
        &mut out,
        "prediction -1e309",
        f("prediction", "-1e309"),
        "invalid_json",
    );
    rec(&mut out, "ts 1e400", f("ts", "1e400"), "invalid_json");
    rec(
        &mut out,
        "ts beyond i64",
        f("ts", "99999999999999999999"),
        "invalid_value",
    );
    rec(
        &mut out,
        "feature NaN",
        f("features", "{\"age\":NaN}"),
        "invalid_json",
    );
    rec(
        &mut out,
        "feature Infinity",
        f("features", "{\"age\":Infinity}"),
        "invalid_json",
    );
    rec(
        &mut out,
        "prediction -Infinity",
        f("prediction", "-Infinity"),
        "invalid_json",
    );
    rec(
        &mut out,
        "latency nan",
        f("latency_ms", "nan"),
        "invalid_json",
    );
    rec(
        &mut out,
        "hex number",
        f("latency_ms", "0x10"),
        "invalid_json",
    );

    // Wrong types, field by field.
    for (field, raw) in [
        ("model", "true"),
        ("model", "[\"churn\"]"),
        ("model", "{\"name\":\"churn\"}"),
        ("model", "1.5"),
        ("model_version", "true"),
        ("model_version", "[]"),
        ("id", "{}"),
        ("id", "false"),
        ("id", "2.5"),
        ("ts", "true"),
        ("ts", "[1]"),
        ("ts", "{}"),
        ("features", "[1,2]"),
        ("features", "\"age=41\""),
        ("features", "7"),
        ("features", "{\"age\":{}}"),
        ("features", "{\"age\":[41]}"),
        ("prediction", "[0.4]"),
        ("prediction", "{\"score\":\"high\"}"),
        ("prediction", "{\"class\":[1]}"),
        ("latency_ms", "\"fast\""),
        ("latency_ms", "[12]"),
        ("latency_ms", "true"),
        ("segment", "[\"eu\"]"),
        ("segment", "5"),
        ("segment", "{\"region\":{}}"),
    ] {
        rec(
            &mut out,
            &format!("{field} = {raw}"),
            f(field, raw),
            "wrong_type",
        );
    }
    rec(
        &mut out,
        "no model",
        "{\"features\":{\"age\":1}}",
        "missing_field",
    );
    rec(&mut out, "model null", f("model", "null"), "missing_field");
    rec(
        &mut out,
        "prediction without score or class",
        f("prediction", "{}"),
        "missing_field",
    );

    // Values out of their domain.
    rec(
        &mut out,
        "negative latency",
        f("latency_ms", "-3"),
        "invalid_value",
    );
    rec(
        &mut out,
        "ts not RFC 3339",
        f("ts", "\"last tuesday\""),
        "invalid_value",
    );
    rec(&mut out, "negative epoch", f("ts", "-1"), "invalid_value");
    rec(
        &mut out,
        "model with a NUL",
        f("model", "\"chu\\u0000rn\""),
        "invalid_value",
    );
    rec(&mut out, "empty model", f("model", "\"\""), "invalid_value");
    rec(
        &mut out,
        "1 MB id",
        f("id", &format!("\"{}\"", "i".repeat(1_000_000))),
        "invalid_value",
    );
    rec(
        &mut out,
        "300 byte model version",
        f("model_version", &format!("\"{}\"", "v".repeat(300))),
        "invalid_value",
    );
    rec(
        &mut out,
        "1 MB feature name",
        f("features", &format!("{{\"{}\":1}}", "n".repeat(1_000_000))),
        "invalid_value",
    );
    rec(
        &mut out,
        "100 KB category",
        f(
            "features",
            &format!("{{\"plan\":\"{}\"}}", "g".repeat(100_000)),
        ),
        "invalid_value",
    );
    rec(
        &mut out,
        "100 KB predicted class",
        f("prediction", &format!("\"{}\"", "c".repeat(100_000))),
        "invalid_value",
    );
    rec(
        &mut out,
        "segment value with a newline",
        f("segment", "{\"region\":\"eu\\nwest\"}"),
        "invalid_value",
    );

    // Duplicate keys: which one is meant is ambiguous.
    rec(
        &mut out,
        "model twice",
        format!("{{\"model\":\"other\",{}", &f("id", "\"x\"")[1..]),
        "duplicate_key",
    );
    rec(
        &mut out,
        "features twice",
        format!("{{\"features\":{{\"age\":3}},{}", &f("id", "\"x\"")[1..]),
        "duplicate_key",
    );
    rec(
        &mut out,
        "feature twice",
        f("features", "{\"age\":41,\"plan\":\"gold\",\"age\":99}"),
        "duplicate_key",
    );

    // Unknown models: each would cost a set of windows.
    rec(
        &mut out,
        "unknown model",
        f("model", "\"no-such-model\""),
        "unknown_model",
    );
    rec(
        &mut out,
        "model in other case",
        f("model", &format!("\"{}\"", model.to_uppercase())),
        "unknown_model",
    );
    rec(
        &mut out,
        "model with trailing space",
        f("model", &format!("\"{model} \"")),
        "unknown_model",
    );
    rec(
        &mut out,
        "model as a number",
        f("model", "7"),
        "unknown_model",
    );

    // Event times no window holds.
    rec(
        &mut out,
        "year 9999",
        f("ts", "\"9999-12-31T23:59:59Z\""),
        "from_the_future",
    );
    rec(
        &mut out,
        "a day ahead",
        f("ts", &(now_ms + 86_400_000).to_string()),
        "from_the_future",
    );
    // Before 1973 in milliseconds: seconds sent as milliseconds (`time.time()`).
    rec(&mut out, "epoch zero", f("ts", "0"), "invalid_value");
    rec(
        &mut out,
        "seconds as milliseconds",
        f("ts", &(now_ms / 1000).to_string()),
        "invalid_value",
    );
    rec(
        &mut out,
        "a timestamp without an offset",
        f("ts", "\"2026-12-03T11:00:00.123456\""),
        "invalid_value",
    );
    rec(
        &mut out,
        "a NaN feature",
        f("features", "{\"age\":NaN}"),
        "invalid_json",
    );
    rec(
        &mut out,
        "1990",
        f("ts", "\"1990-01-01T00:00:00Z\""),
        "too_late",
    );
    rec(
        &mut out,
        "100 days ago",
        f("ts", &(now_ms - 100 * 86_400_000).to_string()),
        "too_late",
    );
    out
}

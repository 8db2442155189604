//! Decoding one record: the top level is read as raw JSON and only the fields the
//! configured paths ask for are parsed (no `serde_json::Value` tree per record); a
//! record that is not a JSON object goes through `Value`, which names its error.

use std::borrow::Cow;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use super::*;

/// Decodes one record. `fallback_ts_ms` is used when the record carries no timestamp
/// (the Kafka message timestamp, or the replay's clock).
pub fn decode(
    bytes: &[u8],
    role: SourceRole,
    paths: &RecordFields,
    fallback_ts_ms: i64,
) -> Result<Record, DecodeError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(err(DecodeReason::Empty, "empty message"));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        err(
            DecodeReason::InvalidUtf8,
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })?;
    // The top level as raw entries: each field is parsed only when a path asks for
    // it, and the features straight into their values, so a record costs no
    // `Value` tree. Anything that is not a JSON object takes the `Value` path, which
    // says exactly what is wrong.
    match serde_json::from_str::<Entries<'_>>(text) {
        Ok(top) => {
            // Skipping a raw value does not count its depth; parsing would refuse it.
            // (Not the features, the largest member: each of their values is parsed,
            // with serde_json's own limit.)
            let features = paths.features.as_str().split('/').nth(1).map(unescape);
            if let Some((k, _)) = top
                .0
                .iter()
                .find(|(k, v)| features.as_deref() != Some(&**k) && depth(v.get()) >= MAX_DEPTH)
            {
                return Err(err(
                    DecodeReason::InvalidJson,
                    format!(
                        "invalid JSON: `{}` is nested deeper than {MAX_DEPTH} levels",
                        truncate(k, 64).escape_debug()
                    ),
                ));
            }
            let source = Source::Raw {
                top: &top.0,
                whole: text,
            };
            decode_fields(&Fields { source, paths }, role, fallback_ts_ms)
        }
        // The `Value` path would silently keep the last of two equal keys.
        Err(e) => match duplicate_key(&e) {
            Some(duplicate) => Err(duplicate),
            None => decode_value(text, role, paths, fallback_ts_ms),
        },
    }
}

/// Levels of arrays and objects below the top-level object that serde_json parses
/// (its limit is 128 including the top level).
const MAX_DEPTH: usize = 127;

/// How deeply the raw JSON value `raw` nests arrays and objects (0 for a scalar);
/// stops counting at [`MAX_DEPTH`]. Strings are skipped, escapes included.
fn depth(raw: &str) -> usize {
    let bytes = raw.as_bytes();
    if !matches!(bytes.first(), Some(b'[' | b'{')) {
        return 0;
    }
    let (mut level, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                level += 1;
                deepest = deepest.max(level);
                if deepest >= MAX_DEPTH {
                    return deepest;
                }
            }
            b']' | b'}' => level = level.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Start of the error message of a repeated key in [`Entries`], so that the callers
/// can tell it apart from an object that is not one.
const DUPLICATE_KEY: &str = "duplicate key";

/// The [`DecodeReason::DuplicateKey`] error when parsing [`Entries`] failed on one.
fn duplicate_key(e: &serde_json::Error) -> Option<DecodeError> {
    let message = e.to_string();
    message.starts_with(DUPLICATE_KEY).then(|| {
        err(
            DecodeReason::DuplicateKey,
            truncate(&message, 200).to_string(),
        )
    })
}

/// [`decode()`] through a parsed `Value`: the reference the raw path is tested against,
/// and the path that names the error of a record that is not an object.
fn decode_value(
    text: &str,
    role: SourceRole,
    paths: &RecordFields,
    fallback_ts_ms: i64,
) -> Result<Record, DecodeError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        err(
            DecodeReason::InvalidJson,
            format!("invalid JSON: {e}{}", non_json_number(text, &e)),
        )
    })?;
    if !doc.is_object() {
        return Err(err(
            DecodeReason::NotAnObject,
            format!("expected a JSON object, got {}", type_name(&doc)),
        ));
    }
    let source = Source::Doc(&doc);
    decode_fields(&Fields { source, paths }, role, fallback_ts_ms)
}

/// A hint when the syntax error is at `NaN` or `Infinity`: what Python's `json.dumps`
/// writes for a float that is not finite (JSON has no such number).
fn non_json_number(text: &str, e: &serde_json::Error) -> &'static str {
    if !e.is_syntax() {
        return "";
    }
    let at = text
        .lines()
        .take(e.line().saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum::<usize>()
        + e.column().saturating_sub(1);
    let rest = text.get(at..).unwrap_or_default().trim_start_matches('-');
    if ["NaN", "Infinity"].iter().any(|t| rest.starts_with(t)) {
        " (NaN and Infinity are not JSON: send null for a missing value; Python's \
         json.dumps(…, allow_nan=False) finds them)"
    } else {
        ""
    }
}

fn decode_fields(
    fields: &Fields<'_>,
    role: SourceRole,
    fallback_ts_ms: i64,
) -> Result<Record, DecodeError> {
    let paths = fields.paths;
    let model = fields.name("model", &paths.model)?.ok_or_else(|| {
        err(
            DecodeReason::MissingField,
            format!("no model at `{}`", paths.model.as_str()),
        )
    })?;
    let ts_ms = fields.timestamp()?.unwrap_or(fallback_ts_ms);
    match role {
        SourceRole::Predictions => Ok(Record::Prediction(PredictionRecord {
            version: fields
                .name("model_version", &paths.model_version)?
                .unwrap_or_else(|| UNVERSIONED.to_string()),
            id: fields.name("id", &paths.id)?,
            ts_ms,
            features: fields.features()?,
            prediction: fields.prediction()?,
            latency_ms: fields.latency()?,
            segment: fields.segment()?,
            model,
        })),
        SourceRole::Labels => {
            let id = fields.name("id", &paths.id)?.ok_or_else(|| {
                err(
                    DecodeReason::MissingField,
                    format!("a label needs an id at `{}`", paths.id.as_str()),
                )
            })?;
            Ok(Record::Label(LabelRecord {
                model,
                id,
                label: fields.label()?,
                ts_ms,
            }))
        }
    }
}

struct Fields<'a> {
    source: Source<'a>,
    paths: &'a RecordFields,
}

/// An object key, borrowed from the input unless it has escapes. (serde's own
/// `Cow<str>` always allocates.)
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The members of a JSON object, in document order, values unparsed.
struct Entries<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Entries<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<'de>, A::Error> {
                let mut out: Vec<(Cow<'de, str>, &'de RawValue)> =
                    Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((Key(k), v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    // A record has a handful of top-level keys: a scan is cheapest.
                    if out.iter().any(|(e, _)| *e == k) {
                        return Err(serde::de::Error::custom(format_args!(
                            "{DUPLICATE_KEY} `{}`",
                            truncate(&k, 64).escape_debug()
                        )));
                    }
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The elements of a JSON array, unparsed.
struct Elements<'a>(Vec<&'a RawValue>);

impl<'de> serde::Deserialize<'de> for Elements<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Elements<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Elements<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<&'de RawValue>()? {
                    out.push(v);
                }
                Ok(Elements(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// The features object as (name, value) pairs, each value a small `Value`.
struct FeatureEntries<'a>(Vec<(Cow<'a, str>, Value)>);

impl<'de> serde::Deserialize<'de> for FeatureEntries<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FeatureEntries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<FeatureEntries<'de>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(32));
                while let Some((Key(k), v)) = map.next_entry::<Key<'de>, Value>()? {
                    out.push((k, v));
                }
                Ok(FeatureEntries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Where the fields come from: a parsed document (records that are not plain
/// objects, for their error), or the raw top-level members of one.
enum Source<'a> {
    Doc(&'a Value),
    Raw {
        top: &'a [(Cow<'a, str>, &'a RawValue)],
        whole: &'a str,
    },
}

/// `serde_json`'s rule for array indices in JSON pointers.
fn pointer_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

/// Follows a JSON pointer through raw JSON, with the semantics of
/// [`Value::pointer`] (the last of duplicate keys wins, as in a parsed `Value`).
fn raw_pointer<'a>(
    top: &[(Cow<'a, str>, &'a RawValue)],
    whole: &'a str,
    pointer: &str,
) -> Result<Option<Result<&'a RawValue, &'a str>>, DecodeError> {
    if pointer.is_empty() {
        return Ok(Some(Err(whole)));
    }
    let Some(mut tokens) = pointer.strip_prefix('/').map(|p| p.split('/')) else {
        return Ok(None);
    };
    let Some(first) = tokens.next().map(unescape) else {
        return Ok(None);
    };
    let Some(mut current) = top.iter().rev().find(|(k, _)| *k == first).map(|e| e.1) else {
        return Ok(None);
    };
    for token in tokens {
        let token = unescape(token);
        let text = current.get().trim_start();
        let next = if text.starts_with('{') {
            match serde_json::from_str::<Entries<'_>>(current.get()) {
                Ok(entries) => entries
                    .0
                    .iter()
                    .rev()
                    .find(|(k, _)| *k == token)
                    .map(|e| e.1),
                // On the way to a field, a repeated key makes the field ambiguous.
                Err(e) => match duplicate_key(&e) {
                    Some(duplicate) => return Err(duplicate),
                    None => None,
                },
            }
        } else if text.starts_with('[') {
            serde_json::from_str::<Elements<'_>>(current.get())
                .ok()
                .and_then(|elements| Some(*elements.0.get(pointer_index(&token)?)?))
        } else {
            None
        };
        match next {
            Some(n) => current = n,
            None => return Ok(None),
        }
    }
    Ok(Some(Ok(current)))
}

fn unescape(token: &str) -> Cow<'_, str> {
    if token.contains('~') {
        Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(token)
    }
}

impl Fields<'_> {
    /// The value at `pointer`; `None` when absent or null. (Raw JSON is checked for
    /// syntax up front; a number beyond f64 shows only when its field is read.)
    fn get(&self, pointer: &JsonPointer) -> Result<Option<Cow<'_, Value>>, DecodeError> {
        let value =
            match &self.source {
                Source::Doc(doc) => match doc.pointer(pointer.as_str()) {
                    Some(v) => Cow::Borrowed(v),
                    None => return Ok(None),
                },
                Source::Raw { top, whole } => {
                    let text = match raw_pointer(top, whole, pointer.as_str())? {
                        Some(Ok(raw)) => raw.get(),
                        Some(Err(whole)) => whole,
                        None => return Ok(None),
                    };
                    Cow::Owned(serde_json::from_str(text).map_err(|e| {
                        err(DecodeReason::InvalidJson, format!("invalid JSON: {e}"))
                    })?)
                }
            };
        Ok((!value.is_null()).then_some(value))
    }

    /// A name-like field: a string or an integer, non-empty, bounded, printable.
    fn name(&self, field: &str, pointer: &JsonPointer) -> Result<Option<String>, DecodeError> {
        let Some(v) = self.get(pointer)? else {
            return Ok(None);
        };
        let s = match &*v {
            Value::String(s) => s.clone(),
            Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            // `1.0` and `1e3` are integers too (as JSON Schema's "integer" says): the
            // digits of the integer, within the range of the integers above.
            Value::Number(n) if n.as_f64().is_some_and(integral) => {
                format!("{}", n.as_f64().unwrap_or_default() as i128)
            }
            other => {
                return Err(err(
                    DecodeReason::WrongType,
                    format!("{field} must be a string, got {}", type_name(other)),
                ))
            }
        };
        check_name(field, &s)?;
        Ok(Some(s))
    }

    fn timestamp(&self) -> Result<Option<i64>, DecodeError> {
        let Some(v) = self.get(&self.paths.timestamp)? else {
            return Ok(None);
        };
        match &*v {
            Value::String(s) => text_timestamp(s, self.paths.naive_timezone).map(Some),
            Value::Number(n) => epoch_timestamp(n, self.paths.timestamp_unit).map(Some),
            other => Err(err(
                DecodeReason::WrongType,
                format!(
                    "ts must be RFC 3339 or an epoch number, got {}",
                    type_name(other)
                ),
            )),
        }
    }

    fn features(&self) -> Result<Vec<(String, FeatureValue)>, DecodeError> {
        let pointer = self.paths.features.as_str();
        let mut entries: Vec<(Cow<'_, str>, Cow<'_, Value>)> = match &self.source {
            Source::Doc(doc) => match doc.pointer(pointer) {
                None | Some(Value::Null) => return Ok(Vec::new()),
                Some(Value::Object(map)) => map
                    .iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v)))
                    .collect(),
                Some(other) => return Err(not_an_object("features", other)),
            },
            Source::Raw { top, whole } => {
                let text = match raw_pointer(top, whole, pointer)? {
                    None => return Ok(Vec::new()),
                    Some(Ok(raw)) => raw.get(),
                    Some(Err(whole)) => whole,
                };
                match serde_json::from_str::<FeatureEntries<'_>>(text) {
                    // Sorted by name like a parsed object; a feature named twice is an
                    // error (a parsed object would silently keep the last).
                    Ok(f) => {
                        let mut pairs: Vec<(Cow<'_, str>, Cow<'_, Value>)> =
                            f.0.into_iter().map(|(k, v)| (k, Cow::Owned(v))).collect();
                        pairs.sort_by(|a, b| a.0.cmp(&b.0));
                        if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
                            return Err(err(
                                DecodeReason::DuplicateKey,
                                format!(
                                    "feature `{}` appears twice",
                                    truncate(&w[0].0, 64).escape_debug()
                                ),
                            ));
                        }
                        pairs
                    }
                    Err(_) => match serde_json::from_str::<Value>(text) {
                        Ok(Value::Null) => return Ok(Vec::new()),
                        Ok(other) => return Err(not_an_object("features", &other)),
                        Err(e) => {
                            return Err(err(DecodeReason::InvalidJson, format!("features: {e}")))
                        }
                    },
                }
            }
        };
        entries
            .drain(..)
            .map(|(name, value)| {
                check_name("feature name", &name)?;
                let value = feature_value(&name, &value)?;
                Ok((name.into_owned(), value))
            })
            .collect()
    }

    fn prediction(&self) -> Result<Option<Prediction>, DecodeError> {
        let Some(v) = self.get(&self.paths.prediction)? else {
            return Ok(None);
        };
        let v = &*v;
        let wrong = |what: &str, v: &Value| {
            err(
                DecodeReason::WrongType,
                format!("{what} must be a number or a string, got {}", type_name(v)),
            )
        };
        match v {
            Value::Number(n) => Ok(Some(Prediction {
                score: Some(finite(n.as_f64(), "prediction")?),
                class: None,
            })),
            Value::String(s) => {
                check_category("prediction", s)?;
                Ok(Some(Prediction {
                    score: None,
                    class: Some(s.clone()),
                }))
            }
            Value::Bool(b) => Ok(Some(Prediction {
                score: None,
                class: Some(b.to_string()),
            })),
            Value::Object(map) => {
                let score = match map.get("score") {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(n)) => Some(finite(n.as_f64(), "prediction.score")?),
                    Some(other) => return Err(wrong("prediction.score", other)),
                };
                let class = match map.get("class") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => {
                        check_category("prediction.class", s)?;
                        Some(s.clone())
                    }
                    Some(Value::Bool(b)) => Some(b.to_string()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    Some(other) => return Err(wrong("prediction.class", other)),
                };
                if score.is_none() && class.is_none() {
                    return Err(err(
                        DecodeReason::MissingField,
                        "prediction object has neither score nor class",
                    ));
                }
                Ok(Some(Prediction { score, class }))
            }
            other => Err(wrong("prediction", other)),
        }
    }

    fn latency(&self) -> Result<Option<f64>, DecodeError> {
        let Some(v) = self.get(&self.paths.latency_ms)? else {
            return Ok(None);
        };
        let Value::Number(n) = &*v else {
            return Err(err(
                DecodeReason::WrongType,
                format!("latency_ms must be a number, got {}", type_name(&v)),
            ));
        };
        let ms = finite(n.as_f64(), "latency_ms")?;
        if ms < 0.0 {
            return Err(err(
                DecodeReason::InvalidValue,
                format!("latency_ms {ms} is negative"),
            ));
        }
        Ok(Some(ms))
    }

    fn segment(&self) -> Result<Vec<(String, String)>, DecodeError> {
        let Some(v) = self.get(&self.paths.segment)? else {
            return Ok(Vec::new());
        };
        let Value::Object(map) = &*v else {
            return Err(not_an_object("segment", &v));
        };
        // A key is checked even when its value is null (absent): a bad key is the
        // producer's mistake either way, and the published schema says so.
        map.iter()
            .map(|(k, v)| check_name("segment key", k).map(|()| (k, v)))
            .filter(|entry| entry.as_ref().map_or(true, |(_, v)| !v.is_null()))
            .map(|entry| {
                let (k, v) = entry?;
                let s = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(err(
                            DecodeReason::WrongType,
                            format!(
                                "segment.{} must be a string, got {}",
                                truncate(k, 64),
                                type_name(other)
                            ),
                        ))
                    }
                };
                check_name("segment value", &s)?;
                Ok((k.clone(), s))
            })
            .collect()
    }

    fn label(&self) -> Result<LabelValue, DecodeError> {
        match self.get(&self.paths.label)?.as_deref() {
            None => Err(err(
                DecodeReason::MissingField,
                format!("no label at `{}`", self.paths.label.as_str()),
            )),
            Some(Value::Number(n)) => Ok(LabelValue::Number(finite(n.as_f64(), "label")?)),
            Some(Value::String(s)) => {
                check_category("label", s)?;
                Ok(LabelValue::Class(s.clone()))
            }
            Some(Value::Bool(b)) => Ok(LabelValue::Number(if *b { 1.0 } else { 0.0 })),
            Some(other) => Err(err(
                DecodeReason::WrongType,
                format!(
                    "label must be a number, string or boolean, got {}",
                    type_name(other)
                ),
            )),
        }
    }
}

fn not_an_object(field: &str, v: &Value) -> DecodeError {
    err(
        DecodeReason::WrongType,
        format!("{field} must be an object, got {}", type_name(v)),
    )
}

/// One feature's value as logged.
fn feature_value(name: &str, value: &Value) -> Result<FeatureValue, DecodeError> {
    Ok(match value {
        Value::Null => FeatureValue::Missing,
        Value::Number(n) => FeatureValue::Number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => {
            check_category(&format!("features.{}", truncate(name, 64)), s)?;
            FeatureValue::Category(s.clone())
        }
        Value::Bool(b) => FeatureValue::Category(b.to_string()),
        other => {
            return Err(err(
                DecodeReason::WrongType,
                format!(
                    "features.{} must be a number, string, boolean or null, got {}",
                    truncate(name, 64),
                    type_name(other)
                ),
            ))
        }
    })
}

/// 9999-12-31T23:59:59.999Z.
const MAX_EPOCH_MS: i64 = 253_402_300_799_999;
/// 1973-03-03T09:46:40Z: an epoch number earlier than this is almost surely in a
/// coarser unit than the configured one (seconds read as milliseconds land in January
/// 1970), and no live prediction is that old.
pub(crate) const MIN_PLAUSIBLE_EPOCH_MS: i64 = 100_000_000_000;

/// An RFC 3339 timestamp (fractional seconds optional), or one without an offset in
/// `naive` (ISO 8601 `YYYY-MM-DDTHH:MM:SS[.fff]`, `T` or a space), as epoch ms.
fn text_timestamp(s: &str, naive: Option<crate::base::time::Zone>) -> Result<i64, DecodeError> {
    let shown = truncate(s, 64);
    let ms = match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(t) => t.timestamp_millis(),
        Err(e) => match chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
        {
            Ok(local) => match naive {
                Some(zone) => zone.to_epoch_ms(&local).ok_or_else(|| {
                    err(
                        DecodeReason::InvalidValue,
                        format!("ts `{shown}` does not exist in {zone} (a daylight saving gap)"),
                    )
                })?,
                None => {
                    return Err(err(
                        DecodeReason::InvalidValue,
                        format!(
                            "ts `{shown}` has no UTC offset: add one (`Z`, `+02:00`) or set \
                             [source.fields] naive_timezone"
                        ),
                    ))
                }
            },
            Err(_) => {
                return Err(err(
                    DecodeReason::InvalidValue,
                    format!("ts `{shown}` is not RFC 3339: {e}"),
                ))
            }
        },
    };
    // The same range as epoch milliseconds (found by the decode fuzzer).
    if !(0..=MAX_EPOCH_MS).contains(&ms) {
        return Err(err(
            DecodeReason::InvalidValue,
            format!("ts `{shown}` is not between 1970 and 9999"),
        ));
    }
    Ok(ms)
}

/// An epoch number, integer or not, in `unit`, as epoch milliseconds (rounded down).
fn epoch_timestamp(n: &serde_json::Number, unit: TimestampUnit) -> Result<i64, DecodeError> {
    let out_of_range = || {
        err(
            DecodeReason::InvalidValue,
            format!(
                "ts {n} is not epoch {} between 1970 and 9999 ([source.fields] timestamp_unit = \"{}\")",
                unit.as_str(),
                unit.as_str()
            ),
        )
    };
    let ms = match n.as_i64() {
        // Integers exactly: an f64 has 53 bits, nanoseconds since 1970 need 61.
        Some(v) => match unit {
            TimestampUnit::S => v.checked_mul(1000),
            TimestampUnit::Ms => Some(v),
            TimestampUnit::Us => Some(v.div_euclid(1_000)),
            TimestampUnit::Ns => Some(v.div_euclid(1_000_000)),
        },
        None => n
            .as_f64()
            .map(|v| (v * unit.ms_per_unit()).floor())
            .filter(|ms| ms.is_finite() && ms.abs() < 1e18)
            .map(|ms| ms as i64),
    }
    .filter(|ms| (0..=MAX_EPOCH_MS).contains(ms))
    .ok_or_else(out_of_range)?;
    if ms < MIN_PLAUSIBLE_EPOCH_MS {
        if let Some(coarser) = unit.coarser() {
            return Err(err(
                DecodeReason::InvalidValue,
                format!(
                    "ts {n} read as {} is in {}: it looks like {}, set [source.fields] \
                     timestamp_unit = \"{}\"",
                    unit.as_str(),
                    1970 + ms / 31_557_600_000,
                    match coarser {
                        TimestampUnit::S => "seconds",
                        TimestampUnit::Ms => "milliseconds",
                        TimestampUnit::Us => "microseconds",
                        TimestampUnit::Ns => "nanoseconds",
                    },
                    coarser.as_str()
                ),
            ));
        }
    }
    Ok(ms)
}

/// A float that is an integer in `i64::MIN..=u64::MAX`.
fn integral(f: f64) -> bool {
    f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..18_446_744_073_709_551_616.0).contains(&f)
}

fn finite(v: Option<f64>, field: &str) -> Result<f64, DecodeError> {
    match v {
        Some(x) if x.is_finite() => Ok(x),
        _ => Err(err(
            DecodeReason::InvalidValue,
            format!("{field} is not a finite number"),
        )),
    }
}

/// Names (models, versions, features, segments) are non-empty, bounded, printable.
pub(crate) fn check_name(field: &str, s: &str) -> Result<(), DecodeError> {
    if s.is_empty() {
        return Err(err(DecodeReason::InvalidValue, format!("{field} is empty")));
    }
    if s.len() > MAX_NAME_BYTES {
        return Err(err(
            DecodeReason::InvalidValue,
            format!(
                "{field} is {} bytes long; the limit is {MAX_NAME_BYTES}",
                s.len()
            ),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(err(
            DecodeReason::InvalidValue,
            format!("{field} `{}` contains control characters", s.escape_debug()),
        ));
    }
    Ok(())
}

fn check_category(field: &str, s: &str) -> Result<(), DecodeError> {
    if s.len() > MAX_CATEGORY_BYTES {
        return Err(err(
            DecodeReason::InvalidValue,
            format!(
                "{field} is a {} byte string; the limit for a category is {MAX_CATEGORY_BYTES}",
                s.len()
            ),
        ));
    }
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pred(json: &str) -> Result<Record, DecodeError> {
        decode(
            json.as_bytes(),
            SourceRole::Predictions,
            &RecordFields::default(),
            42,
        )
    }

    /// Whether any object in `raw` repeats a key: an independent check of the
    /// duplicate rule (members counted one by one against a map that merges them).
    fn has_duplicate_key(raw: &str) -> bool {
        let raw = raw.trim_start();
        if raw.starts_with('{') {
            let Ok(map) = serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(raw) else {
                return false;
            };
            count_members(raw) > map.len() || map.values().any(|v| has_duplicate_key(v.get()))
        } else if raw.starts_with('[') {
            serde_json::from_str::<Vec<Box<RawValue>>>(raw)
                .is_ok_and(|items| items.iter().any(|v| has_duplicate_key(v.get())))
        } else {
            false
        }
    }

    /// Members of the JSON object `raw`, counted without merging equal keys.
    fn count_members(raw: &str) -> usize {
        struct Count;
        impl<'de> Visitor<'de> for Count {
            type Value = usize;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
                let mut n = 0;
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {
                    n += 1;
                }
                Ok(n)
            }
        }
        let mut de = serde_json::Deserializer::from_str(raw);
        serde::Deserializer::deserialize_map(&mut de, Count).unwrap_or(0)
    }

    use std::collections::BTreeMap;

    #[test]
    fn nesting_limit_is_serde_json_s_in_unread_fields_too() {
        let paths = RecordFields::default();
        for n in [1, 126, 127, 128, 100_000] {
            let nested = format!(
                "{}1{}",
                "[{\"a\":".repeat(n / 2) + &"[".repeat(n % 2),
                "}]".repeat(n / 2) + &"]".repeat(n % 2)
            );
            assert_eq!(depth(&nested), n.min(MAX_DEPTH), "depth of {n}");
            let text = format!("{{\"model\":\"m\",\"unread\":{nested}}}");
            let fast = decode(text.as_bytes(), SourceRole::Predictions, &paths, 7);
            assert_eq!(fast.is_ok(), n < MAX_DEPTH, "{n} levels: {fast:?}");
            if n < 1000 {
                let reference = decode_value(&text, SourceRole::Predictions, &paths, 7);
                assert_eq!(fast.map_err(|e| e.reason), reference.map_err(|e| e.reason));
            }
        }
        // Deep feature values are refused by their own parse.
        let text = format!(
            "{{\"model\":\"m\",\"features\":{{\"f\":{}1{}}}}}",
            "[".repeat(200),
            "]".repeat(200)
        );
        let e = decode(text.as_bytes(), SourceRole::Predictions, &paths, 7).unwrap_err();
        assert_eq!(e.reason, DecodeReason::InvalidJson, "{e}");
        // Brackets inside strings do not count.
        assert_eq!(depth(r#"["[[[\"[", "]"]"#), 1);
    }

    #[test]
    fn decodes_the_design_record() {
        let r = pred(
            r#"{"model":"churn","model_version":"v7","id":"req-1","ts":"2026-11-28T08:00:00Z",
            "features":{"age":42,"plan":"gold","income":null},"prediction":0.83,"latency_ms":12.5,
            "segment":{"region":"eu"}}"#,
        )
        .unwrap();
        let Record::Prediction(p) = r else { panic!() };
        assert_eq!(p.model, "churn");
        assert_eq!(p.version, "v7");
        assert_eq!(p.ts_ms, 1_795_852_800_000);
        assert_eq!(p.features.len(), 3);
        assert!(p
            .features
            .contains(&("income".into(), FeatureValue::Missing)));
        assert!(p
            .features
            .contains(&("plan".into(), FeatureValue::Category("gold".into()))));
        assert_eq!(p.prediction.unwrap().score, Some(0.83));
        assert_eq!(p.latency_ms, Some(12.5));
        assert_eq!(p.segment, vec![("region".into(), "eu".into())]);
    }

    #[test]
    fn missing_optional_fields_get_defaults() {
        let Record::Prediction(p) = pred(r#"{"model":"m"}"#).unwrap() else {
            panic!()
        };
        assert_eq!(p.version, UNVERSIONED);
        assert_eq!(p.ts_ms, 42);
        assert!(p.features.is_empty() && p.prediction.is_none());
    }

    #[test]
    fn prediction_forms() {
        let get = |j: &str| match pred(j).unwrap() {
            Record::Prediction(p) => p.prediction.unwrap(),
            _ => panic!(),
        };
        assert_eq!(
            get(r#"{"model":"m","prediction":"churn"}"#)
                .class
                .as_deref(),
            Some("churn")
        );
        let both = get(r#"{"model":"m","prediction":{"score":0.5,"class":"yes"}}"#);
        assert_eq!(
            (both.score, both.class.as_deref()),
            (Some(0.5), Some("yes"))
        );
    }

    #[test]
    fn rejects_with_reasons() {
        let reason = |b: &[u8]| {
            decode(b, SourceRole::Predictions, &RecordFields::default(), 0)
                .unwrap_err()
                .reason
        };
        assert_eq!(reason(b""), DecodeReason::Empty);
        assert_eq!(reason(b"  \n"), DecodeReason::Empty);
        assert_eq!(reason(b"{\"model\":\"\xff\"}"), DecodeReason::InvalidUtf8);
        assert_eq!(reason(b"{not json"), DecodeReason::InvalidJson);
        assert_eq!(reason(b"[1,2]"), DecodeReason::NotAnObject);
        assert_eq!(reason(b"{\"features\":{}}"), DecodeReason::MissingField);
        assert_eq!(reason(b"{\"model\":[1]}"), DecodeReason::WrongType);
        assert_eq!(
            reason(b"{\"model\":\"m\",\"features\":[1]}"),
            DecodeReason::WrongType
        );
        assert_eq!(
            reason(b"{\"model\":\"m\",\"features\":{\"a\":{}}}"),
            DecodeReason::WrongType
        );
        assert_eq!(
            reason(b"{\"model\":\"m\",\"ts\":\"yesterday\"}"),
            DecodeReason::InvalidValue
        );
        assert_eq!(
            reason(b"{\"model\":\"m\",\"ts\":-5}"),
            DecodeReason::InvalidValue
        );
        assert_eq!(
            reason(b"{\"model\":\"m\",\"latency_ms\":-1}"),
            DecodeReason::InvalidValue
        );
        assert_eq!(
            reason(b"{\"model\":\"m\",\"latency_ms\":\"fast\"}"),
            DecodeReason::WrongType
        );
        assert_eq!(reason(b"{\"model\":\"\"}"), DecodeReason::InvalidValue);
        assert_eq!(
            reason(b"{\"model\":\"m\",\"ts\":\"1013-11-28T10:00:00Z\"}"),
            DecodeReason::InvalidValue
        );
        assert_eq!(
            reason(b"{\"model\":\"a\\u0000b\"}"),
            DecodeReason::InvalidValue
        );
        assert_eq!(
            reason(b"{\"model\":\"m\",\"latency_ms\":1e400}"),
            DecodeReason::InvalidJson
        );
        let long = format!("{{\"model\":\"{}\"}}", "x".repeat(MAX_NAME_BYTES + 1));
        assert_eq!(reason(long.as_bytes()), DecodeReason::InvalidValue);
    }

    /// The event time of a prediction whose `ts` is `raw` (JSON), read with `fields`.
    fn ts_with(raw: &str, fields: &RecordFields) -> Result<i64, DecodeError> {
        let json = format!("{{\"model\":\"m\",\"ts\":{raw}}}");
        match decode(json.as_bytes(), SourceRole::Predictions, fields, 0)? {
            Record::Prediction(p) => Ok(p.ts_ms),
            Record::Label(_) => unreachable!("a prediction source"),
        }
    }

    #[test]
    fn timestamps_as_producers_send_them() {
        let default = RecordFields::default();
        let ts = |raw: &str| ts_with(raw, &default);
        // 2026-12-03T11:00:00.123Z
        let ms = 1_796_295_600_123;
        assert_eq!(ts("1796295600123").unwrap(), ms);
        // Python's `time.time() * 1000`: a float, rounded down.
        assert_eq!(ts("1796295600123.789").unwrap(), ms);
        assert_eq!(ts("1.796295600123e12").unwrap(), ms);
        assert_eq!(ts("\"2026-12-03T11:00:00.123Z\"").unwrap(), ms);
        assert_eq!(ts("\"2026-12-03T11:00:00.123456+00:00\"").unwrap(), ms);
        assert_eq!(ts("\"2026-12-03T12:00:00.123+01:00\"").unwrap(), ms);
        assert_eq!(ts("\"2026-12-03T11:00:00Z\"").unwrap(), ms - 123);
        // Python's `str(datetime.now(timezone.utc))`: a space, not a `T`.
        assert_eq!(ts("\"2026-12-03 11:00:00.123+00:00\"").unwrap(), ms);

        // `time.time()` read as milliseconds lands in 1970: refused, with the fix.
        let e = ts("1796295600.123").unwrap_err();
        assert_eq!(e.reason, DecodeReason::InvalidValue);
        assert!(e.detail.contains("looks like seconds"), "{}", e.detail);
        assert!(e.detail.contains("timestamp_unit = \"s\""), "{}", e.detail);
        assert!(ts("1796295600")
            .unwrap_err()
            .detail
            .contains("looks like seconds"));
        // `datetime.now().isoformat()`: no offset, refused unless a zone is configured.
        let e = ts("\"2026-12-03T11:00:00.123456\"").unwrap_err();
        assert_eq!(e.reason, DecodeReason::InvalidValue);
        assert!(e.detail.contains("no UTC offset"), "{}", e.detail);
        assert!(e.detail.contains("naive_timezone"), "{}", e.detail);

        let unit = |u| RecordFields {
            timestamp_unit: u,
            ..RecordFields::default()
        };
        let seconds = unit(TimestampUnit::S);
        assert_eq!(ts_with("1796295600.123", &seconds).unwrap(), ms);
        assert_eq!(ts_with("1796295600", &seconds).unwrap(), ms - 123);
        assert_eq!(
            ts_with("1796295600123", &unit(TimestampUnit::Ms)).unwrap(),
            ms
        );
        assert_eq!(
            ts_with("1796295600123456", &unit(TimestampUnit::Us)).unwrap(),
            ms
        );
        // Nanoseconds exactly: beyond f64's 53 bits.
        let ns = unit(TimestampUnit::Ns);
        assert_eq!(ts_with("1796295600123999999", &ns).unwrap(), ms);
        assert!(ts_with("1796295600123999", &ns)
            .unwrap_err()
            .detail
            .contains("looks like microseconds"));
        // Milliseconds read as seconds are past 9999.
        let e = ts_with("1796295600123", &seconds).unwrap_err();
        assert!(e.detail.contains("between 1970 and 9999"), "{}", e.detail);

        let zone = |z: &str| RecordFields {
            naive_timezone: Some(z.parse().unwrap()),
            ..RecordFields::default()
        };
        let naive = "\"2026-12-03T11:00:00.123\"";
        assert_eq!(ts_with(naive, &zone("UTC")).unwrap(), ms);
        assert_eq!(ts_with(naive, &zone("-02:00")).unwrap(), ms + 7_200_000);
        assert_eq!(
            ts_with(naive, &zone("Europe/Berlin")).unwrap(),
            ms - 3_600_000
        );
        assert_eq!(
            ts_with("\"2026-07-03 11:00:00.123\"", &zone("Europe/Berlin")).unwrap(),
            ms - 3_600_000 - 153 * 86_400_000 - 3_600_000,
            "summer time: UTC+2"
        );
        // An offset in the record wins over the configured zone.
        assert_eq!(
            ts_with("\"2026-12-03T11:00:00.123Z\"", &zone("+05:00")).unwrap(),
            ms
        );
        // 02:30 on the last Sunday of March does not exist in Berlin.
        let e = ts_with("\"2026-03-29T02:30:00\"", &zone("Europe/Berlin")).unwrap_err();
        assert!(e.detail.contains("daylight saving gap"), "{}", e.detail);
        // The repeated hour in October: the earlier instant.
        assert_eq!(
            ts_with("\"2026-10-25T02:30:00\"", &zone("Europe/Berlin")).unwrap(),
            ts("\"2026-10-25T00:30:00Z\"").unwrap()
        );
        for bad in ["Mars/Olympus", "+25:00", "utc+2"] {
            assert!(bad.parse::<crate::base::time::Zone>().is_err(), "{bad}");
        }
    }

    #[test]
    fn names_accept_integers_written_as_floats() {
        let model = |raw: &str| {
            let json = format!("{{\"model\":{raw}}}");
            decode(
                json.as_bytes(),
                SourceRole::Predictions,
                &RecordFields::default(),
                0,
            )
            .map(|r| r.model().to_string())
        };
        assert_eq!(model("7").unwrap(), "7");
        assert_eq!(model("7.0").unwrap(), "7");
        assert_eq!(model("1e3").unwrap(), "1000");
        assert_eq!(
            model("18446744073709551615").unwrap(),
            "18446744073709551615"
        );
        assert_eq!(model("7.5").unwrap_err().reason, DecodeReason::WrongType);
        assert_eq!(
            model("1.8446744073709552e19").unwrap_err().reason,
            DecodeReason::WrongType
        );
    }

    #[test]
    fn nan_gets_a_hint() {
        let e = pred("{\"model\":\"m\",\"features\":{\"x\": NaN}}").unwrap_err();
        assert_eq!(e.reason, DecodeReason::InvalidJson);
        assert!(
            e.detail.contains("NaN and Infinity are not JSON"),
            "{}",
            e.detail
        );
        let e = pred("{\"model\":\"m\",\n\"latency_ms\":-Infinity}").unwrap_err();
        assert!(
            e.detail.contains("NaN and Infinity are not JSON"),
            "{}",
            e.detail
        );
        let e = pred("{\"model\":\"m\",\"x\": nope}").unwrap_err();
        assert!(!e.detail.contains("NaN"), "{}", e.detail);
    }

    #[test]
    fn custom_field_paths() {
        let paths = RecordFields {
            model: JsonPointer("/meta/name".into()),
            timestamp: JsonPointer("/meta/at".into()),
            features: JsonPointer("/x".into()),
            ..RecordFields::default()
        };
        let r = decode(
            br#"{"meta":{"name":"fraud","at":1700000000000},"x":{"a":1}}"#,
            SourceRole::Predictions,
            &paths,
            0,
        )
        .unwrap();
        let Record::Prediction(p) = r else { panic!() };
        assert_eq!((p.model.as_str(), p.ts_ms), ("fraud", 1_700_000_000_000));
        assert_eq!(p.features, vec![("a".into(), FeatureValue::Number(1.0))]);
    }

    #[test]
    fn labels_need_id_and_label() {
        let dec = |j: &str| {
            decode(
                j.as_bytes(),
                SourceRole::Labels,
                &RecordFields::default(),
                7,
            )
        };
        let Record::Label(l) = dec(r#"{"model":"churn","id":"req-1","label":true}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (l.id.as_str(), &l.label, l.ts_ms),
            ("req-1", &LabelValue::Number(1.0), 7)
        );
        assert_eq!(
            dec(r#"{"model":"churn","label":1}"#).unwrap_err().reason,
            DecodeReason::MissingField
        );
        assert_eq!(
            dec(r#"{"model":"churn","id":"x"}"#).unwrap_err().reason,
            DecodeReason::MissingField
        );
    }

    /// Random JSON text (with duplicate keys, escapes, nesting) for the equivalence
    /// test of the raw and the `Value` decoding paths.
    fn random_json(rng: &mut crate::base::rng::SplitMix, depth: u32, keys: &[&str]) -> String {
        let pick =
            |rng: &mut crate::base::rng::SplitMix, n: usize| (rng.next_u64() % n as u64) as usize;
        match pick(rng, if depth == 0 { 7 } else { 9 }) {
            0 => "null".into(),
            1 => {
                if rng.uniform() < 0.5 {
                    "true".into()
                } else {
                    "false".into()
                }
            }
            2 => format!("{}", (rng.next_u64() >> pick(rng, 64)) as i64 - (1 << 20)),
            3 => format!("{}", rng.next_u64()),
            4 => format!(
                "{:e}",
                (rng.uniform() - 0.5) * 10f64.powi(pick(rng, 40) as i32 - 20)
            ),
            5 | 6 => {
                const STRS: &[&str] = &[
                    "m",
                    "v1",
                    "",
                    "a\\u0000b",
                    "2026-11-28T08:00:00Z",
                    "x\\\"y",
                    "1700000000000",
                    "é~/",
                ];
                format!("\"{}\"", STRS[pick(rng, STRS.len())])
            }
            7 => {
                let n = pick(rng, 4);
                let items: Vec<String> =
                    (0..n).map(|_| random_json(rng, depth - 1, keys)).collect();
                format!("[{}]", items.join(","))
            }
            _ => {
                let n = pick(rng, 5);
                let items: Vec<String> = (0..n)
                    .map(|_| {
                        format!(
                            "\"{}\":{}",
                            keys[pick(rng, keys.len())],
                            random_json(rng, depth - 1, keys)
                        )
                    })
                    .collect();
                format!("{{{}}}", items.join(","))
            }
        }
    }

    #[test]
    fn raw_decoding_equals_value_decoding() {
        let top = [
            "model",
            "model_version",
            "id",
            "ts",
            "features",
            "prediction",
            "latency_ms",
            "segment",
            "label",
            "meta",
            "x",
            "score",
            "class",
        ];
        let inner = [
            "a", "b", "c", "d~1e", "name", "at", "0", "score", "class", "",
        ];
        let nested = RecordFields {
            model: JsonPointer("/meta/name".into()),
            timestamp: JsonPointer("/meta/at".into()),
            features: JsonPointer("/x/0".into()),
            label: JsonPointer("/meta/d~1e".into()),
            ..RecordFields::default()
        };
        let mut rng = crate::base::rng::SplitMix::new(17);
        let (mut ok, mut rejected, mut duplicates) = (0, 0, 0);
        for i in 0..30_000 {
            // Mostly plausible records, with random members (duplicates included).
            let mut members = vec![format!("\"model\":\"{}\"", ["m", "fraud", ""][i % 3])];
            for _ in 0..(rng.next_u64() % 8) {
                let k = top[(rng.next_u64() % top.len() as u64) as usize];
                let v = if k == "features" && rng.uniform() < 0.7 {
                    let n = rng.next_u64() % 6;
                    let pairs: Vec<String> = (0..n)
                        .map(|_| {
                            let name = inner[(rng.next_u64() % inner.len() as u64) as usize];
                            format!("\"{name}\":{}", random_json(&mut rng, 1, &inner))
                        })
                        .collect();
                    format!("{{{}}}", pairs.join(","))
                } else {
                    random_json(&mut rng, 3, &inner)
                };
                members.push(format!("\"{k}\":{v}"));
            }
            let text = format!("{{{}}}", members.join(","));
            for role in [SourceRole::Predictions, SourceRole::Labels] {
                for paths in [&RecordFields::default(), &nested] {
                    let fast = decode(text.as_bytes(), role, paths, 7);
                    if matches!(&fast, Err(e) if e.reason == DecodeReason::DuplicateKey) {
                        // The `Value` path keeps the last of equal keys; the fast path
                        // refuses them, and only them.
                        assert!(has_duplicate_key(&text), "{text}");
                        duplicates += 1;
                        continue;
                    }
                    let reference = decode_value(&text, role, paths, 7);
                    assert_eq!(fast, reference, "{text}");
                    if fast.is_ok() {
                        ok += 1
                    } else {
                        rejected += 1
                    }
                }
            }
        }
        assert!(
            ok > 3_000 && rejected > 10_000 && duplicates > 1_000,
            "all outcomes exercised: {ok} ok, {rejected} rejected, {duplicates} duplicates"
        );
    }
}

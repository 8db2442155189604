//! Annotation templates in the syntax Prometheus's alerting rules use: Go's
//! `text/template` (parsed and executed by [gtmpl](https://docs.rs/gtmpl)) with the
//! variables Prometheus defines (`$labels`, `$value`, `$externalLabels`,
//! `$externalURL`) and its formatting functions (`humanize`, `humanizePercentage`,
//! `humanizeDuration`, …). driftd adds `$threshold`, `$reference`, `$samples`,
//! `$metric` and `$rule`.
//!
//! Where gtmpl's own behaviour differs from Go's, this module replaces it, so that a
//! template renders the text Prometheus renders (tested against `promtool test rules`
//! in `tests/rules_promtool.rs`):
//! - `$value` prints as Go prints a float64 (`1e-05`, `1e+06`, `+Inf`), not as Rust
//!   does (`0.00001`, `1000000`, `inf`): it is handed to the template as that text, and
//!   the functions below read numbers from text as Prometheus's `convertToFloat` does;
//! - `printf` is Go's `fmt` for the verbs templates use (`%v %s %d %f %e %g %q %x %t`,
//!   flags, width, precision), where gtmpl refuses `%f` on an integral float;
//! - `eq ne lt le gt ge` compare numbers as numbers whatever their representation.
//!
//! Pure: text and values in, text out.

use std::collections::{BTreeMap, HashMap};

use gtmpl::{Context, Func, FuncError, Template, Value};

/// What a template sees, Prometheus's `AlertTemplateData` plus driftd's numbers.
#[derive(Debug, Clone, Copy)]
pub struct TemplateData<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub value: f64,
    pub threshold: f64,
    pub reference: Option<f64>,
    /// A version-relative rule's baseline value (`$baseline`).
    pub baseline: Option<f64>,
    pub samples: u64,
    pub metric: &'a str,
    pub rule: &'a str,
    pub external_url: &'a str,
}

/// Prometheus prepends these definitions to every annotation (rules/alerting.go).
const PREAMBLE: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}\
{{$externalURL := .ExternalURL}}{{$value := .Value}}{{$threshold := .Threshold}}\
{{$reference := .Reference}}{{$baseline := .Baseline}}{{$samples := .Samples}}{{$metric := .Metric}}{{$rule := .Rule}}";

/// The functions a template may call besides gtmpl's built-ins (`and or not len
/// index print println urlquery call`), in Prometheus's names.
const FUNCTIONS: &[(&str, Func)] = &[
    ("printf", printf as Func),
    ("eq", eq as Func),
    ("ne", ne as Func),
    ("lt", lt as Func),
    ("le", le as Func),
    ("gt", gt as Func),
    ("ge", ge as Func),
    ("humanize", humanize as Func),
    ("humanize1024", humanize1024 as Func),
    ("humanizeDuration", humanize_duration as Func),
    ("humanizePercentage", humanize_percentage as Func),
    ("humanizeTimestamp", humanize_timestamp as Func),
    ("toUpper", to_upper as Func),
    ("toLower", to_lower as Func),
    ("title", title as Func),
    ("match", match_regex as Func),
    ("reReplaceAll", re_replace_all as Func),
    ("stripPort", strip_port as Func),
    ("stripDomain", strip_domain as Func),
    ("safeHtml", safe_html as Func),
];

fn template(text: &str) -> Result<Template, String> {
    safe_for_gtmpl(text)?;
    let mut t = Template::default();
    t.add_funcs(FUNCTIONS);
    t.parse(format!("{PREAMBLE}{text}"))
        .map_err(|e| describe(&e.to_string()))?;
    Ok(t)
}

/// Parses `text`: an unknown function or variable, or bad syntax, is an error naming
/// it (`rules check`).
pub(crate) fn check(text: &str) -> Result<(), String> {
    template(text).map(|_| ())
}

/// Renders `text`; a template that fails while running renders as Prometheus's
/// `<error expanding template: …>`, so the alert still goes out.
pub fn render(text: &str, data: &TemplateData) -> String {
    let rendered = template(text).and_then(|t| {
        t.render(&Context::from(context(data)))
            .map_err(|e| describe(&e.to_string()))
    });
    rendered.unwrap_or_else(|e| format!("<error expanding template: {e}>"))
}

/// gtmpl's messages without its `template: :<line>:` prefix (the line counts the
/// preamble; the rule file's line is reported by the caller).
fn describe(message: &str) -> String {
    let m = message.trim();
    let m = m.strip_prefix("template: ").unwrap_or(m);
    match m.strip_prefix(':').and_then(|r| r.split_once(':')) {
        Some((line, rest)) if line.chars().all(|c| c.is_ascii_digit()) => rest.trim().to_string(),
        _ => m.to_string(),
    }
}

/// What gtmpl 0.7's lexer (which runs on a thread of its own) cannot take: its
/// `peek` steps back one byte whatever it read, so at the end of the text inside an
/// action (`{{ .A `) it loops forever, and after a non-ASCII character inside an
/// action it slices a `char` in two and panics. Both are refused here first: every
/// `{{` must have its `}}`, and outside quoted strings an action is ASCII.
/// Quotes (`"…"`, `` `…` ``, `'…'`) and comments are skipped as gtmpl skips them.
fn safe_for_gtmpl(text: &str) -> Result<(), String> {
    let b = text.as_bytes();
    let unclosed = |at: usize| format!("`{{{{` at byte {at} is never closed with `}}}}`");
    let mut i = 0;
    while let Some(open) = text[i..].find("{{").map(|o| o + i) {
        let mut j = open + 2;
        loop {
            match b.get(j) {
                None => return Err(unclosed(open)),
                Some(b'}') if b.get(j + 1) == Some(&b'}') => break,
                Some(b'/') if b.get(j + 1) == Some(&b'*') => match text[j + 2..].find("*/") {
                    Some(end) => j += 2 + end + 2,
                    None => return Err(unclosed(open)),
                },
                Some(&q) if q == b'"' || q == b'\'' || q == b'`' => {
                    j += 1;
                    loop {
                        match b.get(j) {
                            None => return Err(unclosed(open)),
                            Some(b'\\') if q != b'`' => j += 2,
                            Some(&c) => {
                                j += 1;
                                if c == q {
                                    break;
                                }
                            }
                        }
                    }
                }
                Some(c) if !c.is_ascii() => {
                    let ch = text[j..].chars().next().unwrap_or('?');
                    return Err(format!(
                        "`{ch}` inside `{{{{ }}}}` (byte {j}): outside a quoted string an action \
                         is ASCII; put the text outside the action or in quotes"
                    ));
                }
                Some(_) => j += 1,
            }
        }
        i = j + 2;
    }
    Ok(())
}

fn context(d: &TemplateData) -> Value {
    let labels: HashMap<String, Value> = d
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut o: HashMap<String, Value> = HashMap::new();
    o.insert("Labels".into(), Value::Map(labels));
    o.insert("ExternalLabels".into(), Value::Map(HashMap::new()));
    o.insert("ExternalURL".into(), Value::String(d.external_url.into()));
    o.insert("Value".into(), Value::String(go_float(d.value, 'v', None)));
    o.insert(
        "Threshold".into(),
        Value::String(go_float(d.threshold, 'v', None)),
    );
    o.insert(
        "Reference".into(),
        Value::String(d.reference.map_or("n/a".into(), |r| go_float(r, 'v', None))),
    );
    o.insert(
        "Baseline".into(),
        Value::String(d.baseline.map_or("n/a".into(), |b| go_float(b, 'v', None))),
    );
    o.insert("Samples".into(), Value::from(d.samples));
    o.insert("Metric".into(), Value::String(d.metric.into()));
    o.insert("Rule".into(), Value::String(d.rule.into()));
    Value::Object(o)
}

// ---- Go's float formatting -------------------------------------------------------

/// `fmt.Sprintf("%<verb>", v)` (with `.prec` when given) for a float64, verbs `v g G e
/// E f F`, as Go's strconv formats: shortest digits for `%v`/`%g` without precision,
/// exponent notation when the exponent is < -4 or ≥ the precision (6 when shortest),
/// at least two exponent digits, `+Inf`/`-Inf`/`NaN`.
pub(crate) fn go_float(v: f64, verb: char, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let upper = verb.is_ascii_uppercase();
    let out = match verb.to_ascii_lowercase() {
        'e' => exponent_form(&format!("{:.*e}", prec.unwrap_or(6), v), false),
        'f' => format!("{:.*}", prec.unwrap_or(6), v),
        _ => match prec {
            None => {
                let e = format!("{v:e}");
                let exp = exponent_of(&e);
                if !(-4..6).contains(&exp) {
                    exponent_form(&e, false)
                } else {
                    format!("{v}")
                }
            }
            Some(p) => {
                let p = p.max(1);
                let e = format!("{:.*e}", p - 1, v);
                let exp = exponent_of(&e);
                if exp < -4 || exp >= p as i32 {
                    exponent_form(&e, true)
                } else {
                    trim_zeros(format!("{:.*}", (p as i32 - 1 - exp).max(0) as usize, v))
                }
            }
        },
    };
    if upper {
        out.to_uppercase()
    } else {
        out
    }
}

fn exponent_of(rust_e: &str) -> i32 {
    rust_e
        .rsplit_once('e')
        .and_then(|(_, x)| x.parse().ok())
        .unwrap_or(0)
}

/// Rust's `1.5e-5` as Go's `1.5e-05`; `trim`: drop trailing zeros of the mantissa (%g).
fn exponent_form(rust_e: &str, trim: bool) -> String {
    let (mantissa, exp) = rust_e.rsplit_once('e').unwrap_or((rust_e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mantissa = if trim {
        trim_zeros(mantissa.to_string())
    } else {
        mantissa.to_string()
    };
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

fn trim_zeros(s: String) -> String {
    if !s.contains('.') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

// ---- numbers in and out of templates ------------------------------------------------

/// Prometheus's `convertToFloat`: numbers, and text that parses as one.
fn to_float(v: &Value) -> Result<f64, FuncError> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .or_else(|| n.as_i64().map(|i| i as f64))
            .or_else(|| n.as_u64().map(|u| u as f64))
            .ok_or_else(|| FuncError::Generic(format!("can't convert {v} to float"))),
        Value::String(s) => parse_go_float(s).ok_or_else(|| {
            FuncError::Generic(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))
        }),
        other => Err(FuncError::Generic(format!(
            "can't convert {other} to float"
        ))),
    }
}

fn parse_go_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

fn one(name: &str, args: &[Value]) -> Result<f64, FuncError> {
    match args {
        [v] => to_float(v),
        _ => Err(FuncError::ExactlyXArgs(name.into(), 1)),
    }
}

fn text(v: String) -> Result<Value, FuncError> {
    Ok(Value::String(v))
}

/// `%.4g` followed by the prefix.
fn g4(v: f64, suffix: &str) -> String {
    format!("{}{suffix}", go_float(v, 'g', Some(4)))
}

fn humanize(args: &[Value]) -> Result<Value, FuncError> {
    let mut v = one("humanize", args)?;
    if v == 0.0 || !v.is_finite() {
        return text(g4(v, ""));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    text(g4(v, prefix))
}

fn humanize1024(args: &[Value]) -> Result<Value, FuncError> {
    let mut v = one("humanize1024", args)?;
    if v.abs() <= 1.0 || !v.is_finite() {
        return text(g4(v, ""));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    text(g4(v, prefix))
}

fn humanize_duration(args: &[Value]) -> Result<Value, FuncError> {
    let mut v = one("humanizeDuration", args)?;
    if !v.is_finite() {
        return text(g4(v, ""));
    }
    if v == 0.0 {
        return text(g4(v, "s"));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86_400);
        return text(if days != 0 {
            format!("{sign}{days}d {h}h {m}m {s}s")
        } else if h != 0 {
            format!("{sign}{h}h {m}m {s}s")
        } else if m != 0 {
            format!("{sign}{m}m {s}s")
        } else {
            format!("{sign}{}s", go_float(v, 'g', Some(4)))
        });
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    text(g4(v, &format!("{prefix}s")))
}

fn humanize_percentage(args: &[Value]) -> Result<Value, FuncError> {
    let v = one("humanizePercentage", args)?;
    text(g4(v * 100.0, "%"))
}

/// Go's `time.Time.String()` of the UTC instant: `2006-01-02 15:04:05.999999999 +0000 UTC`.
fn humanize_timestamp(args: &[Value]) -> Result<Value, FuncError> {
    let v = one("humanizeTimestamp", args)?;
    if !v.is_finite() {
        return text(g4(v, ""));
    }
    let nanos = (v * 1e9) as i64;
    let (secs, sub) = (
        nanos.div_euclid(1_000_000_000),
        nanos.rem_euclid(1_000_000_000),
    );
    let Some(t) = chrono::DateTime::from_timestamp(secs, 0) else {
        return Err(FuncError::Generic(format!("{v} is out of the time range")));
    };
    let mut out = t.format("%Y-%m-%d %H:%M:%S").to_string();
    if sub != 0 {
        out.push_str(format!(".{sub:09}").trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    text(out)
}

fn string_arg(name: &str, v: &Value) -> Result<String, FuncError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(FuncError::Generic(format!(
            "{name}: expected a string, got {other}"
        ))),
    }
}

fn one_string(name: &str, args: &[Value]) -> Result<String, FuncError> {
    match args {
        [v] => string_arg(name, v),
        _ => Err(FuncError::ExactlyXArgs(name.into(), 1)),
    }
}

fn to_upper(args: &[Value]) -> Result<Value, FuncError> {
    text(one_string("toUpper", args)?.to_uppercase())
}

fn to_lower(args: &[Value]) -> Result<Value, FuncError> {
    text(one_string("toLower", args)?.to_lowercase())
}

/// The first letter of every word upper-cased, the rest left as it is
/// (`cases.Title(…, cases.NoLower)`).
fn title(args: &[Value]) -> Result<Value, FuncError> {
    let s = one_string("title", args)?;
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphanumeric() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !(c.is_alphanumeric() || c == '\'');
    }
    text(out)
}

fn regex(name: &str, pattern: &str) -> Result<regex::Regex, FuncError> {
    regex::Regex::new(pattern).map_err(|e| FuncError::Generic(format!("{name}: {e}")))
}

fn match_regex(args: &[Value]) -> Result<Value, FuncError> {
    let [pattern, s] = args else {
        return Err(FuncError::ExactlyXArgs("match".into(), 2));
    };
    let re = regex("match", &string_arg("match", pattern)?)?;
    Ok(Value::Bool(re.is_match(&string_arg("match", s)?)))
}

/// Go's `Regexp.ReplaceAllString`: `$1`, `${name}` in the replacement.
fn re_replace_all(args: &[Value]) -> Result<Value, FuncError> {
    let [pattern, replacement, s] = args else {
        return Err(FuncError::ExactlyXArgs("reReplaceAll".into(), 3));
    };
    let re = regex("reReplaceAll", &string_arg("reReplaceAll", pattern)?)?;
    let replacement = string_arg("reReplaceAll", replacement)?;
    text(
        re.replace_all(&string_arg("reReplaceAll", s)?, replacement.as_str())
            .into_owned(),
    )
}

/// `host:port` → `host`; `[::1]:80` → `::1`; anything without a port unchanged.
fn strip_port(args: &[Value]) -> Result<Value, FuncError> {
    let s = one_string("stripPort", args)?;
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((host, port)) = rest.split_once("]:") {
            if !port.contains(':') {
                return text(host.to_string());
            }
        }
        return text(s);
    }
    match s.rsplit_once(':') {
        Some((host, _)) if !host.contains(':') => text(host.to_string()),
        _ => text(s),
    }
}

/// `host.example.com:9090` → `host:9090`; IP addresses unchanged.
fn strip_domain(args: &[Value]) -> Result<Value, FuncError> {
    let s = one_string("stripDomain", args)?;
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h.to_string(), format!(":{p}")),
        _ => (s.clone(), String::new()),
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        return text(s);
    }
    let short = host.split('.').next().unwrap_or(&host).to_string();
    text(format!("{short}{port}"))
}

fn safe_html(args: &[Value]) -> Result<Value, FuncError> {
    text(one_string("safeHtml", args)?)
}

// ---- comparisons -------------------------------------------------------------------

/// Numbers compare as numbers, text as text; a number and text that reads as a
/// number (`$value`) compare as numbers.
fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, FuncError> {
    let numeric = |v: &Value| matches!(v, Value::Number(_));
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        _ if numeric(a) || numeric(b) => {
            let (x, y) = (to_float(a)?, to_float(b)?);
            x.partial_cmp(&y)
                .ok_or_else(|| FuncError::Generic("comparison with NaN".into()))
        }
        _ => Err(FuncError::Generic(format!(
            "incompatible types for comparison: {a} and {b}"
        ))),
    }
}

fn two<'a>(name: &str, args: &'a [Value]) -> Result<(&'a Value, &'a Value), FuncError> {
    match args {
        [a, b] => Ok((a, b)),
        _ => Err(FuncError::ExactlyXArgs(name.into(), 2)),
    }
}

/// Go's `eq arg1 arg2 arg3…`: true when arg1 equals any of the others.
fn eq(args: &[Value]) -> Result<Value, FuncError> {
    let Some((first, rest)) = args.split_first().filter(|(_, r)| !r.is_empty()) else {
        return Err(FuncError::AtLeastXArgs("eq".into(), 2));
    };
    for other in rest {
        if compare(first, other)? == std::cmp::Ordering::Equal {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn ne(args: &[Value]) -> Result<Value, FuncError> {
    let (a, b) = two("ne", args)?;
    Ok(Value::Bool(compare(a, b)? != std::cmp::Ordering::Equal))
}

fn lt(args: &[Value]) -> Result<Value, FuncError> {
    let (a, b) = two("lt", args)?;
    Ok(Value::Bool(compare(a, b)?.is_lt()))
}

fn le(args: &[Value]) -> Result<Value, FuncError> {
    let (a, b) = two("le", args)?;
    Ok(Value::Bool(compare(a, b)?.is_le()))
}

fn gt(args: &[Value]) -> Result<Value, FuncError> {
    let (a, b) = two("gt", args)?;
    Ok(Value::Bool(compare(a, b)?.is_gt()))
}

fn ge(args: &[Value]) -> Result<Value, FuncError> {
    let (a, b) = two("ge", args)?;
    Ok(Value::Bool(compare(a, b)?.is_ge()))
}

// ---- printf ------------------------------------------------------------------------

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go's `fmt.Sprintf` for the verbs templates use. Misuse prints as Go prints it
/// (`%!d(string=x)`, `%!v(MISSING)`, `%!(EXTRA …)`).
fn printf(args: &[Value]) -> Result<Value, FuncError> {
    let Some((Value::String(format), args)) = args.split_first() else {
        return Err(FuncError::Generic("printf requires a format string".into()));
    };
    let mut out = String::new();
    let mut next = 0usize;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = digits(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(digits(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        out.push_str(&pad(&spec, format_arg(&spec, verb, arg)));
    }
    if next < args.len() {
        let extra: Vec<String> = args[next..].iter().map(go_typed).collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    Ok(Value::String(out))
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(n.unwrap_or(0) * 10 + d as usize);
        chars.next();
    }
    n
}

/// How Go names a bad argument: `string=x`, `float64=0.5`, `int=3`, `bool=true`.
fn go_typed(v: &Value) -> String {
    match v {
        Value::String(s) => format!("string={s}"),
        Value::Bool(b) => format!("bool={b}"),
        Value::Number(n) if n.as_f64().is_some() => {
            format!("float64={}", go_float(n.as_f64().unwrap_or(0.0), 'v', None))
        }
        Value::Number(n) => format!("int={n}"),
        other => format!("{other}"),
    }
}

/// `(digits, negative)` of an integer argument, or `None` when it is not one.
fn integer(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) if n.as_f64().is_none() => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        Value::Number(n) => n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i128),
        _ => None,
    }
}

fn format_arg(spec: &Spec, verb: char, arg: &Value) -> String {
    let bad = || format!("%!{verb}({})", go_typed(arg));
    let signed = |s: String| -> String {
        if s.starts_with('-') || s.starts_with('+') || s == "NaN" {
            s
        } else if spec.plus {
            format!("+{s}")
        } else if spec.space {
            format!(" {s}")
        } else {
            s
        }
    };
    match verb {
        'v' | 's' | 'q' | 'x' | 'X' if matches!(arg, Value::String(_)) => {
            let Value::String(s) = arg else {
                return bad();
            };
            let s = match spec.prec {
                Some(p) if verb != 'x' && verb != 'X' => s.chars().take(p).collect(),
                _ => s.clone(),
            };
            match verb {
                'q' => format!("{s:?}"),
                'x' => s.bytes().map(|b| format!("{b:02x}")).collect(),
                'X' => s.bytes().map(|b| format!("{b:02X}")).collect(),
                _ => s,
            }
        }
        'v' | 't' if matches!(arg, Value::Bool(_)) => format!("{arg}"),
        'd' | 'v' | 'x' | 'X' | 'o' | 'b' if matches!(arg, Value::Number(n) if n.as_f64().is_none()) =>
        {
            let Some(i) = integer(arg) else {
                return bad();
            };
            let (neg, abs) = (i < 0, i.unsigned_abs());
            let body = match verb {
                'x' => format!("{abs:x}"),
                'X' => format!("{abs:X}"),
                'o' => format!("{abs:o}"),
                'b' => format!("{abs:b}"),
                _ => abs.to_string(),
            };
            signed(if neg { format!("-{body}") } else { body })
        }
        'v' | 'g' | 'G' | 'e' | 'E' | 'f' | 'F' => match to_float(arg) {
            Ok(f) => signed(go_float(f, verb, spec.prec)),
            Err(_) => bad(),
        },
        _ => bad(),
    }
}

fn pad(spec: &Spec, s: String) -> String {
    let Some(width) = spec.width else {
        return s;
    };
    let len = s.chars().count();
    if len >= width {
        return s;
    }
    let fill = width - len;
    if spec.minus {
        return format!("{s}{}", " ".repeat(fill));
    }
    let numeric = s
        .trim_start_matches(['+', '-', ' '])
        .starts_with(|c: char| c.is_ascii_digit());
    if spec.zero && numeric {
        let sign_len = s.len() - s.trim_start_matches(['+', '-', ' ']).len();
        let (sign, digits) = s.split_at(sign_len);
        return format!("{sign}{}{digits}", "0".repeat(fill));
    }
    let _ = spec.sharp;
    format!("{}{s}", " ".repeat(fill))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(labels: &BTreeMap<String, String>, value: f64) -> TemplateData<'_> {
        TemplateData {
            labels,
            value,
            threshold: 0.2,
            reference: None,
            baseline: None,
            samples: 1200,
            metric: "psi",
            rule: "FeatureDrift",
            external_url: "http://driftd:9464",
        }
    }

    fn labels() -> BTreeMap<String, String> {
        [("model", "churn"), ("feature", "age"), ("window", "1h")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn go_float_formats_as_go() {
        // Expected strings: Go 1.19 fmt.Sprintf.
        let cases: &[(f64, char, Option<usize>, &str)] = &[
            (0.25, 'v', None, "0.25"),
            (1e-5, 'v', None, "1e-05"),
            (0.0001, 'v', None, "0.0001"),
            (1e6, 'v', None, "1e+06"),
            (123456.0, 'v', None, "123456"),
            (1234567.0, 'v', None, "1.234567e+06"),
            (3.0, 'v', None, "3"),
            (-0.5, 'v', None, "-0.5"),
            (f64::INFINITY, 'v', None, "+Inf"),
            (f64::NAN, 'v', None, "NaN"),
            (1234.5678, 'g', Some(4), "1235"),
            (12345.678, 'g', Some(4), "1.235e+04"),
            (0.000123456, 'g', Some(4), "0.0001235"),
            (0.1, 'g', Some(4), "0.1"),
            (100.0, 'g', Some(4), "100"),
            (0.5, 'f', Some(2), "0.50"),
            (3.0, 'f', None, "3.000000"),
            (1234.5, 'e', None, "1.234500e+03"),
            (1234.5, 'e', Some(2), "1.23e+03"),
        ];
        for (v, verb, prec, want) in cases {
            assert_eq!(go_float(*v, *verb, *prec), *want, "{v} %{verb} {prec:?}");
        }
    }

    #[test]
    fn renders_prometheus_variables_and_functions() {
        let l = labels();
        let r = |t: &str, v: f64| render(t, &data(&l, v));
        assert_eq!(
            r(
                "{{ $labels.feature }} of {{ $labels.model }} is {{ $value }}",
                0.25
            ),
            "age of churn is 0.25"
        );
        assert_eq!(r("{{ .Labels.window }}", 0.0), "1h");
        assert_eq!(r("{{ $value | humanize }}", 1234567.0), "1.235M");
        assert_eq!(r("{{ humanize $value }}", 0.0123), "12.3m");
        assert_eq!(r("{{ $value | humanizePercentage }}", 0.1234), "12.34%");
        assert_eq!(r("{{ humanizeDuration $value }}", 3725.0), "1h 2m 5s");
        assert_eq!(r("{{ humanize1024 $value }}", 2048.0), "2ki");
        assert_eq!(r("{{ printf \"%.2f\" $value }}", 3.0), "3.00");
        assert_eq!(r("{{ printf \"%.3g\" $threshold }}", 0.0), "0.2");
        assert_eq!(
            r("{{ if gt $value 1 }}big{{ else }}small{{ end }}", 0.5),
            "small"
        );
        assert_eq!(r("{{ if gt $value 0.1 }}big{{ end }}", 3.0), "big");
        assert_eq!(r("{{ $labels.model | toUpper }}", 0.0), "CHURN");
        assert_eq!(
            r("{{ $samples }} rows, {{ $metric }}, {{ $rule }}", 0.0),
            "1200 rows, psi, FeatureDrift"
        );
        assert_eq!(r("{{ $reference }}", 0.0), "n/a");
        assert_eq!(r("{{ $baseline }}", 0.0), "n/a");
        assert_eq!(
            r(
                "{{ reReplaceAll \"(a)g(e)\" \"$2$1\" $labels.feature }}",
                0.0
            ),
            "ea"
        );
        assert_eq!(
            r("{{ humanizeTimestamp 1.5 }}", 0.0),
            "1970-01-01 00:00:01.5 +0000 UTC"
        );
    }

    #[test]
    fn unknown_names_are_refused_at_check() {
        let f = check("{{ $value | humanise }}").unwrap_err();
        assert!(f.contains("humanise"), "{f}");
        let v = check("{{ $vlaue }}").unwrap_err();
        assert!(v.contains("vlaue"), "{v}");
        for open in [
            "{{ $labels.model ",
            "{{ .A | ",
            "{{ \"}}\" ",
            "x {{ 1 }} {{ 1 ",
            "{{/* }} ",
        ] {
            assert!(check(open).unwrap_err().contains("never closed"), "{open}");
        }
        assert!(check("{{ \"}}\" }} {{/* }} */}}").is_ok());
        for bad in [
            "{{ é }}",
            "{{ $labels.modelé }}",
            "{{ \"a\"€ }}",
            "{{\u{a0}}}",
        ] {
            assert!(check(bad).unwrap_err().contains("ASCII"), "{bad}");
        }
        assert!(check("é {{ \"€ %.2f\" }} ü").is_ok());
        assert!(check("{{ query \"up\" }}").is_err());
        assert!(check("{{ $labels.model }} {{ $value | humanize }}").is_ok());
    }

    #[test]
    fn errors_at_run_time_render_like_prometheus() {
        let l = labels();
        let out = render("{{ humanize $labels.model }}", &data(&l, 0.0));
        assert!(out.starts_with("<error expanding template: "), "{out}");
    }
}

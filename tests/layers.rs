//! The layer guard: every `crate::` path in `src/` points to the module's own layer or
//! a lower one, and no modules use each other in a cycle. The layers are the
//! `## N. Name` sections of `src/lib.rs`'s `# Layout`, so the documentation and the
//! rule cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layer of each top-level module, from the `# Layout` of `lib.rs`.
fn layers_of(lib_rs: &str) -> Result<BTreeMap<String, (usize, String)>, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(usize, String)> = None;
    for line in lib_rs.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.trim_start();
        if let Some(h) = doc.strip_prefix("## ") {
            let (n, name) = h
                .split_once(". ")
                .ok_or_else(|| format!("lib.rs: layer heading `{h}` is not `## N. Name`"))?;
            let n: usize = n
                .parse()
                .map_err(|_| format!("lib.rs: layer heading `{h}` has no number"))?;
            current = Some((n, name.to_string()));
        } else if let Some(item) = doc.strip_prefix("- [`") {
            let Some(layer) = &current else { continue };
            let module = item.split('`').next().unwrap_or_default().to_string();
            if let Some((other, _)) = out.insert(module.clone(), layer.clone()) {
                return Err(format!(
                    "lib.rs: `{module}` is listed in layer {other} and in layer {}",
                    layer.0
                ));
            }
        }
    }
    if out.is_empty() {
        return Err("lib.rs: no `## N. Name` layer sections in `# Layout`".into());
    }
    Ok(out)
}

/// The modules `lib.rs` declares.
fn declared_modules(lib_rs: &str) -> BTreeSet<String> {
    lib_rs
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .chain(lib_rs.lines().filter_map(|l| l.trim().strip_prefix("mod ")))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect()
}

/// The top-level module a file of `src/` belongs to (`None` for lib.rs and main.rs).
fn module_of(relative: &Path) -> Option<String> {
    let mut parts = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy());
    let first = parts.next()?.to_string();
    if relative.components().count() == 1 {
        let stem = first.strip_suffix(".rs")?;
        return (stem != "lib" && stem != "main").then(|| stem.to_string());
    }
    Some(first)
}

/// Code without comments: line comments (doc comments included) and block comments.
/// Strings are kept: a `//` inside one only hides the rest of its line, which holds
/// no `crate::` path in this code base.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("/*") {
            let end = after.find("*/").map(|i| i + 2).unwrap_or(after.len());
            // Keep the line count, so that reported line numbers stay right.
            out.extend(after[..end].chars().filter(|&c| c == '\n'));
            rest = &after[end..];
        } else if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            rest = &rest[end..];
        } else {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Every module a file's code names through `crate::`, with the line: `crate::a::b`
/// and `use crate::{a, b::c, …}` (nested groups included).
fn crate_paths(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let line = code[..at].matches('\n').count() + 1;
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The top-level names of the group: split at depth-0 commas.
            let (mut depth, mut start) = (0usize, 0usize);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.push((line, ident(group[start..i].trim()).to_string()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push((line, ident(group[start..i].trim()).to_string()));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.push((line, ident(rest).to_string()));
        }
    }
    out.retain(|(_, m)| !m.is_empty() && m != "self");
    out
}

/// Every violation in a set of files (`src/`-relative path, text).
fn violations(lib_rs: &str, files: &[(PathBuf, String)]) -> Vec<String> {
    let layers = match layers_of(lib_rs) {
        Ok(l) => l,
        Err(e) => return vec![e],
    };
    let mut errors = Vec::new();
    let declared = declared_modules(lib_rs);
    for m in &declared {
        if !layers.contains_key(m) {
            errors.push(format!(
                "module `{m}` has no layer: list it under a `## N. Name` section of lib.rs"
            ));
        }
    }
    for m in layers.keys() {
        if !declared.contains(m) {
            errors.push(format!(
                "lib.rs lists `{m}` in a layer but declares no such module"
            ));
        }
    }
    let mut uses: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (path, text) in files {
        let Some(module) = module_of(path) else {
            continue;
        };
        let Some((layer, layer_name)) = layers.get(&module) else {
            continue;
        };
        for (line, target) in crate_paths(&strip_comments(text)) {
            if target == module {
                continue;
            }
            let at = format!("src/{}:{line}", path.display());
            match layers.get(&target) {
                None => errors.push(format!(
                    "{at}: `crate::{target}` is not a module with a layer"
                )),
                Some((t, t_name)) if t > layer => errors.push(format!(
                    "{at}: `{module}` (layer {layer}, {layer_name}) imports `crate::{target}` \
                     (layer {t}, {t_name}), a layer above it"
                )),
                Some(_) => {
                    uses.entry(module.clone())
                        .or_default()
                        .entry(target)
                        .or_insert(at);
                }
            }
        }
    }
    errors.extend(cycles(&uses));
    errors
}

/// Cycles among same-layer imports (imports across layers point down and cannot close
/// one), each named with an import of every step.
fn cycles(uses: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<String> {
    let mut found = BTreeSet::new();
    let mut errors = Vec::new();
    for start in uses.keys() {
        // Depth-first search for a path back to `start`.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in uses.get(&at).map(|m| m.keys()).into_iter().flatten() {
                if next == start {
                    let mut members = path.clone();
                    members.sort();
                    if found.insert(members) {
                        let steps: Vec<String> = path
                            .iter()
                            .zip(path.iter().skip(1).chain([start]))
                            .map(|(a, b)| format!("{a} → {b} ({})", uses[a][b]))
                            .collect();
                        errors.push(format!("import cycle: {}", steps.join(", ")));
                    }
                } else if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    errors
}

fn source_files(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path.strip_prefix(root).unwrap().to_path_buf(), text));
        }
    }
}

#[test]
fn no_module_imports_a_higher_layer_and_there_are_no_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib_rs = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut files = Vec::new();
    source_files(&src, &src, &mut files);
    assert!(files.len() > 40, "read {} files of src/", files.len());
    let errors = violations(&lib_rs, &files);
    assert!(errors.is_empty(), "\n{}\n", errors.join("\n"));
}

/// The guard itself: a tree with an upward import, a cycle and a module without a
/// layer must fail, naming each.
#[test]
fn the_guard_names_an_upward_import_a_cycle_and_a_missing_layer() {
    let lib_rs = "\
//! ## 0. Ground
//! - [`stats`]: math
//! ## 1. Records
//! - [`event`]: records
//! - [`dataset`]: files
//! ## 2. Configuration
//! - [`config`]: the file
pub mod config;
pub mod dataset;
pub mod event;
pub mod stats;
pub mod extra;
";
    let file = |p: &str, t: &str| (PathBuf::from(p), t.to_string());
    let files = vec![
        file(
            "stats/psi.rs",
            "// crate::config in a comment is fine\nuse crate::config::Config;\n",
        ),
        file("event/mod.rs", "use crate::{stats::psi, dataset::Cell};\n"),
        file("dataset.rs", "fn f() { crate::event::decode(); }\n"),
        file(
            "config/mod.rs",
            "use crate::{event::{RecordFields, SourceRole}, stats};\n",
        ),
    ];
    let errors = violations(lib_rs, &files);
    let text = errors.join("\n");
    assert!(
        text.contains(
            "src/stats/psi.rs:2: `stats` (layer 0, Ground) imports `crate::config` \
             (layer 2, Configuration), a layer above it"
        ),
        "{text}"
    );
    assert!(
        text.contains("import cycle: dataset → event (src/dataset.rs:1), event → dataset (src/event/mod.rs:1)"),
        "{text}"
    );
    assert!(text.contains("module `extra` has no layer"), "{text}");
    assert_eq!(errors.len(), 3, "{text}");

    // The same tree without those three is clean.
    let lib_rs = lib_rs.replace("pub mod extra;\n", "");
    let files: Vec<_> = files
        .into_iter()
        .filter(|(p, _)| p != Path::new("stats/psi.rs") && p != Path::new("dataset.rs"))
        .collect();
    assert_eq!(violations(&lib_rs, &files), Vec::<String>::new());
}

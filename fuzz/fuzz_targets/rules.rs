//! Rule-file parsing on arbitrary text: never panics, and every refusal names the
//! file (and a line when it points into the text).
#![no_main]

use std::path::Path;

use driftd::rules::file::parse_rules;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let windows = ["5m".to_string(), "1h".to_string(), "24h".to_string()];
    for w in [None, Some(&windows[..])] {
        if let Err(e) = parse_rules(Path::new("fuzz.toml"), text, w) {
            let message = e.to_string();
            assert!(message.starts_with("fuzz.toml"), "{message}");
            if let Some(line) = e.line {
                assert!(
                    line >= 1 && line <= text.lines().count().max(1) + 1,
                    "{message}"
                );
            }
        }
    }
});

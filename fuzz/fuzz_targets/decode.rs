//! The record decoder on arbitrary bytes: never panics, never overflows the stack,
//! and whatever it accepts satisfies the limits the rest of driftd relies on.
#![no_main]

use driftd::event::{
    decode, FeatureValue, Record, RecordFields, SourceRole, MAX_CATEGORY_BYTES, MAX_NAME_BYTES,
};
use libfuzzer_sys::fuzz_target;

fn name_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_NAME_BYTES && !s.chars().any(char::is_control)
}

fuzz_target!(|data: &[u8]| {
    for role in [SourceRole::Predictions, SourceRole::Labels] {
        match decode(data, role, &RecordFields::default(), 0) {
            Ok(Record::Prediction(p)) => {
                assert!(name_ok(&p.model) && name_ok(&p.version));
                assert!(p.id.as_deref().is_none_or(name_ok));
                assert!(p.ts_ms >= 0);
                assert!(p.latency_ms.is_none_or(|l| l.is_finite() && l >= 0.0));
                let mut names: Vec<&str> = p.features.iter().map(|(n, _)| n.as_str()).collect();
                assert!(names.iter().all(|n| name_ok(n)));
                names.sort_unstable();
                assert!(
                    names.windows(2).all(|w| w[0] != w[1]),
                    "duplicate feature accepted"
                );
                for (_, v) in &p.features {
                    match v {
                        FeatureValue::Number(x) => assert!(x.is_finite()),
                        FeatureValue::Category(c) => assert!(c.len() <= MAX_CATEGORY_BYTES),
                        FeatureValue::Missing => {}
                    }
                }
            }
            Ok(Record::Label(l)) => assert!(name_ok(&l.model) && name_ok(&l.id)),
            Err(e) => assert!(!e.detail.is_empty() && e.detail.len() < 4096),
        }
    }
});

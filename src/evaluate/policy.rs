//! Which windows a tick evaluates, and when one report stands for two.
//!
//! Every (model, version) with data is evaluated over every configured window: those
//! reports set the gauges and feed per-version rules. Rules without a `versions`
//! selector look at every version of a model merged, so the merged windows they name
//! are evaluated too — except for a model with a single version whose profile is
//! also the model's (then the merge is that version's report, reused).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::window::ProfileSet;

/// One window evaluation of a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation<'a> {
    pub model: &'a str,
    /// `None`: every version of the model merged.
    pub version: Option<&'a str>,
    pub window: &'a str,
    pub window_ms: i64,
    /// This version's report also stands for the merged window: reuse it with
    /// `version = None` instead of computing the same merge again.
    pub also_merged: bool,
}

/// The evaluations of one tick, model by model (versions in order, then the merge).
/// `series` are the (model, version) pairs with data; `merged` the windows that rules
/// without a `versions` selector look at.
pub fn plan<'a>(
    series: &'a BTreeSet<(String, String)>,
    profiles: &ProfileSet,
    windows: &'a [(String, Duration)],
    merged: &BTreeSet<String>,
) -> Vec<Evaluation<'a>> {
    let mut versions_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (m, v) in series {
        versions_of.entry(m.as_str()).or_default().push(v.as_str());
    }
    let mut out = Vec::new();
    for (model, versions) in versions_of {
        let profile_id = |v: &str| profiles.get(model, v).map(|p| p.profile.id.clone());
        let single = match versions.as_slice() {
            [v] => profile_id(v) == profile_id(""),
            _ => false,
        };
        let all = versions.iter().map(|v| Some(*v)).chain([None]);
        for version in all {
            for (name, dur) in windows {
                let is_merged = merged.contains(name);
                if version.is_none() && (single || !is_merged) {
                    continue;
                }
                out.push(Evaluation {
                    model,
                    version,
                    window: name,
                    window_ms: dur.as_millis() as i64,
                    also_merged: single && is_merged,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Cell;
    use crate::reference::test_profile;

    fn series(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
        pairs
            .iter()
            .map(|(m, v)| (m.to_string(), v.to_string()))
            .collect()
    }

    fn windows() -> Vec<(String, Duration)> {
        vec![
            ("5m".into(), Duration::from_secs(300)),
            ("1h".into(), Duration::from_secs(3600)),
        ]
    }

    fn names(plan: &[Evaluation<'_>]) -> Vec<String> {
        plan.iter()
            .map(|e| {
                format!(
                    "{}/{}/{}{}",
                    e.model,
                    e.version.unwrap_or("*"),
                    e.window,
                    if e.also_merged { "+merged" } else { "" }
                )
            })
            .collect()
    }

    fn profile(version: &str) -> crate::reference::ReferenceProfile {
        test_profile(
            version,
            &["x"],
            (0..10).map(|i| vec![Cell::Number(i as f64)]),
        )
    }

    #[test]
    fn without_merged_rules_only_versions_are_evaluated() {
        let s = series(&[("m", "a"), ("m", "b"), ("n", "x")]);
        let w = windows();
        let plan = plan(&s, &ProfileSet::default(), &w, &BTreeSet::new());
        assert_eq!(
            names(&plan),
            ["m/a/5m", "m/a/1h", "m/b/5m", "m/b/1h", "n/x/5m", "n/x/1h"]
        );
    }

    #[test]
    fn several_versions_add_the_merged_windows_rules_ask_for() {
        let s = series(&[("m", "a"), ("m", "b")]);
        let w = windows();
        let merged = BTreeSet::from(["1h".to_string()]);
        let plan = plan(&s, &ProfileSet::default(), &w, &merged);
        assert_eq!(
            names(&plan),
            ["m/a/5m", "m/a/1h", "m/b/5m", "m/b/1h", "m/*/1h"]
        );
    }

    #[test]
    fn one_version_with_the_models_profile_reuses_its_report() {
        let s = series(&[("m", "v")]);
        let w = windows();
        let merged = BTreeSet::from(["1h".to_string()]);
        // No profile at all: the version's and the model's lookups agree (none).
        let plan_none = plan(&s, &ProfileSet::default(), &w, &merged);
        assert_eq!(names(&plan_none), ["m/v/5m", "m/v/1h+merged"]);
        // The newest profile of the model is the version's: reused too.
        let profiles = ProfileSet::new(vec![profile("v")]);
        assert_eq!(
            names(&plan(&s, &profiles, &w, &merged)),
            ["m/v/5m", "m/v/1h+merged"]
        );
    }

    #[test]
    fn one_version_with_another_profile_than_the_models_is_merged_apart() {
        // Profiles oldest first: `v2` is the model's newest, so "every version" takes
        // `v2`'s bins while the version `v1` has a profile of its own: two reports.
        let s = series(&[("m", "v1")]);
        let w = windows();
        let merged = BTreeSet::from(["5m".to_string()]);
        let profiles = ProfileSet::new(vec![profile("v1"), profile("v2")]);
        assert_eq!(
            names(&plan(&s, &profiles, &w, &merged)),
            ["m/v1/5m", "m/v1/1h", "m/*/5m"]
        );
        // A version without a profile of its own falls back to the newest, like the
        // merge: one report.
        let s = series(&[("m", "v3")]);
        assert_eq!(
            names(&plan(&s, &profiles, &w, &merged)),
            ["m/v3/5m+merged", "m/v3/1h"]
        );
    }
}

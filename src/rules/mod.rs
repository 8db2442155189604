//! Alert rules: from window statistics to alerts. Pure: rules, samples and a `now`
//! in; alert states and transitions out. The daemon's [`crate::alerting`] wires it to
//! the store, the metrics and the outbox.
//!
//! - [`file`](mod@file): the rule-file format (TOML), its validation (`driftd rules check`) and
//!   conditions such as `> 0.2`, `< reference * 0.95` or `> critical`
//! - [`sample`]: the values rules look at, taken from a window report
//! - [`template`]: annotation templates in Prometheus's syntax (`{{ $labels.x }}`, `humanize`)
//! - [`alert`]: the state machine inactive → pending → firing → resolved, with `for`
//!   and `keep_firing_for`, as Prometheus evaluates alerting rules
//! - [`unit`](mod@unit): rule unit tests (`driftd rules test`), modelled on `promtool test rules`

pub mod alert;
pub mod file;
pub mod sample;
pub mod template;
pub mod unit;

pub(crate) use alert::AlertTable;
pub use alert::{Alert, AlertPhase};
pub(crate) use file::load_rules;
pub use file::{Rule, RuleSet, RulesError};
pub(crate) use sample::SampleSet;

/// `*` matches any run of characters, `?` one character; everything else literally.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative matcher with one backtrack point for the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("*", ""));
        assert!(glob_match("churn*", "churn-v2"));
        assert!(!glob_match("churn*", "fraud"));
        assert!(glob_match("f?aud", "fraud"));
        assert!(glob_match("*_rate", "missing_rate"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
    }
}

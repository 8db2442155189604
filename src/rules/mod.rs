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

pub(crate) use crate::base::text::glob_match;

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

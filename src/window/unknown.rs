//! The feature names a model's profile does not know, counted in bounded memory.

/// How many unknown feature names are kept per model.
pub const TOP_UNKNOWN_NAMES: usize = 10;

/// The most frequent feature names a model's profile does not know, in bounded
/// memory whatever a producer sends: the Space-Saving summary (Metwally, Agrawal and
/// El Abbadi, 2005). At most [`TOP_UNKNOWN_NAMES`] names; a new name, when full,
/// replaces the least counted one and inherits its count, so a count overestimates by
/// at most that inherited part (`error`), and every name seen more often than
/// total / TOP_UNKNOWN_NAMES times is kept. Since the daemon started: names are not
/// persisted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnknownNames {
    /// (name, count, error)
    names: Vec<(String, u64, u64)>,
}

/// One of [`UnknownNames::top`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UnknownName {
    pub name: String,
    /// Values seen under this name, at most `error` too many.
    pub count: u64,
    pub error: u64,
}

impl UnknownNames {
    pub fn add(&mut self, name: &str) {
        if let Some(e) = self.names.iter_mut().find(|e| e.0 == name) {
            e.1 += 1;
            return;
        }
        if self.names.len() < TOP_UNKNOWN_NAMES {
            self.names.push((name.to_string(), 1, 0));
            return;
        }
        if let Some(least) = self.names.iter_mut().min_by_key(|e| e.1) {
            let inherited = least.1;
            *least = (name.to_string(), inherited + 1, inherited);
        }
    }

    /// Most counted first.
    pub fn top(&self) -> Vec<UnknownName> {
        let mut out: Vec<UnknownName> = self
            .names
            .iter()
            .map(|(name, count, error)| UnknownName {
                name: name.clone(),
                count: *count,
                error: *error,
            })
            .collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        out
    }
}

//! The charts of alert e-mails, drawn from the live windows: the alerting stage asks
//! for a firing feature alert's pictures, and this reads its window and the recent
//! buckets through the same [`WindowSource`] the tick and the API use.

use std::sync::Arc;

use crate::alerting::AlertCharts;
use crate::config::LiveConfig;
use crate::evaluate::pictures::{feature_pictures, FeatureQuery};
use crate::evaluate::WindowSource;
use crate::notify::EmailChart;
use crate::rules::Alert;

pub(super) struct WindowCharts {
    pub windows: Arc<dyn WindowSource>,
    pub live: LiveConfig,
}

impl AlertCharts for WindowCharts {
    fn chart(&self, alert: &Alert, now_ms: i64) -> Option<EmailChart> {
        let config = self.live.get();
        let (model, feature, window) = (
            alert.label("model")?,
            alert.label("feature")?,
            alert.label("window")?,
        );
        let query = FeatureQuery {
            model,
            // The merged window of every version has an empty version label.
            version: alert.label("version").filter(|v| !v.is_empty()),
            feature,
            window_ms: config.windows.window(window)?.as_millis() as i64,
            rolling_reference_ms: config
                .rolling_reference(model)
                .map(|d| d.as_millis() as i64),
            metric: &alert.metric,
            threshold: alert.threshold.is_finite().then_some(alert.threshold),
            now_ms,
        };
        match feature_pictures(&*self.windows, &config.evaluation_settings(), &query) {
            Ok(pictures) => pictures.map(|(distribution, history)| EmailChart {
                feature: feature.to_string(),
                window: window.to_string(),
                distribution,
                history,
            }),
            Err(error) => {
                tracing::warn!(%error, model, feature, "e-mail chart not drawn");
                None
            }
        }
    }
}

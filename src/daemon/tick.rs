//! The tick: fold aged buckets, evaluate the planned windows, set the gauges, and
//! hand the samples to the alerting stage.

use std::sync::{Arc, Mutex};

use crate::alerting::Alerting;
use crate::base::sync::lock;
use crate::base::time::unix_now_ms;
use crate::config::LiveConfig;
use crate::evaluate::deployment::VersionWindows;
use crate::evaluate::{plan, window_report, WindowSource};
use crate::metrics::Metrics;
use crate::rules::SampleSet;

/// Every tick: fold aged buckets, then evaluate every window of every model version
/// and publish the statistics as gauges. Runs on the blocking pool: KS p-values for
/// large windows take milliseconds each.
pub(super) async fn evaluate_every_tick(
    windows: Arc<dyn WindowSource>,
    live: LiveConfig,
    metrics: Metrics,
    alerting: Arc<Mutex<Alerting>>,
) {
    let mut interval = tokio::time::interval(live.get().windows.tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        // The configuration in force at this tick (SIGHUP may have replaced it).
        let (windows, config, metrics, alerting) = (
            windows.clone(),
            live.get(),
            metrics.clone(),
            alerting.clone(),
        );
        let done = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let now = unix_now_ms();
            windows.compact(now);
            let profiles = windows.profiles();
            let evaluation = config.evaluation_settings();
            let (merged, used, relative) = {
                let a = lock(&alerting);
                (a.merged_windows(), a.used_samples(), a.relative_windows())
            };
            let mut samples = SampleSet::only(used);
            let no_reference = Default::default();
            let series = windows.series();
            let evaluations = plan(&series, &profiles, &config.windows.windows, &merged);
            for e in &evaluations {
                let reference_metrics = config
                    .models
                    .get(e.model)
                    .map(|m| &m.reference_metrics)
                    .unwrap_or(&no_reference);
                let rolling = config
                    .rolling_reference(e.model)
                    .map(|d| d.as_millis() as i64);
                let buckets = match windows.window(e.model, e.version, e.window_ms, rolling, now) {
                    Ok(b) => b,
                    Err(error) => {
                        tracing::error!(%error, model = e.model, window = e.window,
                            "window not evaluated");
                        continue;
                    }
                };
                let report = window_report(
                    &buckets,
                    &profiles,
                    e.model,
                    e.version,
                    (e.window, e.window_ms),
                    now,
                    &evaluation,
                );
                if e.version.is_some() {
                    metrics.record_window(&report);
                }
                samples.add_report(&report, reference_metrics);
                if e.also_merged {
                    let mut all_versions = report;
                    all_versions.version = None;
                    samples.add_report(&all_versions, reference_metrics);
                }
            }
            let evaluated = evaluations.len();
            metrics.record_reference_metrics(&config.models);
            let mut deployments = Vec::new();
            for (model, m) in config.models.iter().filter(|(_, m)| !m.deployments.is_empty()) {
                let settings: Vec<_> = m
                    .deployments
                    .iter()
                    .filter_map(|d| d.settings(&config.windows))
                    .collect();
                let mut versions = VersionWindows::new(&*windows, model, now);
                for d in &settings {
                    for (window, length) in relative
                        .iter()
                        .filter_map(|w| Some((w.as_str(), config.windows.window(w)?)))
                    {
                        let window = (window, length.as_millis() as i64);
                        match versions.arm_reports(d, window, &profiles, &evaluation) {
                            Ok(Some(arms)) => {
                                samples.add_relative(&d.name, &arms, &m.reference_metrics)
                            }
                            Ok(None) => {}
                            Err(error) => tracing::error!(%error, model, deployment = %d.name,
                                "deployment arms not evaluated"),
                        }
                    }
                }
                match versions.deployment_reports(&settings) {
                    // A deployment without any version here (another instance owns the
                    // model, or no data yet) has no gauges: dashboards sum instances.
                    Ok(reports) => deployments.extend(
                        reports
                            .into_iter()
                            .filter(|r| {
                                !r.baseline_versions.is_empty() || !r.candidate_versions.is_empty()
                            })
                            .map(|r| (model.clone(), r)),
                    ),
                    Err(error) => {
                        tracing::error!(%error, model, "deployments not evaluated")
                    }
                }
            }
            metrics.record_deployments(&deployments);
            samples.add_deployments(&deployments);
            let mut alerting = lock(&alerting);
            alerting.record_verdicts(&deployments, &config, now);
            if let Err(e) = alerting.evaluate(&samples, &config, now) {
                tracing::error!(error = %e, "alert state could not be stored; retrying at the next tick");
            }
            metrics
                .evaluation_duration
                .observe(started.elapsed().as_secs_f64());
            tracing::debug!(evaluated, elapsed = ?started.elapsed(), "windows evaluated");
        })
        .await;
        if let Err(e) = done {
            tracing::error!(error = %e, "window evaluation failed");
        }
    }
}

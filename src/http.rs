//! HTTP at the edge (axum): `/metrics`, `/healthz`, `/readyz`, and the JSON API:
//! `GET /api/v1/models`, `GET /api/v1/models/{model}/drift?window=1h[&version=v]`
//! (the report of `driftd report --format json` plus window, rate, staleness and latency), `/performance`, `/history`,
//! `GET /api/v1/models/{model}/report?window=1h[&format=html|json|table]` (the page of
//! `driftd report --format html` for a live window; HTML for a browser),
//! `GET /api/v1/models/{model}/deployments` (canary / shadow / A/B verdicts),
//! `GET /api/v1/alerts`, `GET /api/v1/rules`, `GET /api/v1/silences`, `GET /api/v1/cluster`
//! (cluster mode: the partitions and models this instance owns).
//!
//! Mutating endpoints, `POST /-/reload`, `POST /api/v1/models/{model}/retrain`,
//! `POST /api/v1/silences` and `DELETE /api/v1/silences/{id}`,
//! need `Authorization: Bearer <[http] token>`; without a configured token they answer
//! 403, so nothing can change driftd's state by accident.
//!
//! `/healthz` answers 200 while the process serves requests. `/readyz` answers 200 only
//! when partitions are assigned and the last checkpoint succeeded, so an orchestrator
//! does not route to, or count as healthy, a daemon that cannot make progress.

use std::net::SocketAddr;
use std::sync::Arc;

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::base::time::unix_now_ms;
use crate::config::LiveConfig;
use crate::evaluate::{window_report, WindowSource};
use crate::kafka::Readiness;
use crate::metrics::Metrics;
use crate::notify::silence::SilenceRequest;

/// Re-reads configuration and rules; `Ok` carries a message for the caller.
pub(crate) type ReloadFn = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// Everything the handlers use.
#[derive(Clone)]
pub(crate) struct Api {
    pub metrics: Metrics,
    pub readiness: Arc<Readiness>,
    pub windows: Arc<dyn WindowSource>,
    pub config: LiveConfig,
    pub alerting: Arc<std::sync::Mutex<crate::alerting::Alerting>>,
    pub reload: ReloadFn,
    /// Bearer token of the mutating endpoints; `None` disables them.
    pub token: Option<String>,
    /// Cluster mode: which partitions and models this instance owns.
    pub cluster: Option<Arc<crate::kafka::Ownership>>,
}

type AppState = Api;

pub(crate) fn router(api: Api) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/models", get(models))
        .route("/api/v1/cluster", get(cluster))
        .route("/api/v1/models/{model}/drift", get(drift))
        .route("/api/v1/models/{model}/performance", get(performance))
        .route("/api/v1/models/{model}/report", get(report))
        .route("/api/v1/models/{model}/deployments", get(deployments))
        .route("/api/v1/models/{model}/history", get(history))
        .route("/api/v1/models/{model}/retrain", post(retrain))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/silences", get(silences).post(add_silence))
        .route(
            "/api/v1/silences/{id}",
            axum::routing::delete(expire_silence),
        )
        .route("/-/reload", post(reload))
        .with_state(api)
}

/// `None` when the request carries the configured bearer token.
fn unauthorized(s: &Api, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = &s.token else {
        return Some(api_error(
            StatusCode::FORBIDDEN,
            "mutating endpoints are disabled: set [http] token in the configuration".into(),
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Compare in time independent of where the strings differ.
    let same = given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    (!same).then(|| {
        api_error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token".into(),
        )
    })
}

async fn alerts(State(s): State<AppState>) -> Response {
    Json(crate::base::sync::lock(&s.alerting).alerts_json()).into_response()
}

async fn silences(State(s): State<AppState>) -> Response {
    Json(crate::base::sync::lock(&s.alerting).silences_json(unix_now_ms())).into_response()
}

/// `POST /api/v1/silences` with a [`SilenceRequest`]: 201 and the silence's id.
async fn add_silence(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(denied) = unauthorized(&s, &headers) {
        return denied;
    }
    let request = match serde_json::from_slice::<SilenceRequest>(&body) {
        Ok(r) => r,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                format!("send a JSON silence {{\"matchers\": [\"model=churn\"], \"duration\": \"2h\", \"created_by\": \"…\", \"comment\": \"…\"}}: {e}"),
            )
        }
    };
    let now = unix_now_ms();
    let silence = match request.into_silence(now) {
        Ok(silence) => silence,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, e),
    };
    let added = tokio::task::spawn_blocking(move || {
        crate::base::sync::lock(&s.alerting).add_silence(silence, now)
    })
    .await;
    match added {
        Ok(Ok(id)) => (
            StatusCode::CREATED,
            Json(json!({ "status": "success", "id": id })),
        )
            .into_response(),
        Ok(Err(e)) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `DELETE /api/v1/silences/{id}`: the silence ends now.
async fn expire_silence(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = unauthorized(&s, &headers) {
        return denied;
    }
    let expired = tokio::task::spawn_blocking(move || {
        crate::base::sync::lock(&s.alerting).expire_silence(&id, unix_now_ms())
    })
    .await;
    match expired {
        Ok(Ok(true)) => Json(json!({ "status": "success" })).into_response(),
        Ok(Ok(false)) => api_error(StatusCode::NOT_FOUND, "no such silence".into()),
        Ok(Err(e)) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn rules(State(s): State<AppState>) -> Response {
    Json(crate::base::sync::lock(&s.alerting).rules_json()).into_response()
}

async fn reload(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(denied) = unauthorized(&s, &headers) {
        return denied;
    }
    let reload = s.reload.clone();
    match tokio::task::spawn_blocking(move || reload()).await {
        Ok(Ok(message)) => Json(json!({ "status": "success", "message": message })).into_response(),
        Ok(Err(e)) => api_error(StatusCode::BAD_REQUEST, e),
        Err(e) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetrainBody {
    reason: String,
    #[serde(default)]
    version: Option<String>,
}

async fn retrain(
    State(s): State<AppState>,
    Path(model): Path<String>,
    headers: HeaderMap,
    // The raw body, parsed only after the token is checked: a JSON extractor would
    // answer a request without a JSON content type with 415 before authenticating.
    body: axum::body::Bytes,
) -> Response {
    if let Some(denied) = unauthorized(&s, &headers) {
        return denied;
    }
    let Ok(body) = serde_json::from_slice::<RetrainBody>(&body) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "send a JSON body {\"reason\": \"…\"}".into(),
        );
    };
    if body.reason.trim().is_empty() {
        return api_error(StatusCode::BAD_REQUEST, "`reason` must not be empty".into());
    }
    if let Some(ownership) = s.cluster.as_ref().filter(|o| !o.owns_model(&model)) {
        return api_error(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "model `{model}` is owned by the instance that holds partition {} \
                 (see GET /api/v1/cluster on each instance)",
                ownership.partition_of(&model)
            ),
        );
    }
    let config = s.config.get();
    let decided = tokio::task::spawn_blocking(move || {
        crate::base::sync::lock(&s.alerting).request_manual(
            &model,
            body.version,
            &body.reason,
            &config,
            unix_now_ms(),
        )
    })
    .await;
    match decided {
        Ok(Ok(crate::retrain::Decision::Emit(event))) => (
            StatusCode::ACCEPTED,
            Json(json!({ "status": "emitted", "event": event })),
        )
            .into_response(),
        Ok(Ok(crate::retrain::Decision::Suppressed { until_ms })) => {
            let wait = ((until_ms - unix_now_ms()).max(0) + 999) / 1000;
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, wait.to_string())],
                Json(json!({
                    "status": "suppressed",
                    "error": "the model is within its retraining cooldown",
                    "retry_after_seconds": wait,
                })),
            )
                .into_response()
        }
        Ok(Err(e)) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn api_error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn cluster(State(s): State<AppState>) -> Response {
    let Some(ownership) = &s.cluster else {
        return Json(json!({ "enabled": false })).into_response();
    };
    let config = s.config.get();
    let mut models: std::collections::BTreeSet<String> =
        s.windows.series().into_iter().map(|(m, _)| m).collect();
    models.extend(config.models.keys().cloned());
    models.retain(|m| ownership.owns_model(m));
    Json(json!({
        "enabled": true,
        "instance": ownership.instance(),
        "partitions": ownership.partitions(),
        "owned_partitions": ownership.owned(),
        "owned_models": models,
        "generation": ownership.generation(),
    }))
    .into_response()
}

async fn models(State(s): State<AppState>) -> Response {
    let profiles = s.windows.profiles();
    let mut by_model: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (model, version) in s.windows.series() {
        by_model.entry(model).or_default().push(version);
    }
    let models: Vec<_> = by_model
        .into_iter()
        .map(|(model, versions)| {
            let profile = profiles.get(&model, "").map(|p| p.profile.id.clone());
            json!({ "model": model, "versions": versions, "profile_id": profile })
        })
        .collect();
    let config = s.config.get();
    let windows: Vec<&str> = config
        .windows
        .windows
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    Json(json!({ "models": models, "windows": windows })).into_response()
}

#[derive(Debug, Deserialize)]
struct DriftQuery {
    window: Option<String>,
    version: Option<String>,
    /// `/report` only: `html`, `json` or `table`.
    format: Option<String>,
}

async fn drift(
    State(s): State<AppState>,
    Path(model): Path<String>,
    Query(q): Query<DriftQuery>,
) -> Response {
    match evaluate_window(s, model, q, false).await {
        Ok((report, _)) => Json(report).into_response(),
        Err(e) => e,
    }
}

/// The performance part of a window: labelled share and metrics.
async fn performance(
    State(s): State<AppState>,
    Path(model): Path<String>,
    Query(q): Query<DriftQuery>,
) -> Response {
    match evaluate_window(s, model, q, false).await {
        Ok((r, _)) => Json(json!({
            "model": r.model, "version": r.version, "window": r.window,
            "evaluated_at_ms": r.evaluated_at_ms, "events": r.events,
            "labelled": r.labelled, "label_coverage": r.label_coverage,
            "metrics": r.performance, "segments": r.performance_by_segment,
            "fairness": r.fairness,
        }))
        .into_response(),
        Err(e) => e,
    }
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    metric: String,
    feature: Option<String>,
    version: Option<String>,
    /// RFC 3339 or epoch ms; default 24 h before `to`.
    from: Option<String>,
    /// RFC 3339 or epoch ms; default now.
    to: Option<String>,
}

/// A metric per bucket over time, from the buckets kept in the store (fine buckets
/// for the last hours, then hour and day buckets: longer than Prometheus keeps).
async fn history(
    State(s): State<AppState>,
    Path(model): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Response {
    let to = match q.to.as_deref().map(crate::base::time::parse_timestamp) {
        None => unix_now_ms(),
        Some(Some(t)) => t,
        Some(None) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "`to` is not RFC 3339 or epoch ms".into(),
            )
        }
    };
    let from = match q.from.as_deref().map(crate::base::time::parse_timestamp) {
        None => to - 86_400_000,
        Some(Some(t)) => t,
        Some(None) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "`from` is not RFC 3339 or epoch ms".into(),
            )
        }
    };
    if !s.windows.series().iter().any(|(m, _)| *m == model) {
        return api_error(
            StatusCode::NOT_FOUND,
            format!("no data for model `{model}`"),
        );
    }
    let result = tokio::task::spawn_blocking(move || {
        let buckets = s
            .windows
            .history_buckets(&model, q.version.as_deref(), from, to)?;
        let profiles = s.windows.profiles();
        let profile = profiles
            .get(&model, q.version.as_deref().unwrap_or(""))
            .map(|p| &p.profile);
        let config = s.config.get();
        let settings = config.evaluation_settings();
        let points = crate::evaluate::history(
            &model,
            &buckets,
            profile,
            &q.metric,
            q.feature.as_deref(),
            &settings,
        )
        .map(|points| {
            json!({
                "model": model, "version": q.version, "metric": q.metric,
                "feature": q.feature, "from_ms": from, "to_ms": to, "points": points,
            })
        });
        Ok::<_, crate::window::BucketReadError>(points)
    })
    .await;
    match result {
        Ok(Ok(Ok(v))) => Json(v).into_response(),
        Ok(Ok(Err(e))) => api_error(StatusCode::BAD_REQUEST, e),
        Ok(Err(e)) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("history failed: {e}"),
        ),
    }
}

/// The response header of `/report` that carries the number of drifted features
/// (`driftd report --model … --fail-on-drift` reads it whatever the format).
pub(crate) const DRIFTED_HEADER: &str = "driftd-drifted-features";

/// The drift report of a window as `driftd report` prints it: JSON, a table, or the
/// HTML page with its charts and the PSI of each feature per hour over the last 7
/// days. Without `format`, a client that accepts `text/html` (a browser) gets HTML.
async fn report(
    State(s): State<AppState>,
    Path(model): Path<String>,
    headers: HeaderMap,
    Query(q): Query<DriftQuery>,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let format = match q.format.as_deref() {
        Some(f @ ("html" | "json" | "table")) => f.to_string(),
        Some(other) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                format!("unknown format `{other}`; formats are html, json, table"),
            )
        }
        None if wants_html => "html".to_string(),
        None => "json".to_string(),
    };
    let settings = s.config.get().report.settings();
    let (r, pictures) = match evaluate_window(s, model, q, format == "html").await {
        Ok(v) => v,
        Err(e) => return e,
    };
    let (content_type, body) = match format.as_str() {
        "html" => {
            let page = crate::report::html::PageContext {
                title: format!("model {}, window {}", r.model, r.window),
                about: vec![
                    ("model".into(), r.model.clone()),
                    (
                        "version".into(),
                        r.version.clone().unwrap_or_else(|| "every version".into()),
                    ),
                    ("window".into(), r.window.clone()),
                    (
                        "evaluated at".into(),
                        crate::base::time::rfc3339(r.evaluated_at_ms),
                    ),
                    ("events".into(), r.events.to_string()),
                    (
                        "reference".into(),
                        match (&r.profile_id, r.reference) {
                            (Some(id), "profile") => format!("profile {id}"),
                            (_, kind) => kind.to_string(),
                        },
                    ),
                ],
            };
            (
                "text/html; charset=utf-8",
                crate::report::html::render(
                    &r.drift,
                    &pictures.unwrap_or_default(),
                    &settings,
                    &page,
                ),
            )
        }
        "table" => ("text/plain; charset=utf-8", r.drift.to_table()),
        _ => match serde_json::to_string_pretty(&r.drift) {
            Ok(json) => ("application/json", json + "\n"),
            Err(e) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::HeaderName::from_static(DRIFTED_HEADER),
                r.drift.drifted.len().to_string(),
            ),
        ],
        body,
    )
        .into_response()
}

/// The model's canary, shadow and A/B deployments now: each arm's versions, samples
/// and value per deciding metric, candidate − baseline with its always-valid
/// interval, and the verdict (`promote`, `rollback`, `continue`).
async fn deployments(State(s): State<AppState>, Path(model): Path<String>) -> Response {
    let config = s.config.get();
    let settings: Vec<_> = config
        .models
        .get(&model)
        .map(|m| {
            m.deployments
                .iter()
                .filter_map(|d| d.settings(&config.windows))
                .collect()
        })
        .unwrap_or_default();
    let windows = s.windows.clone();
    let m = model.clone();
    let result = tokio::task::spawn_blocking(move || {
        crate::evaluate::deployment::deployment_reports(&*windows, &m, &settings, unix_now_ms())
    })
    .await;
    match result {
        Ok(Ok(reports)) => Json(json!({"model": model, "deployments": reports})).into_response(),
        Ok(Err(e)) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("deployments failed: {e}"),
        ),
    }
}

/// The window's report and, with `pictures`, what its HTML page draws.
async fn evaluate_window(
    s: AppState,
    model: String,
    q: DriftQuery,
    pictures: bool,
) -> Result<
    (
        crate::evaluate::WindowReport,
        Option<crate::report::html::Pictures>,
    ),
    Response,
> {
    let config = s.config.get();
    let windows = &config.windows;
    let name = q.window.unwrap_or_else(|| {
        if windows.window("1h").is_some() {
            "1h".to_string()
        } else {
            windows.windows[0].0.clone()
        }
    });
    let Some(dur) = windows.window(&name) else {
        let known: Vec<&str> = windows.windows.iter().map(|(n, _)| n.as_str()).collect();
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            format!("unknown window `{name}`; configured: {}", known.join(", ")),
        ));
    };
    let series = s.windows.series();
    if !series
        .iter()
        .any(|(m, v)| *m == model && q.version.as_ref().is_none_or(|want| want == v))
    {
        return Err(api_error(
            StatusCode::NOT_FOUND,
            format!(
                "no data for model `{model}`{}",
                q.version
                    .map(|v| format!(" version `{v}`"))
                    .unwrap_or_default()
            ),
        ));
    }
    let result = tokio::task::spawn_blocking(move || {
        let now = unix_now_ms();
        let ms = dur.as_millis() as i64;
        let rolling = config
            .rolling_reference(&model)
            .map(|d| d.as_millis() as i64);
        let buckets = s
            .windows
            .window(&model, q.version.as_deref(), ms, rolling, now)?;
        let settings = config.evaluation_settings();
        let profiles = s.windows.profiles();
        let version = q.version.as_deref();
        let report = window_report(
            &buckets,
            &profiles,
            &model,
            version,
            (&name, ms),
            now,
            &settings,
        );
        if !pictures {
            return Ok((report, None));
        }
        use crate::evaluate::pictures;
        const WEEK_MS: i64 = 7 * 86_400_000;
        const HOUR_MS: i64 = 3_600_000;
        let distributions = pictures::window_distributions(&buckets, &profiles, &model, version);
        let mut history = BTreeMap::new();
        if let (Some(profile), _) =
            crate::evaluate::window_profile(&buckets, &profiles, &model, version)
        {
            let stored = s
                .windows
                .history_buckets(&model, version, now - WEEK_MS, now)?;
            let periods = pictures::periods(&stored, now - WEEK_MS, now, HOUR_MS);
            if let Some(psi) = crate::report::FeatureStatistic::named("psi") {
                history = pictures::feature_series(&periods, profile, psi, &settings);
                history.retain(|_, s| s.points.iter().any(|p| p.1.is_some()));
            }
        }
        Ok::<_, crate::window::BucketReadError>((
            report,
            Some(crate::report::html::Pictures {
                distributions,
                history,
            }),
        ))
    })
    .await;
    match result {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(e)) => Err(api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        Err(e) => Err(api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("evaluation failed: {e}"),
        )),
    }
}

async fn metrics_handler(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    match s.readiness.not_ready_reason() {
        None => (StatusCode::OK, "ready\n".to_string()),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

/// Binds first (so a port conflict is reported at start-up), then serves until
/// `shutdown` resolves.
pub async fn serve(
    bind: SocketAddr,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    tracing::info!(%bind, "HTTP listening: /metrics /healthz /readyz /api/v1/models");
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "HTTP server failed");
        }
    }))
}

//! The running daemon's HTTP API as the CLI calls it (`driftd retrain`, `driftd
//! silence`): the address from `[http] bind`, the bearer token from `[http] token`,
//! path segments encoded.

use std::error::Error;
use std::net::SocketAddr;

use serde_json::Value;

use crate::config::Config;

pub(super) struct DaemonApi {
    bind: SocketAddr,
    token: Option<String>,
}

impl DaemonApi {
    /// The daemon of `config`; `why` says what the token is needed for, when it is.
    pub fn new(config: &Config, why: Option<&str>) -> Result<DaemonApi, Box<dyn Error>> {
        let token = match (why, &config.http.token) {
            (Some(why), None) => {
                return Err(format!(
                    "the configuration has no [http] token: the daemon refuses {why}"
                )
                .into())
            }
            (_, Some(t)) => Some(t.read("http.token")?),
            (None, None) => None,
        };
        let mut bind = config.http.bind;
        if bind.ip().is_unspecified() {
            bind.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        Ok(DaemonApi { bind, token })
    }

    /// `http://{bind}/{segments…}`, each segment encoded (a name like `fraud/eu` stays
    /// one segment).
    pub fn url(&self, segments: &[&str]) -> Result<url::Url, Box<dyn Error>> {
        endpoint(self.bind, segments)
    }

    /// One request; the status and body. A non-2xx answer is an error naming both.
    pub fn call(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> Result<String, Box<dyn Error>> {
        Ok(self.send(method, self.url(segments)?, body)?.0)
    }

    /// A GET with query parameters; the body and the response's headers.
    pub fn get(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<(String, reqwest::header::HeaderMap), Box<dyn Error>> {
        let mut url = self.url(segments)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        self.send(reqwest::Method::GET, url, None)
    }

    fn send(
        &self,
        method: reqwest::Method,
        url: url::Url,
        body: Option<&Value>,
    ) -> Result<(String, reqwest::header::HeaderMap), Box<dyn Error>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (status, headers, text) = rt
            .block_on(async {
                let mut req = reqwest::Client::new().request(method, url.clone());
                if let Some(token) = &self.token {
                    req = req.bearer_auth(token);
                }
                if let Some(body) = body {
                    req = req.json(body);
                }
                let resp = req.send().await?;
                let (status, headers) = (resp.status(), resp.headers().clone());
                Ok::<_, reqwest::Error>((status, headers, resp.text().await?))
            })
            .map_err(|e| format!("{url}: {e}"))?;
        if status.is_success() {
            Ok((text, headers))
        } else {
            Err(format!("{url} answered {status}: {text}").into())
        }
    }
}

fn endpoint(bind: SocketAddr, segments: &[&str]) -> Result<url::Url, Box<dyn Error>> {
    let mut url = url::Url::parse(&format!("http://{bind}/"))?;
    url.path_segments_mut()
        .map_err(|()| "not a base URL")?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_one_encoded_path_segment() {
        let bind = "127.0.0.1:7853".parse().unwrap();
        let url = |m: &str| endpoint(bind, &["api", "v1", "models", m, "retrain"]).unwrap();
        assert_eq!(
            url("churn").as_str(),
            "http://127.0.0.1:7853/api/v1/models/churn/retrain"
        );
        assert_eq!(
            url("fraud/eu v2?#").as_str(),
            "http://127.0.0.1:7853/api/v1/models/fraud%2Feu%20v2%3F%23/retrain"
        );
    }
}

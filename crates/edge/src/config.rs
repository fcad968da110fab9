//! The Worker's configuration from its environment (plain-text bindings and secrets), with the same names as
//! `sluice serve`'s environment variables where they mean the same thing.

use sluice_proxy::policy::IndexPatterns;
use sluice_proxy::route::ProxyRules;
use sluice_proxy::sigv4::SigV4;

use crate::slice::SliceBudget;

/// How the Worker authenticates to OpenSearch.
#[derive(Debug, Clone)]
pub enum UpstreamAuth {
    /// No credentials.
    None,
    /// HTTP basic (`OPENSEARCH_USERNAME` and `OPENSEARCH_PASSWORD`, as secrets).
    Basic {
        /// User.
        username: String,
        /// Password.
        password: String,
    },
    /// AWS Signature Version 4 (`SLUICE_AWS_SIGV4=es|aoss`, `AWS_REGION`, and the key secrets).
    SigV4(SigV4),
}

/// Everything the Worker needs to know.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// OpenSearch's base URL, without a trailing slash.
    pub upstream: String,
    /// Credentials for it.
    pub auth: UpstreamAuth,
    /// What the proxy allows (shared with `sluice serve`); the jobs API writes only to the same indices.
    pub rules: ProxyRules,
    /// Origins allowed by CORS.
    pub allowed_origins: Vec<String>,
    /// One slice's budget.
    pub budget: SliceBudget,
    /// Parts of a job run at once.
    pub part_parallelism: usize,
}

impl EdgeConfig {
    /// Reads the configuration through `var` (a binding's text, `None` when unset or empty). `serves_site` is true
    /// when the Worker has an `ASSETS` binding.
    pub fn from_vars(var: &dyn Fn(&str) -> Option<String>, serves_site: bool) -> Result<Self, String> {
        let var = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let list = |name: &str| -> Vec<String> {
            var(name)
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        let number = |name: &str, default: f64| -> Result<f64, String> {
            match var(name) {
                None => Ok(default),
                Some(text) => text
                    .parse::<f64>()
                    .ok()
                    .filter(|n| *n > 0.0 && n.is_finite())
                    .ok_or_else(|| format!("{name} must be a positive number, not '{text}'")),
            }
        };
        let upstream = var("OPENSEARCH_URL")
            .ok_or("OPENSEARCH_URL is not set: give the Worker the cluster's address (a [vars] entry)")?
            .trim_end_matches('/')
            .to_string();
        if !(upstream.starts_with("http://") || upstream.starts_with("https://")) {
            return Err(format!(
                "OPENSEARCH_URL '{upstream}' must start with http:// or https://"
            ));
        }
        let auth = match (
            var("SLUICE_AWS_SIGV4"),
            var("OPENSEARCH_USERNAME"),
            var("OPENSEARCH_PASSWORD"),
        ) {
            (Some(service), None, None) => {
                let (Some(access_key), Some(secret_key)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
                else {
                    return Err(
                        "SLUICE_AWS_SIGV4 needs the secrets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
                    );
                };
                let region = var("AWS_REGION").unwrap_or_default();
                UpstreamAuth::SigV4(SigV4::new(
                    &access_key,
                    &secret_key,
                    var("AWS_SESSION_TOKEN"),
                    &region,
                    &service,
                )?)
            }
            (Some(_), _, _) => {
                return Err("choose SigV4 (SLUICE_AWS_SIGV4) or basic auth (OPENSEARCH_USERNAME), not both".into())
            }
            (None, Some(username), Some(password)) => UpstreamAuth::Basic { username, password },
            (None, Some(_), None) | (None, None, Some(_)) => {
                return Err("give both OPENSEARCH_USERNAME and OPENSEARCH_PASSWORD, or neither".into())
            }
            (None, None, None) => UpstreamAuth::None,
        };
        let indices = IndexPatterns::new(list("SLUICE_ALLOW_INDEX"))
            .map_err(|message| format!("SLUICE_ALLOW_INDEX: {message}"))?;
        let allow_create_index = matches!(var("SLUICE_ALLOW_CREATE_INDEX").as_deref(), Some("1" | "true" | "yes"));
        let rules = ProxyRules {
            indices,
            tokens: list("SLUICE_TOKENS"),
            allow_create_index,
            max_body: (number("SLUICE_MAX_BODY_MIB", 10.0)? * 1024.0 * 1024.0) as usize,
            serves_site,
        };
        let defaults = SliceBudget::default();
        let budget = SliceBudget {
            bytes: (number("SLUICE_SLICE_MIB", (defaults.bytes >> 20) as f64)? * 1024.0 * 1024.0) as u64,
            records: defaults.records,
            subrequests: number("SLUICE_SLICE_SUBREQUESTS", f64::from(defaults.subrequests))? as u32,
            wall_ms: (number("SLUICE_SLICE_SECONDS", (defaults.wall_ms / 1000) as f64)? * 1000.0) as u64,
        };
        Ok(EdgeConfig {
            upstream,
            auth,
            rules,
            allowed_origins: list("SLUICE_ALLOW_ORIGIN")
                .into_iter()
                .map(|o| o.trim_end_matches('/').to_string())
                .collect(),
            budget,
            part_parallelism: number("SLUICE_PART_PARALLELISM", 2.0)?.clamp(1.0, 8.0) as usize,
        })
    }

    /// The CORS headers for a request from `origin`: none for an origin not listed (the browser then refuses to
    /// hand the answer to the page).
    pub fn cors_headers(&self, origin: Option<&str>, preflight: bool) -> Vec<(&'static str, String)> {
        let Some(origin) = origin.filter(|o| self.allowed_origins.iter().any(|allowed| allowed == o)) else {
            return Vec::new();
        };
        let mut headers = vec![
            ("access-control-allow-origin", origin.to_string()),
            ("vary", "Origin".to_string()),
            ("access-control-expose-headers", "retry-after".to_string()),
        ];
        if preflight {
            headers.push(("access-control-allow-methods", "GET,HEAD,POST,PUT,DELETE".into()));
            headers.push(("access-control-allow-headers", "content-type,authorization".into()));
            headers.push(("access-control-max-age", "600".into()));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<EdgeConfig, String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        EdgeConfig::from_vars(&|name| map.get(name).cloned(), false)
    }

    #[test]
    fn reads_the_same_names_as_sluice_serve() {
        let c = config(&[
            ("OPENSEARCH_URL", "http://127.0.0.1:9200/"),
            ("SLUICE_ALLOW_INDEX", "logs-*, products"),
            ("SLUICE_TOKENS", "a,b"),
            ("OPENSEARCH_USERNAME", "u"),
            ("OPENSEARCH_PASSWORD", "p"),
            ("SLUICE_SLICE_MIB", "8"),
            ("SLUICE_ALLOW_ORIGIN", "https://tools.example.com/"),
        ])
        .unwrap();
        assert_eq!(c.upstream, "http://127.0.0.1:9200");
        assert!(c.rules.indices.allows("products") && !c.rules.indices.allows("secret"));
        assert_eq!(c.rules.tokens, ["a", "b"]);
        assert!(matches!(c.auth, UpstreamAuth::Basic { .. }));
        assert_eq!(c.budget.bytes, 8 << 20);
        assert_eq!(c.rules.max_body, 10 << 20);
        assert_eq!(c.cors_headers(Some("https://tools.example.com"), true).len(), 6);
        assert!(c.cors_headers(Some("https://evil.example"), true).is_empty());
    }

    #[test]
    fn misconfiguration_is_explained() {
        assert!(config(&[]).unwrap_err().contains("OPENSEARCH_URL"));
        assert!(config(&[("OPENSEARCH_URL", "http://h")])
            .unwrap_err()
            .contains("SLUICE_ALLOW_INDEX"));
        let base = [("OPENSEARCH_URL", "http://h"), ("SLUICE_ALLOW_INDEX", "logs-*")];
        assert!(config(&[base[0], base[1], ("OPENSEARCH_USERNAME", "u")])
            .unwrap_err()
            .contains("both"));
        assert!(config(&[base[0], base[1], ("SLUICE_AWS_SIGV4", "es")])
            .unwrap_err()
            .contains("AWS_ACCESS_KEY_ID"));
        assert!(config(&[base[0], base[1], ("SLUICE_SLICE_MIB", "-1")])
            .unwrap_err()
            .contains("positive"));
        let sigv4 = config(&[
            base[0],
            base[1],
            ("SLUICE_AWS_SIGV4", "aoss"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ])
        .unwrap();
        assert!(matches!(sigv4.auth, UpstreamAuth::SigV4(_)));
    }
}

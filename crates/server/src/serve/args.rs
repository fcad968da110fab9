//! Command-line arguments of `sluice serve`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{ProxyConfig, UpstreamAuth};
use crate::policy::IndexPatterns;

/// Arguments of `sluice serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SLUICE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The OpenSearch endpoint to forward to.
    #[arg(long, env = "OPENSEARCH_URL")]
    pub opensearch: String,
    /// OpenSearch user for basic auth.
    #[arg(long, env = "OPENSEARCH_USERNAME")]
    pub username: Option<String>,
    /// OpenSearch password for basic auth.
    #[arg(long, env = "OPENSEARCH_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Pass the browser's own Authorization header to OpenSearch instead of using stored credentials.
    #[arg(long, conflicts_with_all = ["username", "password"])]
    pub pass_through_auth: bool,
    /// Sign requests with AWS SigV4 (Amazon OpenSearch Service or Serverless), with credentials from
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
    #[arg(long, conflicts_with_all = ["username", "password", "pass_through_auth"])]
    pub aws_sigv4: bool,
    /// AWS region of the domain or collection (for --aws-sigv4).
    #[arg(long, env = "AWS_REGION", default_value = "")]
    pub aws_region: String,
    /// SigV4 service: es (managed domains) or aoss (Serverless collections).
    #[arg(long, default_value = "es")]
    pub aws_service: String,
    /// A PEM file with an extra CA certificate to trust for OpenSearch (self-signed clusters).
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Index patterns the browser may write to (globs: logs-*, products). Repeat or separate with commas.
    #[arg(
        long = "allow-index",
        env = "SLUICE_ALLOW_INDEX",
        value_delimiter = ',',
        required = true
    )]
    pub allow_index: Vec<String>,
    /// Origins allowed to call the proxy from a browser (exact: https://tools.example.com). Repeat or use commas.
    #[arg(long = "allow-origin", env = "SLUICE_ALLOW_ORIGIN", value_delimiter = ',')]
    pub allow_origin: Vec<String>,
    /// Largest bulk body accepted, in MiB (Amazon OpenSearch Service's smallest limit is 10).
    #[arg(long, default_value_t = 10.0)]
    pub max_body_mib: f64,
    /// Analyst token the browser must send (Authorization: Bearer). Repeat for several.
    #[arg(long = "token", env = "SLUICE_TOKENS", value_delimiter = ',', hide_env_values = true)]
    pub tokens: Vec<String>,
    /// A file with one analyst token per line.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Timeout of one request to OpenSearch, in seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
    /// Also serve the built web app (the dist/ directory) from the same origin.
    #[arg(long)]
    pub site: Option<PathBuf>,
    /// Let the web app create allowed indices that do not exist yet, with a mapping proposed from the data (only
    /// mappings and the number of shards and replicas are accepted).
    #[arg(long, env = "SLUICE_ALLOW_CREATE_INDEX")]
    pub allow_create_index: bool,
}

impl ServeArgs {
    /// Checks the arguments and reads the files they name.
    pub fn into_config(self) -> Result<ProxyConfig, String> {
        let indices = IndexPatterns::new(self.allow_index)?;
        let auth = match (self.pass_through_auth, self.username, self.password) {
            _ if self.aws_sigv4 => {
                UpstreamAuth::SigV4(super::sigv4::SigV4::from_env(&self.aws_region, &self.aws_service)?)
            }
            (true, _, _) => UpstreamAuth::PassThrough,
            (false, Some(username), Some(password)) => UpstreamAuth::Basic { username, password },
            (false, Some(_), None) | (false, None, Some(_)) => {
                return Err("give both OPENSEARCH_USERNAME and OPENSEARCH_PASSWORD, or neither".into())
            }
            (false, None, None) => UpstreamAuth::None,
        };
        let mut tokens: Vec<String> = self.tokens.into_iter().filter(|t| !t.trim().is_empty()).collect();
        if let Some(path) = &self.token_file {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            tokens.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(String::from),
            );
        }
        let ca_certificate = match &self.ca_cert {
            Some(path) => Some(std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?),
            None => None,
        };
        if let Some(site) = &self.site {
            if !site.join("index.html").is_file() {
                return Err(format!(
                    "{} has no index.html: build the site first (trunk build --release) and point --site at dist/",
                    site.display()
                ));
            }
        }
        Ok(ProxyConfig {
            upstream: self.opensearch,
            auth,
            indices,
            allowed_origins: self.allow_origin,
            max_body: (self.max_body_mib * 1024.0 * 1024.0) as usize,
            tokens,
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
            site: self.site,
            ca_certificate,
            allow_create_index: self.allow_create_index,
        })
    }
}

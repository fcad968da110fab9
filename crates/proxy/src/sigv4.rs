//! AWS Signature Version 4 for Amazon OpenSearch Service (`es`) and OpenSearch Serverless (`aoss`), signed with the
//! `aws-sigv4` crate. Credentials come from the standard environment variables.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

/// What requests are signed with.
#[derive(Clone)]
pub struct SigV4 {
    credentials: Credentials,
    /// AWS region, e.g. `eu-west-1`.
    pub region: String,
    /// `es` (managed domains) or `aoss` (Serverless).
    pub service: String,
}

impl std::fmt::Debug for SigV4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the keys.
        f.debug_struct("SigV4")
            .field("region", &self.region)
            .field("service", &self.service)
            .finish()
    }
}

impl SigV4 {
    /// A signer with explicit credentials.
    pub fn new(
        access_key: &str,
        secret_key: &str,
        session_token: Option<String>,
        region: &str,
        service: &str,
    ) -> Result<Self, String> {
        if service != "es" && service != "aoss" {
            return Err(format!(
                "the SigV4 service must be 'es' (managed domains) or 'aoss' (Serverless), not '{service}'"
            ));
        }
        if region.is_empty() {
            return Err("SigV4 needs a region (--aws-region or AWS_REGION)".into());
        }
        Ok(SigV4 {
            credentials: Credentials::new(access_key, secret_key, session_token, None, "sluice"),
            region: region.to_string(),
            service: service.to_string(),
        })
    }

    /// A signer with credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
    pub fn from_env(region: &str, service: &str) -> Result<Self, String> {
        let read = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (Some(access_key), Some(secret_key)) = (read("AWS_ACCESS_KEY_ID"), read("AWS_SECRET_ACCESS_KEY")) else {
            return Err("--aws-sigv4 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)".into());
        };
        Self::new(&access_key, &secret_key, read("AWS_SESSION_TOKEN"), region, service)
    }

    /// The headers to add to a request (`authorization`, `x-amz-date`, `x-amz-content-sha256`, and
    /// `x-amz-security-token` with temporary credentials). `headers` are the ones the request already carries and
    /// that should be signed (at least `host` is implied by the URL).
    pub fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        time: SystemTime,
    ) -> Result<Vec<(String, String)>, String> {
        // OpenSearch Serverless requires the payload hash header; managed domains accept it.
        self.sign_with(method, url, headers, body, time, PayloadChecksumKind::XAmzSha256)
    }

    fn sign_with(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        time: SystemTime,
        payload_checksum: PayloadChecksumKind,
    ) -> Result<Vec<(String, String)>, String> {
        let identity = self.credentials.clone().into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = payload_checksum;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(time)
            .settings(settings)
            .build()
            .map_err(|e| format!("cannot set up SigV4 signing: {e}"))?
            .into();
        let request = SignableRequest::new(method, url, headers.iter().copied(), SignableBody::Bytes(body))
            .map_err(|e| format!("cannot sign the request: {e}"))?;
        let (instructions, _signature) = sign(request, &params)
            .map_err(|e| format!("cannot sign the request: {e}"))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_signer() -> SigV4 {
        SigV4 {
            credentials: Credentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                None,
                None,
                "test",
            ),
            region: "us-east-1".into(),
            service: "service".into(),
        }
    }

    /// 2015-08-30T12:36:00Z, the time of AWS's published SigV4 test suite.
    fn example_time() -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160)
    }

    /// The "get-vanilla" case of AWS's published SigV4 test suite, signature included.
    #[test]
    fn reproduces_awss_get_vanilla_example() {
        let headers = example_signer()
            .sign_with(
                "GET",
                "https://example.amazonaws.com/",
                &[],
                b"",
                example_time(),
                PayloadChecksumKind::NoHeader,
            )
            .unwrap();
        let authorization = headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .map(|(_, v)| v.as_str());
        assert_eq!(
            authorization,
            Some("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        );
    }

    /// Our requests also sign the payload hash (required by OpenSearch Serverless).
    #[test]
    fn signs_the_payload_hash() {
        let headers = example_signer()
            .sign("GET", "https://example.amazonaws.com/", &[], b"", example_time())
            .unwrap();
        let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(get("x-amz-date"), Some("20150830T123600Z"));
        assert_eq!(
            get("x-amz-content-sha256"),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        let authorization = get("authorization").unwrap();
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="
            ),
            "{authorization}"
        );
    }

    #[test]
    fn refuses_unknown_services() {
        assert!(SigV4::new("a", "b", None, "eu-west-1", "s3").is_err());
        assert!(SigV4::new("a", "b", None, "", "es").is_err());
        let debug = format!("{:?}", SigV4::new("AKIA", "SECRET", None, "eu-west-1", "aoss").unwrap());
        assert!(!debug.contains("SECRET") && !debug.contains("AKIA"));
    }
}

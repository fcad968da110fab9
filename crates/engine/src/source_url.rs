//! What a source URL says about the object: S3 bucket and key, the URL without its signature, and when a
//! presigned URL expires. Plain string parsing, so the browser and the CLI agree.

use crate::checkpoint::SourceIdentity;
use crate::job::{SourceError, SourceErrorKind};

/// A parsed source URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUrl {
    /// The URL without its query string (no signature: safe to store and show).
    pub without_query: String,
    /// The bucket, for S3-style URLs.
    pub bucket: Option<String>,
    /// The object key (percent-decoded), for S3-style URLs.
    pub key: Option<String>,
    /// Expiry of a SigV4 presigned URL (`X-Amz-Date` + `X-Amz-Expires`), in seconds since the Unix epoch.
    pub expires_at: Option<u64>,
}

impl SourceUrl {
    /// Parses an `http(s)` URL.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| format!("'{}' is not an http(s) URL", redact(url)))?;
        let (before_fragment, _) = rest.split_once('#').unwrap_or((rest, ""));
        let (location, query) = before_fragment.split_once('?').unwrap_or((before_fragment, ""));
        let (host_port, path) = location.split_once('/').unwrap_or((location, ""));
        if host_port.is_empty() {
            return Err(format!("'{}' has no host", redact(url)));
        }
        let host = host_port
            .rsplit_once(':')
            .map_or(host_port, |(host, _)| host)
            .to_ascii_lowercase();
        let scheme_len = url.len() - rest.len();
        let without_query = url[..scheme_len + location.len()].to_string();
        let params: Vec<(&str, &str)> = query.split('&').filter_map(|pair| pair.split_once('=')).collect();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        let signed = param("X-Amz-Signature").is_some() || param("X-Amz-Credential").is_some();
        // Virtual-hosted style: bucket.s3.region.amazonaws.com/key (also bucket.s3.amazonaws.com).
        let (bucket, key) = match host.split_once(".s3.").or_else(|| host.split_once(".s3-")) {
            Some((bucket, _)) if host.ends_with(".amazonaws.com") && !path.is_empty() => {
                (Some(bucket.to_string()), Some(percent_decode(path)))
            }
            // Path style (s3.region.amazonaws.com/bucket/key, MinIO, moto, test servers), for presigned URLs.
            _ if signed || host.starts_with("s3.") || host.starts_with("s3-") => match path.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                    (Some(percent_decode(bucket)), Some(percent_decode(key)))
                }
                _ => (None, None),
            },
            _ => (None, None),
        };
        let expires_at = match (param("X-Amz-Date"), param("X-Amz-Expires")) {
            (Some(date), Some(expires)) => parse_amz_date(date)
                .zip(expires.parse::<u64>().ok())
                .map(|(a, e)| a + e),
            _ => None,
        };
        Ok(SourceUrl {
            without_query,
            bucket,
            key,
            expires_at,
        })
    }

    /// The identity part known from the URL alone (ETag and size come from the server).
    pub fn identity(&self) -> SourceIdentity {
        SourceIdentity {
            url: Some(self.without_query.clone()),
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            gzip: self.without_query.to_ascii_lowercase().ends_with(".gz"),
            ..SourceIdentity::default()
        }
    }

    /// True when the URL has expired at `now_secs` (Unix seconds).
    pub fn is_expired(&self, now_secs: u64) -> bool {
        self.expires_at.is_some_and(|at| now_secs >= at)
    }
}

/// What an HTTP status from an object server means for an import, in words a person can act on. `body` is the
/// response body (S3 puts a `<Message>` in it); `url` is shown redacted.
pub fn source_status_error(status: u16, body: &str, url: &str) -> SourceError {
    let url = redact(url);
    let detail = body
        .split("<Message>")
        .nth(1)
        .and_then(|m| m.split('<').next())
        .unwrap_or("")
        .trim();
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    };
    match status {
        403 => SourceError::new(
            SourceErrorKind::Expired,
            format!("the source URL was refused (403){detail}: a presigned URL has probably expired; create a fresh one for the same object and use it to resume ({url})"),
        ),
        412 => SourceError::new(
            SourceErrorKind::Changed,
            format!("the object changed since the import started (412 on If-Match){detail}; start the import over to index the new content ({url})"),
        ),
        404 => SourceError::new(SourceErrorKind::Fatal, format!("no object at {url} (404){detail}")),
        401 => SourceError::new(SourceErrorKind::Fatal, format!("the source needs credentials (401){detail}: use a presigned URL ({url})")),
        500..=599 => SourceError::new(SourceErrorKind::Transient, format!("the source answered HTTP {status}{detail} ({url})")),
        _ => SourceError::new(SourceErrorKind::Fatal, format!("the source answered HTTP {status}{detail} ({url})")),
    }
}

/// The URL without its query string: what may be shown or logged (a presigned URL's query is a bearer secret).
pub fn redact(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_string(),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        // In a path '+' is a plus sign (S3 encodes a space as %20).
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `20261122T010203Z` → Unix seconds.
fn parse_amz_date(text: &str) -> Option<u64> {
    if text.len() != 16 || !text.ends_with('Z') || text.as_bytes()[8] != b'T' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<u64>().ok();
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = crate::retry::days_from_civil(year as i64, month as i64, day as i64);
    u64::try_from(days * 86_400 + (hour * 3600 + minute * 60 + second) as i64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_hosted_and_path_style_presigned_urls() {
        let url = SourceUrl::parse(
            "https://my-bucket.s3.eu-west-1.amazonaws.com/exports/2026/part%201.jsonl?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261122T100000Z&X-Amz-Expires=3600&X-Amz-Signature=abc",
        )
        .unwrap();
        assert_eq!(url.bucket.as_deref(), Some("my-bucket"));
        assert_eq!(url.key.as_deref(), Some("exports/2026/part 1.jsonl"));
        assert_eq!(
            url.without_query,
            "https://my-bucket.s3.eu-west-1.amazonaws.com/exports/2026/part%201.jsonl"
        );
        let signed_at = parse_amz_date("20261122T100000Z").unwrap();
        assert_eq!(url.expires_at, Some(signed_at + 3600));
        assert!(!url.is_expired(signed_at + 3599) && url.is_expired(signed_at + 3600));

        let path_style = SourceUrl::parse(
            "http://localhost:9000/data/logs.json.gz?X-Amz-Date=20261122T100000Z&X-Amz-Expires=60&X-Amz-Signature=1",
        )
        .unwrap();
        assert_eq!(
            (path_style.bucket.as_deref(), path_style.key.as_deref()),
            (Some("data"), Some("logs.json.gz"))
        );
        assert!(path_style.identity().gzip);
        assert_eq!(path_style.identity().id_namespace(), "s3://data/logs.json.gz");
    }

    #[test]
    fn statuses_become_actionable_errors() {
        let expired = source_status_error(
            403,
            "<Error><Message>Request has expired</Message></Error>",
            "https://h/k?X-Amz-Signature=s",
        );
        assert_eq!(expired.kind, SourceErrorKind::Expired);
        assert!(expired.message.contains("(Request has expired)") && !expired.message.contains("X-Amz-Signature"));
        assert_eq!(source_status_error(412, "", "u").kind, SourceErrorKind::Changed);
        assert_eq!(source_status_error(503, "", "u").kind, SourceErrorKind::Transient);
        assert_eq!(source_status_error(404, "", "u").kind, SourceErrorKind::Fatal);
    }

    #[test]
    fn plain_urls_and_errors() {
        let plain = SourceUrl::parse("https://example.com/files/data.jsonl").unwrap();
        assert_eq!((&plain.bucket, &plain.key, plain.expires_at), (&None, &None, None));
        assert_eq!(plain.identity().id_namespace(), "https://example.com/files/data.jsonl");
        assert!(SourceUrl::parse("ftp://x/y").is_err());
        assert_eq!(redact("https://h/k?X-Amz-Signature=secret"), "https://h/k?…");
        assert_eq!(parse_amz_date("20261322T100000Z"), None);
    }
}

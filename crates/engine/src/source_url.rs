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

/// The headers of an object server's answer that an import looks at (the same for `fetch` and native clients).
#[derive(Debug, Clone, Copy, Default)]
pub struct ObjectAnswer<'a> {
    /// HTTP status.
    pub status: u16,
    /// `Content-Range`, e.g. `bytes 0-0/1234`.
    pub content_range: Option<&'a str>,
    /// `Content-Length`.
    pub content_length: Option<u64>,
    /// `ETag`.
    pub etag: Option<&'a str>,
}

impl ObjectAnswer<'_> {
    fn total_size(&self) -> Option<u64> {
        self.content_range?.rsplit('/').next()?.trim().parse().ok()
    }
}

/// The object's size from the answer to a `Range: bytes=0-0` probe (a presigned GET URL cannot be used for HEAD).
/// `None` when the status is an error (see [`source_status_error`]); `Some(None)` when the size is not visible.
pub fn probed_size(answer: &ObjectAnswer<'_>) -> Option<Option<u64>> {
    match answer.status {
        206 => Some(answer.total_size()),
        200 => Some(answer.content_length),
        416 => Some(Some(0)),
        _ => None,
    }
}

/// What the answer to a resumed `Range: bytes=N-` request (sent with `If-Match`) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumed {
    /// Read the body, discarding its first `skip` bytes (a server that ignores ranges sends the whole object).
    Stream {
        /// Bytes to discard.
        skip: u64,
    },
    /// Nothing is left after the offset.
    Finished,
    /// Another status: an error to describe with [`source_status_error`].
    Status(u16),
}

/// Interprets the answer to a resumed request at `offset` for an object that had `expected_size` and
/// `expected_etag`. A 416 means "finished" only if the object still has its size (some servers check the range
/// before `If-Match`, so a shrunk object shows up there rather than as 412); an ETag that differs means the object
/// changed.
pub fn resumed_answer(
    answer: &ObjectAnswer<'_>,
    offset: u64,
    expected_size: Option<u64>,
    expected_etag: Option<&str>,
) -> Result<Resumed, SourceError> {
    let changed = |detail: String| {
        SourceError::new(
            SourceErrorKind::Changed,
            format!("the object changed since the import started ({detail}); start the import over to index the new content"),
        )
    };
    let resumed = match answer.status {
        206 => Resumed::Stream { skip: 0 },
        200 => Resumed::Stream { skip: offset },
        416 => {
            let total = answer.total_size();
            if total.is_some_and(|t| Some(t) != expected_size) || Some(offset) != expected_size {
                let show = |size: Option<u64>| size.map_or("an unknown number of".to_string(), |s| s.to_string());
                return Err(changed(format!(
                    "it now has {} bytes, it had {}",
                    show(total),
                    show(expected_size)
                )));
            }
            Resumed::Finished
        }
        other => return Ok(Resumed::Status(other)),
    };
    if let (Some(expected), Some(now)) = (expected_etag, answer.etag) {
        if expected != now {
            return Err(changed(format!("its ETag changed from {expected} to {now}")));
        }
    }
    Ok(resumed)
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
    fn probes_and_resumed_answers() {
        let probe = |status, content_range, content_length| {
            probed_size(&ObjectAnswer {
                status,
                content_range,
                content_length,
                etag: None,
            })
        };
        assert_eq!(probe(206, Some("bytes 0-0/1234"), Some(1)), Some(Some(1234)));
        assert_eq!(probe(200, None, Some(99)), Some(Some(99)));
        assert_eq!(probe(416, None, None), Some(Some(0)));
        assert_eq!(probe(403, None, None), None);

        let answer = |status, content_range, etag| ObjectAnswer {
            status,
            content_range,
            content_length: None,
            etag,
        };
        let etag = Some("\"a\"");
        assert_eq!(
            resumed_answer(&answer(206, None, etag), 10, Some(100), etag),
            Ok(Resumed::Stream { skip: 0 })
        );
        assert_eq!(
            resumed_answer(&answer(200, None, etag), 10, Some(100), etag),
            Ok(Resumed::Stream { skip: 10 })
        );
        assert_eq!(
            resumed_answer(&answer(416, Some("bytes */100"), None), 100, Some(100), etag),
            Ok(Resumed::Finished)
        );
        assert_eq!(
            resumed_answer(&answer(412, None, None), 10, Some(100), etag),
            Ok(Resumed::Status(412))
        );
        let shrunk = resumed_answer(&answer(416, Some("bytes */50"), None), 80, Some(100), etag).unwrap_err();
        assert_eq!(shrunk.kind, SourceErrorKind::Changed);
        assert!(
            shrunk.message.contains("it now has 50 bytes, it had 100"),
            "{}",
            shrunk.message
        );
        let rewritten = resumed_answer(&answer(206, None, Some("\"b\"")), 10, Some(100), etag).unwrap_err();
        assert!(rewritten.message.contains("ETag changed"), "{}", rewritten.message);
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

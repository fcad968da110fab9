//! A small S3-like object server: `GET /{bucket}/{key}` with ETag, `Range`, `If-Match` (412), `Content-Range`,
//! CORS exposing the headers a browser needs, and presigned-URL expiry (`X-Amz-Date` + `X-Amz-Expires` → 403 with
//! S3's `AccessDenied` XML). It does not check signatures: for signature checks use a real S3-compatible server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

struct Object {
    data: Bytes,
    etag: String,
}

#[derive(Default)]
struct Store {
    objects: HashMap<(String, String), Object>,
    /// Seconds since the Unix epoch the server pretends it is (for expiry checks); `None` = the real clock.
    now: Option<u64>,
    /// `(bucket/key, Range header or "-")` of each GET, oldest first.
    requests: Vec<(String, String)>,
    /// Answer every GET with 503 SlowDown (logged all the same), as S3 does under load.
    unavailable: bool,
}

/// A running object server. Dropping it stops it.
pub struct ObjectServer {
    address: SocketAddr,
    store: Arc<Mutex<Store>>,
    stop: Option<oneshot::Sender<()>>,
}

fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ObjectServer {
    /// Starts on `127.0.0.1` with a free port.
    pub async fn start() -> std::io::Result<Self> {
        Self::bind("127.0.0.1:0".parse().expect("a valid address")).await
    }

    /// Starts on `address`.
    pub async fn bind(address: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let store = Arc::new(Mutex::new(Store::default()));
        let app = Router::new()
            .route("/{bucket}/{*key}", get(get_object).head(get_object).options(preflight))
            .with_state(store.clone());
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(ObjectServer {
            address,
            store,
            stop: Some(stop),
        })
    }

    /// The server's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stores (or replaces) an object; its ETag changes with its content.
    pub fn put(&self, bucket: &str, key: &str, data: impl Into<Bytes>) {
        let data = data.into();
        let etag = format!("\"{:016x}-{}\"", fnv1a64(&data), data.len());
        lock(&self.store)
            .objects
            .insert((bucket.into(), key.into()), Object { data, etag });
    }

    /// The ETag of an object.
    pub fn etag(&self, bucket: &str, key: &str) -> Option<String> {
        lock(&self.store)
            .objects
            .get(&(bucket.into(), key.into()))
            .map(|o| o.etag.clone())
    }

    /// A URL for an object, "presigned" at `signed_at` (Unix seconds) for `expires_secs`, in S3's query format.
    pub fn presigned_url(&self, host: &str, bucket: &str, key: &str, signed_at: u64, expires_secs: u64) -> String {
        format!(
            "http://{host}:{}/{bucket}/{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=TEST%2F20261122%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date={}&X-Amz-Expires={expires_secs}&X-Amz-SignedHeaders=host&X-Amz-Signature=0000",
            self.address.port(),
            amz_date(signed_at)
        )
    }

    /// Makes the server believe it is `unix_seconds` (to expire presigned URLs in tests).
    pub fn set_now(&self, unix_seconds: Option<u64>) {
        lock(&self.store).now = unix_seconds;
    }

    /// While set, every GET is logged and answered 503 SlowDown: a test can hold a reader at its resume point and
    /// see where it asked to start.
    pub fn set_unavailable(&self, unavailable: bool) {
        lock(&self.store).unavailable = unavailable;
    }

    /// The `Range` header of each GET so far (`-` when there was none).
    pub fn ranges(&self) -> Vec<String> {
        lock(&self.store)
            .requests
            .iter()
            .map(|(_, range)| range.clone())
            .collect()
    }

    /// `(bucket/key, Range header or "-")` of each GET so far, oldest first.
    pub fn requests(&self) -> Vec<(String, String)> {
        lock(&self.store).requests.clone()
    }
}

impl Drop for ObjectServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn cors(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("ETag, Content-Range, Content-Length, Last-Modified"),
    );
}

async fn preflight() -> Response {
    let mut response = StatusCode::OK.into_response();
    cors(&mut response);
    let headers = response.headers_mut();
    headers.insert("access-control-allow-methods", HeaderValue::from_static("GET, HEAD"));
    headers.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("Range, If-Match"),
    );
    response
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let mut response = (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response();
    cors(&mut response);
    response
}

async fn get_object(
    State(store): State<Arc<Mutex<Store>>>,
    Path((bucket, key)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut store = lock(&store);
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    store.requests.push((format!("{bucket}/{key}"), range.clone()));
    if store.unavailable {
        return s3_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "Please reduce your request rate.",
        );
    }
    if let (Some(date), Some(expires)) = (query.get("X-Amz-Date"), query.get("X-Amz-Expires")) {
        let now = store.now.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
        let expiry = parse_amz_date(date)
            .zip(expires.parse::<u64>().ok())
            .map(|(at, secs)| at + secs);
        if expiry.is_none_or(|expiry| now > expiry) {
            return s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired");
        }
    }
    let Some(object) = store.objects.get(&(bucket, key)) else {
        return s3_error(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist.");
    };
    if let Some(wanted) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        if wanted != object.etag && wanted != "*" {
            return s3_error(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
            );
        }
    }
    let size = object.data.len() as u64;
    let (status, start, end) = match parse_range(&range, size) {
        Some(Ok((start, end))) => (StatusCode::PARTIAL_CONTENT, start, end),
        Some(Err(())) => {
            let mut response = s3_error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range is not satisfiable",
            );
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii"),
            );
            return response;
        }
        None => (StatusCode::OK, 0, size),
    };
    let body = object.data.slice(start as usize..end as usize);
    let mut response = (status, Body::from(body)).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::ETAG, HeaderValue::from_str(&object.etag).expect("ascii"));
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    response_headers.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_static("Sun, 22 Nov 2026 00:00:00 GMT"),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        let value = format!("bytes {start}-{}/{size}", end.saturating_sub(1));
        response_headers.insert(header::CONTENT_RANGE, HeaderValue::from_str(&value).expect("ascii"));
    }
    cors(&mut response);
    response
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` → `[start, end)`; `None` without a range, `Err` when unsatisfiable.
fn parse_range(header: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.strip_prefix("bytes=")?;
    let (first, last) = spec.split_once('-')?;
    let range = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            (size.saturating_sub(n), size)
        }
        (start, "") => (start.parse().ok()?, size),
        (start, end) => (start.parse().ok()?, (end.parse::<u64>().ok()? + 1).min(size)),
    };
    Some(if range.0 >= size || range.0 >= range.1 {
        Err(())
    } else {
        Ok(range)
    })
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// `unix_seconds` as S3 and SigV4 write times: `YYYYMMDDTHHMMSSZ` (UTC).
pub fn amz_date(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let seconds = unix % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

fn parse_amz_date(text: &str) -> Option<u64> {
    if text.len() != 16 || !text.ends_with('Z') || text.as_bytes()[8] != b'T' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    let days = days_from_civil(year, month, day);
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_dates() {
        assert_eq!(parse_range("bytes=0-0", 10), Some(Ok((0, 1))));
        assert_eq!(parse_range("bytes=4-", 10), Some(Ok((4, 10))));
        assert_eq!(parse_range("bytes=-3", 10), Some(Ok((7, 10))));
        assert_eq!(parse_range("bytes=10-", 10), Some(Err(())));
        assert_eq!(parse_range("-", 10), None);
        let at = 1_795_309_323; // 2026-11-22T...
        assert_eq!(parse_amz_date(&amz_date(at)), Some(at));
        assert_eq!(amz_date(0), "19700101T000000Z");
    }
}

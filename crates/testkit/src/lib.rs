//! # sluice-testkit
//!
//! Servers that Sluice's tests (and the run command's local sandbox) talk to instead of the real thing:
//!
//! - [`opensearch::OpenSearchServer`]: an OpenSearch-compatible HTTP server (bulk, dynamic mapping, index APIs,
//!   basic auth) with fault injection and counters;
//! - [`fault_proxy::FaultProxy`]: a TCP proxy that cuts or throttles responses and logs request heads, for
//!   mid-stream download failures;
//! - [`objects::ObjectServer`]: an S3-like object server (ETag, Range, If-Match, presigned-URL expiry).

#![warn(missing_docs)]

pub mod data;
pub mod fault_proxy;
pub mod objects;
pub mod opensearch;

/// A TCP port on 127.0.0.1 that was free a moment ago, for a server started as a separate process (workerd, the
/// CLI's proxy), which must be told its port rather than asked for one.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

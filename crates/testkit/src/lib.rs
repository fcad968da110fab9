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

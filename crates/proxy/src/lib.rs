//! What Sluice's bulk proxy lets through, with no HTTP stack and no runtime, so the native proxy (`sluice serve`)
//! and the edge Worker share one set of rules and one signer:
//!
//! - [`route`]: the routing table, analyst tokens, bulk header checks, the answers the proxy makes itself;
//! - [`policy`]: index patterns, the streaming [`policy::BulkGuard`] over action lines, index-creation bodies;
//! - [`sigv4`]: AWS Signature Version 4 for Amazon OpenSearch Service and Serverless.

#![warn(missing_docs)]

pub mod policy;
pub mod route;
pub mod sigv4;

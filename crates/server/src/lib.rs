//! # sluice-server
//!
//! The native side of Sluice: the bulk proxy (`sluice serve`) and the headless importer (`sluice import`).
//! The proxy's rules live in [`policy`], plain logic with no HTTP, so they can be tested exhaustively; the
//! importer's adapters (URL and file sources, gzip, the HTTP sink, file stores) in [`import`].

#![warn(missing_docs)]

pub mod cli;
pub mod http_error;
pub mod import;
/// The proxy's rules live in the platform-free `sluice-proxy` crate, shared with the edge Worker.
pub use sluice_proxy::policy;
pub mod preview;
pub mod retry;
pub mod serve;

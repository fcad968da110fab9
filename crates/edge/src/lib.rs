//! Sluice at the edge: one Cloudflare Worker (run locally in `workerd`) that
//!
//! - runs imports as **jobs**, one Durable Object per job ([`worker::job`]): its manifest, control record,
//!   checkpoints and dead letters live in the object's storage, and each alarm runs one budgeted slice
//!   ([`slice`]) of the engine's job driver, saves the checkpoints and re-arms the alarm until the job is done;
//! - answers the **bulk proxy**'s calls with `sluice serve`'s rules (`sluice-proxy`) and credentials held as Worker
//!   secrets ([`worker::proxy`]);
//! - serves the built site from its `ASSETS` binding.
//!
//! The platform-free parts ([`api`], [`config`], [`layout`], [`site`], [`slice`]) build and test natively; the Worker itself
//! ([`worker`]) only for `wasm32`. The JavaScript entry module (`edge/worker.js`) only declares the Durable Object
//! classes and hands every event to the exports here.

#![warn(missing_docs)]

pub mod api;
pub mod config;
pub mod layout;
pub mod site;
pub mod slice;

#[cfg(target_arch = "wasm32")]
pub mod worker;

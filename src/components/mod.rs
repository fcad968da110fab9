//! The page's components, each a small piece over signals; state changes live in plain functions (here and in
//! [`crate::runner`]), the judgement (preview, mapping check, repair) in the engine.

pub mod csv_options;
pub mod diagnostics;
pub mod edge;
pub mod settings;

#[cfg(target_arch = "wasm32")]
pub mod form;
#[cfg(target_arch = "wasm32")]
pub mod job_card;
pub mod preview;
#[cfg(target_arch = "wasm32")]
pub mod repair;

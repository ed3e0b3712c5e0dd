#![doc = include_str!("../../README.md")]

pub mod bindings;
pub mod builder;
mod cache;
pub mod cases;
#[cfg(feature = "cli")]
pub mod commands;
pub mod engine;
pub mod limits;
#[cfg(feature = "server")]
pub mod logging;
pub mod registry;
pub mod report;
pub mod request;
#[cfg(feature = "server")]
pub mod server;

pub use bindings::types;
pub use engine::{Engine, EngineConfig, Error, PluginSource};
pub use registry::Registry;
pub use report::Report;

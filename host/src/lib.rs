#![doc = include_str!("../../README.md")]

pub mod bindings;
pub mod builder;
pub mod cases;
pub mod commands;
pub mod engine;
pub mod limits;
pub mod logging;
pub mod registry;
pub mod report;
pub mod request;
pub mod server;

pub use bindings::types;
pub use engine::{Engine, EngineConfig, Error};
pub use registry::Registry;
pub use report::Report;

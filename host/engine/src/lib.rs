//! The yungui engine: builds the policy component from Cedar files, loads it into wasmtime (a
//! minimal linker, a deadline, a memory cap, warm instances, a compile cache keyed by content),
//! and decides requests against it and the tenant registry (files or PostgreSQL); runs golden
//! cases. No HTTP, TLS or command line here: the server (`yungui-server`) and the `yungui`
//! command (`yungui-cli`) are built on top of this crate, never the other way round.

pub mod bindings;
pub mod builder;
mod cache;
pub mod cases;
pub mod engine;
pub mod limits;
pub mod registry;
pub mod report;
pub mod request;
pub mod vocabulary;

pub use bindings::types;
pub use engine::{Engine, EngineConfig, Error, PluginSource};
pub use registry::Registry;
pub use report::Report;

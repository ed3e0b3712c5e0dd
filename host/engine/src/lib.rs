//! The yungui engine: builds the policy component from Cedar files, loads it into wasmtime (a
//! minimal linker, a deadline, a memory cap, warm instances, a compile cache keyed by content),
//! and decides requests against it and the tenant registry (files or PostgreSQL); runs golden
//! cases. Everything a control plane needs to embed yungui in process, and nothing more.
//!
//! # What it may depend on
//!
//! `wasmtime` (with `wasmtime-wasi` and `wasmtime-wizer`), the `yungui-policies` crate,
//! `tokio-postgres` for the database registry, serialisation and hashing crates. Never the server
//! (`yungui-server`) or the command (`yungui-cli`), which are built on top of this crate, and no
//! HTTP, TLS or command-line crate (axum, hyper, rustls, clap, kube-core): CI fails if it does.
//!
//! # Layout
//!
//! The public API is the re-exports below and the public modules; the rest is private. From the
//! bottom up, with no module using one above it:
//!
//! - `runtime` (private): wasmtime plumbing: configuration, the minimal linker, a store's state,
//!   the memory limiter, the epoch ticker, the compile cache (`cache`, private).
//! - `identity` (private, its items re-exported by [`builder`]): a component's bytes and what
//!   they say of themselves: the engine component, a bounded file read, the outline and the
//!   identity section.
//! - [`builder`]: `yungui build`, a policy folder in, a pre-initialised component out.
//! - [`engine`]: a loaded component, its instance pool and the bounds of every call; [`Error`]
//!   says why no decision came back.
//! - `source` (private, re-exported here): [`PluginSource`], where a component comes from (a
//!   file, a policy folder, the shipped policy set), above both the builder and the engine.
//! - [`registry`] (files or PostgreSQL), [`limits`] and [`request`] (request bounds and clock),
//!   [`report`] (a decision for people and scripts), [`cases`] (golden cases), [`bindings`] (the
//!   WIT types, generated).
//!
//! ```rust,no_run
//! use std::path::Path;
//! use yungui::{Engine, EngineConfig, Registry, Report};
//!
//! let registry = Registry::from_file(Path::new("examples/registry.json"))?;
//! let config = EngineConfig::default().with_deadline(std::time::Duration::from_millis(100));
//! let engine = Engine::load(Path::new("policies.wasm"), registry, config)?;
//! let request = std::fs::read_to_string("examples/requests/allow-provision.json")?;
//! println!("{}", Report::new(&engine.decide_json(&request)).to_text());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod bindings;
pub mod builder;
mod cache;
pub mod cases;
pub mod engine;
mod error;
mod identity;
pub mod limits;
pub mod registry;
pub mod report;
pub mod request;
mod runtime;
mod source;
pub mod vocabulary;

pub use bindings::types;
pub use builder::BuildError;
pub use engine::{Engine, EngineConfig, Error, ErrorKind, LoadError};
pub use registry::Registry;
pub use report::Report;
pub use source::{PluginSource, SourceError};

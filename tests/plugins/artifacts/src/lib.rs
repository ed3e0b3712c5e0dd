//! Paths of the misbehaving components the host's fault tests load, built for `wasm32-wasip2` by
//! this crate's build script (as wasmtime's `test-programs/artifacts` does). Only tests depend on
//! this crate, so `cargo build` of the engine, server or CLI never builds them.

/// A component whose `decide` loops forever (the deadline must stop it).
pub const RUNAWAY: &str = env!("YUNGUI_TEST_RUNAWAY_WASM");

/// A component whose `decide` grows its memory without bound (the memory cap must stop it).
pub const HUNGRY: &str = env!("YUNGUI_TEST_HUNGRY_WASM");

//! The library of the `yungui` binary. It exists only so that the binary (`src/main.rs`, the
//! interface) and the integration tests (`tests/all`) drive the same commands, in process: it is
//! not published (`publish = false`) nor documented (`doc = false`), and nothing in it is a stable
//! API. Items are public for `main` or for the tests; those only the tests use are
//! `#[doc(hidden)]`.
//!
//! It may depend on the engine (`yungui`), the server (`yungui-server`) and the Cedar helpers
//! (`yungui-policies`); what only a command line needs (clap and its completions, certificate
//! generation, JUnit reports) lives here and never in those crates, which take plain
//! configuration: `yungui serve`'s options become a `yungui_server::Config`, the engine options an
//! `EngineConfig` (CI checks the engine and the server depend on no CLI crate).

#![deny(missing_docs)]

pub mod commands;

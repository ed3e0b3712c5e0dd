//! The `yungui` command's subcommands, as a library so the integration tests drive them in
//! process. The binary (`src/main.rs`) is the interface; nothing here is a stable API.

pub mod commands;

//! The host side of the WIT interface in `wit/`: the only place `bindgen!` is called.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
});

pub use self::exports::yungui::policy::decide;
pub use self::yungui::policy::types;

//! A component that allocates until it is stopped: the host must cap its memory.

#[allow(
    unsafe_code,
    reason = "the canonical ABI glue wit-bindgen generates is unsafe by nature"
)]
mod bindings {
    wit_bindgen::generate!({ path: "../../../wit", world: "plugin" });
    #[cfg(target_arch = "wasm32")]
    use super::Hungry;
    // Component exports only on wasm: a native cdylib exporting names with `:` does not link,
    // which would break `cargo build --workspace`.
    #[cfg(target_arch = "wasm32")]
    export!(Hungry);
}

use bindings::exports::yungui::policy::decide::Guest;
use bindings::yungui::policy::types::{Control, Decision, Failure, Request};

struct Hungry;

fn devour() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
    }
}

impl Guest for Hungry {
    fn decide(_: Request) -> Result<Decision, Failure> {
        devour()
    }

    fn decide_json(_: String) -> Result<Decision, Failure> {
        devour()
    }

    fn controls() -> Vec<Control> {
        Vec::new()
    }
}

//! A component that never decides: `decide` spins forever. The host must stop it at its deadline.

#[allow(
    unsafe_code,
    reason = "the canonical ABI glue wit-bindgen generates is unsafe by nature"
)]
mod bindings {
    wit_bindgen::generate!({ path: "../../../wit", world: "plugin" });
    #[cfg(target_arch = "wasm32")]
    use super::Runaway;
    // Component exports only on wasm: a native cdylib exporting names with `:` does not link,
    // which would break `cargo build --workspace`.
    #[cfg(target_arch = "wasm32")]
    export!(Runaway);
}

use bindings::exports::yungui::policy::decide::Guest;
use bindings::yungui::policy::types::{Control, Decision, Failure, Request};

struct Runaway;

fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

impl Guest for Runaway {
    fn decide(_: Request) -> Result<Decision, Failure> {
        spin()
    }

    fn decide_json(_: String) -> Result<Decision, Failure> {
        spin()
    }

    fn controls() -> Vec<Control> {
        Vec::new()
    }
}

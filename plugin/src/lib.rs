//! yungui's engine component: Cedar behind the WIT interface in `wit/` (world `engine`).
//!
//! It carries no policies of its own. `yungui build` instantiates it, calls `init` with a policy
//! set on standard input (parsed, checked and sliced here), and snapshots the instance: the
//! component it writes starts with the policy set already in memory, so a fresh instance decides
//! without parsing anything. The registry stays with the host: the component asks for the
//! entities a request reaches and keeps those it parsed for later requests.

pub mod engine;
mod value;

/// The bindings `wit-bindgen` generates from `wit/`.
#[allow(
    unsafe_code,
    reason = "the canonical ABI glue wit-bindgen generates is unsafe by nature"
)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "engine",
    });

    #[cfg(target_arch = "wasm32")]
    use super::Component;
    // Component exports only on wasm: a native cdylib exporting names with `:` does not link,
    // which would break `cargo build --workspace`.
    #[cfg(target_arch = "wasm32")]
    export!(Component);
}

use bindings::Guest as Init;
use bindings::exports::yungui::policy::decide::Guest;
use bindings::yungui;
use bindings::yungui::policy::types::{Control, Decision, EntityUid, Failure, Request};

/// The registry the host provides through the `registry` import.
struct HostRegistry;

impl engine::Registry for HostRegistry {
    fn lookup(&self, uid: &EntityUid) -> Result<Option<String>, String> {
        yungui::policy::registry::lookup(uid)
    }

    fn generation(&self) -> u64 {
        yungui::policy::registry::generation()
    }

    fn changed_since(&self, generation: u64) -> Option<Vec<EntityUid>> {
        yungui::policy::registry::changed_since(generation)
    }
}

struct Component;

impl Init for Component {
    fn init() {
        engine::init_from_stdin();
    }
}

impl Guest for Component {
    fn decide(request: Request) -> Result<Decision, Failure> {
        engine::with_engine(|engine| engine.decide(request, &HostRegistry))
    }

    fn decide_json(request: String) -> Result<Decision, Failure> {
        engine::with_engine(|engine| engine.decide_json(&request, &HostRegistry))
    }

    fn controls() -> Vec<Control> {
        engine::with_engine(|engine| Ok(engine.controls())).unwrap_or_default()
    }
}

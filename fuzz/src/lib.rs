//! What the fuzz targets share: the engine over the shipped policies and the example registry.

#![allow(missing_debug_implementations, reason = "fuzzing harness")]

use std::collections::HashMap;
use std::sync::OnceLock;

pub mod server;

/// The component's decision core, the very source the component is built from (inline, so that
/// its own submodules resolve under `plugin/src/engine/`).
#[path = "../../plugin/src"]
mod plugin {
    pub mod engine;
}
pub use plugin::engine;
#[path = "../../plugin/src/value.rs"]
mod value;

/// The WIT types, without the component's exports.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
    });
}

use bindings::yungui::policy::types as wit;
use engine::Registry;

/// The example registry, by (type, id).
pub struct Example(HashMap<(String, String), String>);

impl Registry for Example {
    fn lookup(&self, uid: &wit::EntityUid) -> Result<Option<String>, String> {
        Ok(self
            .0
            .get(&(uid.type_name.clone(), uid.id.clone()))
            .cloned())
    }

    fn generation(&self) -> u64 {
        1
    }

    fn changed_since(&self, _generation: u64) -> Option<Vec<wit::EntityUid>> {
        Some(Vec::new())
    }
}

/// `examples/registry.json`, read once.
pub fn registry() -> &'static Example {
    static REGISTRY: OnceLock<Example> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let text = include_str!("../../examples/registry.json");
        let entities: Vec<serde_json::Value> = serde_json::from_str(text).unwrap_or_default();
        Example(
            entities
                .into_iter()
                .filter_map(|e| {
                    let t = e.pointer("/uid/type")?.as_str()?.to_owned();
                    let i = e.pointer("/uid/id")?.as_str()?.to_owned();
                    Some(((t, i), e.to_string()))
                })
                .collect(),
        )
    })
}

/// The engine over `policies/` (the shipped policy set), as the component's `init` builds it.
fn shipped() -> engine::Engine {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let sources = yungui_policies::Sources::read_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    engine::Engine::new(
        (&sources.schema.name, &sources.schema.text),
        sources
            .policies
            .iter()
            .map(|f| (f.name.as_str(), f.text.as_str())),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

thread_local! {
    /// The engine over the shipped policies (built once per fuzzing thread).
    pub static ENGINE: engine::Engine = shipped();
}

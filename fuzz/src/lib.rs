//! What the fuzz targets share: the engine over the built-in policies and the example registry.

#![allow(missing_debug_implementations, reason = "fuzzing harness")]

use std::collections::HashMap;
use std::sync::OnceLock;

/// The component's decision core, the very source the component is built from.
#[path = "../../plugin/src/engine.rs"]
pub mod engine;
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
    fn lookup(&self, uid: &wit::EntityUid) -> Option<String> {
        self.0
            .get(&(uid.type_name.clone(), uid.id.clone()))
            .cloned()
    }

    fn generation(&self) -> u64 {
        1
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

thread_local! {
    /// The engine over the built-in policies (built once per fuzzing thread).
    pub static ENGINE: engine::Engine =
        engine::Engine::built_in().unwrap_or_else(|e| panic!("{e}"));
}

//! The host side of the WIT interface in `wit/`: the only place `bindgen!` is called. The
//! generated records and variants compare with `==` (`additional_derives`), so callers compare
//! requests and decisions directly.
#![allow(
    missing_docs,
    reason = "generated from wit/; the WIT files document every type and field"
)]

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    additional_derives: [PartialEq, Eq],
});

pub use self::exports::yungui::policy::decide;
pub use self::yungui::policy::types;

/// Constructors for the records hosts build requests from.
pub mod build {
    use super::types::{Attribute, EntityUid, Value};

    /// An entity uid, e.g. `uid("Cloud::Tenant", "shop-example")`.
    pub fn uid(type_name: &str, id: &str) -> EntityUid {
        EntityUid {
            type_name: type_name.to_owned(),
            id: id.to_owned(),
        }
    }

    /// An entity reference as a value.
    pub fn entity(type_name: &str, id: &str) -> Value {
        Value::Entity(uid(type_name, id))
    }

    /// A named attribute.
    pub fn attr(name: &str, value: Value) -> Attribute {
        Attribute {
            name: name.to_owned(),
            value,
        }
    }
}

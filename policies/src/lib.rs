//! yungui's Cedar policy set: the `.cedar` files and schema in this folder, loaded, checked in
//! strict mode against the schema, and read for the controls they declare.
//!
//! The same code runs in three places: the policy component's build script (an invalid policy
//! fails the build), inside the component (which parses the policies it embeds), and in the host's
//! `yungui validate`.
//!
//! What it holds, one module per concern:
//! - reading the policy folder ([`Sources`]) and its digest;
//! - compiling it ([`compile()`], [`Compiled`]): parse, check the annotations, validate strictly;
//! - problems with file, line and column ([`Problem`], [`Problems`]);
//! - the findings a forbid policy's annotations declare ([`Finding`], [`Severity`]);
//! - slices of the set by action and by principal and resource type ([`slice_by_action`],
//!   [`slice_by_types`]);
//! - what the schema declares beyond Cedar's checks: attribute types ([`AttrTypes`]), closed
//!   vocabularies ([`Vocabularies`], `@one_of`) and registry-only entity types (`@registry`);
//! - checks of entities and values against those ([`check_registry`], [`check_entity`],
//!   [`check_one_of`]);
//! - JSON read strictly ([`json`]).
//!
//! It may depend on Cedar (`cedar-policy`, and `miette` for its diagnostics), serde and
//! `serde_json`, `sha2` and `thiserror`: it builds for `wasm32-wasip2` inside the component as well
//! as for the host. It never depends on wasmtime, on the host's crates, or on anything HTTP, CLI
//! or server: those depend on it.

#![deny(missing_docs)]

mod compile;
mod findings;
mod problems;
mod registry;
mod schema;
mod slices;
mod sources;
#[cfg(test)]
mod tests;

pub use compile::{Compiled, Validate, compile};
pub use findings::{Finding, OBLIGATIONS, Severity};
pub use problems::{Problem, Problems};
pub use registry::{
    EntityError, NotOneOf, check_entity, check_one_of, check_registry, check_vocabularies,
    summarise_problems,
};
pub use schema::{AttrType, AttrTypes, CONTEXT, Vocabularies};
pub use slices::{SliceError, slice_by_action, slice_by_types};
pub use sources::{ReadError, SourceFile, Sources};

pub mod json;
pub mod wire;

/// The schema's file name inside the policy folder.
pub const SCHEMA_FILE: &str = "schema.cedarschema";

/// The notice file beside the shipped policies: article → sub-items → controls, properties and
/// duties that cannot be decided at request time (`notice.json`, read by `yungui report`).
pub const NOTICE_FILE: &str = "notice.json";

/// The shipped `notice.json`, for a report made where there is no policy folder.
pub const SHIPPED_NOTICE: &str = include_str!("../notice.json");

/// Annotation keys every forbid policy carries.
pub mod annotation {
    /// The policy's own id, unique in the set (Cedar's tools read it as the policy id), e.g.
    /// `art8-1-icp-filing.bind-domain-unfiled`.
    pub const ID: &str = "id";
    /// The control the policy belongs to, e.g. `art8-1-icp-filing`; several policies share one.
    pub const CONTROL: &str = "control";
    /// The article of the notice, e.g. `8(1)`.
    pub const ARTICLE: &str = "article";
    /// The reason in English.
    pub const REASON: &str = "reason";
    /// The reason in Chinese.
    pub const REASON_ZH: &str = "reason_zh";
    /// Comma-separated obligations.
    pub const OBLIGATION: &str = "obligation";
    /// The clause of the notice the obligations come from, quoted (required with `@obligation`).
    pub const OBLIGATION_QUOTE: &str = "obligation_quote";
    /// `deny` (the default) or `warn`.
    pub const SEVERITY: &str = "severity";
    /// On an entity type of the schema: its entities come from the registry only, never with a
    /// request.
    pub const REGISTRY: &str = "registry";
    /// On an attribute of the schema: its closed vocabulary, `a|b|c` (each element, for a set).
    pub const ONE_OF: &str = "one_of";
}

//! Data: a PersistentVolumeClaim is a `Dataset`, its classes and flags from labels and
//! annotations, its subjects' domesticity from the annotation or the tenant in the registry; the
//! regions it is placed in are [`claim_regions`](super::claim_regions).

use kube_core::DynamicObject;
use serde_json::Value;

use yungui::bindings::types;
use yungui::registry::Registry;
use yungui::vocabulary;

use super::{
    BACKUP, Context, DATA_CLASS, ENCRYPTED, SUBJECTS_DOMESTIC, annotation, label, request,
};

/// cannot hold a comma, so several classes go in the annotation.
fn data_classes(object: &DynamicObject) -> Option<Vec<String>> {
    let label = label(object.metadata.labels.as_ref(), DATA_CLASS);
    let annotation = annotation(object, DATA_CLASS);
    if label.is_none() && annotation.is_none() {
        return None;
    }
    let mut classes: Vec<String> = Vec::new();
    for class in [label, annotation]
        .into_iter()
        .flatten()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        if !classes.iter().any(|c| c == class) {
            classes.push(class.to_owned());
        }
    }
    Some(classes)
}

/// The tenant's `serves_domestic_users` in the registry, if it is there.
pub fn serves_domestic_users(registry: &Registry, tenant: &str) -> Option<bool> {
    let text = registry.get(vocabulary::TENANT, tenant)?;
    let entity: Value = serde_json::from_str(text).ok()?;
    entity.pointer("/attrs/serves_domestic_users")?.as_bool()
}

/// A PersistentVolumeClaim: `place_data` on a `Dataset` in `region` (see [`claim_regions`]).
pub(super) fn dataset(
    id: &str,
    object: &DynamicObject,
    region: &str,
    cx: &Context<'_>,
) -> types::Request {
    let flag = |key: &str| annotation(object, key) == Some("true");
    let subjects_domestic = match annotation(object, SUBJECTS_DOMESTIC) {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => cx
            .registry
            .and_then(|r| serves_domestic_users(r, cx.tenant)),
    };
    let dataset = vocabulary::Dataset {
        region,
        owner: cx.tenant,
        classes: data_classes(object),
        subjects_domestic,
        encrypted: flag(ENCRYPTED),
        backup_enabled: flag(BACKUP),
        public: false,
        review_hold: None,
        retention_hold: None,
    };
    request(cx, "place_data", dataset.entity(id))
}

//! What an UPDATE changes against the object the API server holds (`oldObject`), and so what it
//! is decided as.
//!
//! | change | decided as |
//! |---|---|
//! | only metadata no control reads (finalizers, owner references, other labels and annotations), of an object being deleted | nothing: deletion must finish |
//! | the same, of a workload not being deleted; or a workload's replicas or Job parallelism lowered, or a Job or CronJob suspended, with the pod spec and every fact the policies read unchanged | [`SCALE_DOWN_WORKLOAD`], in the policies' `wind_down` group |
//! | anything else (a changed pod spec, more replicas, a fact the policies read changed, any change to a Service, Ingress or claim) | what a CREATE of the new object is decided as |
//!
//! A wind-down change keeps pods the policies already decided, or fewer: it gives the tenant
//! nothing new, so art. 2, 8(5) and the other controls on new service let it through (a tenant
//! whose service ended can still scale to zero), while art. 12 still refuses it for a privileged
//! workload (delete it instead: DELETE is never refused).

use kube_core::DynamicObject;
use serde_json::Value;

use super::mapping::{Item, Kind};

/// The action of a workload UPDATE that adds nothing: in the `wind_down` group.
pub const SCALE_DOWN_WORKLOAD: &str = "scale_down_workload";

/// What an UPDATE changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Everything but the metadata is equal to `oldObject`, and the facts the policies read too.
    Metadata,
    /// A workload with fewer pods or the same: see [`wind_down`].
    WindDown,
    /// Anything else: decided as new.
    New,
}

/// A workload's fields that may only go one way in a wind-down: the number of pods down, and
/// `suspend` from `false` to `true`. Each with the value the API server defaults it to.
const SCALE: [(&str, Scale); 3] = [
    ("/spec/replicas", Scale::Down(1)),
    ("/spec/parallelism", Scale::Down(1)),
    ("/spec/suspend", Scale::Suspend),
];

#[derive(Debug, Clone, Copy)]
enum Scale {
    /// A count that may stay or go down; the default when absent.
    Down(u64),
    /// A flag that may stay or turn `true`; `false` when absent.
    Suspend,
}

/// What an UPDATE of `kind` from `old` to `new` changes; `before` and `after` are the requests
/// each maps to (the facts the policies read), compared whole.
pub fn change(
    kind: Kind,
    old: &DynamicObject,
    new: &DynamicObject,
    before: &[Item],
    after: &[Item],
) -> Change {
    if !same_requests(before, after) {
        return Change::New;
    }
    if old.data == new.data {
        return Change::Metadata;
    }
    if matches!(kind, Kind::Pod | Kind::Template(_)) && wind_down(&old.data, &new.data) {
        return Change::WindDown;
    }
    Change::New
}

/// The requests are the same, attribute for attribute.
fn same_requests(before: &[Item], after: &[Item]) -> bool {
    before == after
}

/// Everything but the [`SCALE`] fields is equal, and each of them stays or goes its one way. A
/// value of the wrong type is not a wind-down.
fn wind_down(old: &Value, new: &Value) -> bool {
    let mut old_rest = old.clone();
    let mut new_rest = new.clone();
    for (pointer, scale) in SCALE {
        let before = take(&mut old_rest, pointer);
        let after = take(&mut new_rest, pointer);
        let fine = match scale {
            Scale::Down(default) => {
                let count = |v: Option<Value>| match v {
                    None => Some(default),
                    Some(v) => v.as_u64(),
                };
                matches!((count(before), count(after)), (Some(b), Some(a)) if a <= b)
            }
            Scale::Suspend => {
                let flag = |v: Option<Value>| match v {
                    None => Some(false),
                    Some(v) => v.as_bool(),
                };
                matches!((flag(before), flag(after)), (Some(b), Some(a)) if a >= b)
            }
        };
        if !fine {
            return false;
        }
    }
    old_rest == new_rest
}

/// Removes the value at `pointer` (of the form `/spec/name`), if any.
fn take(value: &mut Value, pointer: &str) -> Option<Value> {
    let (parent, key) = pointer.rsplit_once('/')?;
    value.pointer_mut(parent)?.as_object_mut()?.remove(key)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scale_fields_go_one_way_only() {
        let rs = |replicas: Value, image: &str| json!({"spec": {"replicas": replicas, "template": {"spec": {"containers": [{"image": image}]}}}});
        assert!(wind_down(&rs(json!(3), "a"), &rs(json!(0), "a")));
        assert!(wind_down(&rs(json!(3), "a"), &rs(json!(3), "a")));
        assert!(!wind_down(&rs(json!(3), "a"), &rs(json!(4), "a")));
        assert!(!wind_down(&rs(json!(3), "a"), &rs(json!(1), "b")));
        assert!(!wind_down(&rs(json!(3), "a"), &rs(json!("1"), "a")));
        assert!(!wind_down(&rs(json!(3), "a"), &rs(json!(-1), "a")));
        // Absent is the default: one.
        let none = json!({"spec": {"template": {}}});
        assert!(wind_down(
            &none,
            &json!({"spec": {"replicas": 0, "template": {}}})
        ));
        assert!(!wind_down(
            &none,
            &json!({"spec": {"replicas": 2, "template": {}}})
        ));
        let job = |parallelism: u64, suspend: bool| json!({"spec": {"parallelism": parallelism, "suspend": suspend, "template": {}}});
        assert!(wind_down(&job(4, false), &job(2, true)));
        assert!(!wind_down(&job(2, true), &job(2, false)));
        assert!(!wind_down(&job(2, false), &job(3, false)));
        // A field beside the scale fields changed.
        assert!(!wind_down(
            &json!({"spec": {"replicas": 2, "paused": false}}),
            &json!({"spec": {"replicas": 1, "paused": true}})
        ));
    }
}

//! Who may place a pod on a node: a `Binding` (`pods/binding`, or the older `bindings` resource)
//! names the node a pod runs on, after its CREATE was decided with the node constraints it had.
//! The scheduler honours those constraints; anyone else binding a pod could put it on a node
//! abroad. In a cluster whose nodes span regions (a zone or node map, see
//! [`Topology`](super::mapping::Topology)), a binding is allowed only to the binders the operator
//! names (`--binder-user`, default `system:kube-scheduler`); in a one-region cluster every node is
//! in the cluster's region, so a binding moves nothing across a border and is not decided.

use kube_core::DynamicObject;
use kube_core::admission::{AdmissionRequest, Operation};

use super::mapping::Topology;

/// The control id of a refused binding, in the decision log and the answer.
pub const GUARD: &str = "pod-binding-guard";

/// The default scheduler's user.
pub const DEFAULT_BINDER: &str = "system:kube-scheduler";

/// Why a binding is refused (English, Chinese); `None` when it is allowed.
pub fn decide(
    topology: &Topology,
    binders: &[String],
    request: &AdmissionRequest<DynamicObject>,
) -> Option<(String, String)> {
    if request.operation != Operation::Create
        || (topology.nodes.is_empty() && topology.zones.is_empty())
    {
        return None;
    }
    let user = request.user_info.username.as_deref().unwrap_or_default();
    if binders.iter().any(|b| b == user) {
        return None;
    }
    let node = request
        .object
        .as_ref()
        .and_then(|o| o.data.pointer("/target/name"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let place = topology.nodes.get(node).map_or_else(
        || "in no region of the operator's node map".to_owned(),
        |region| format!("in region `{region}`"),
    );
    let who = if binders.is_empty() {
        "no one (`--binder-user` is empty)".to_owned()
    } else {
        format!("`{}`", binders.join("`, `"))
    };
    Some((
        format!(
            "`{user}` binds pod `{}` to node `{node}` ({place}): in a cluster whose nodes span regions only the schedulers may place pods ({who}, `--binder-user`), as a binding passes over the node constraints decided when the pod was created",
            request.name
        ),
        format!(
            "在跨地域集群中，仅调度器（{who}）可将 Pod 绑定到节点；`{user}` 将 Pod `{}` 绑定到节点 `{node}`，绕过了创建时已判定的节点约束。",
            request.name
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn review(user: &str, node: &str) -> AdmissionRequest<DynamicObject> {
        let review: kube_core::admission::AdmissionReview<DynamicObject> =
            serde_json::from_value(json!({
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {
                    "uid": "b1",
                    "kind": {"group": "", "version": "v1", "kind": "Binding"},
                    "resource": {"group": "", "version": "v1", "resource": "pods"},
                    "subResource": "binding",
                    "name": "web-1",
                    "namespace": "shop-example",
                    "operation": "CREATE",
                    "userInfo": {"username": user, "groups": ["system:authenticated"]},
                    "object": {
                        "apiVersion": "v1", "kind": "Binding",
                        "metadata": {"name": "web-1", "namespace": "shop-example"},
                        "target": {"apiVersion": "v1", "kind": "Node", "name": node}
                    },
                    "dryRun": false
                }
            }))
            .unwrap();
        review.try_into().unwrap()
    }

    fn spanning() -> Topology {
        Topology {
            nodes: [("eu-node-1".to_owned(), "eu-west-1".to_owned())].into(),
            ..Topology::default()
        }
    }

    #[test]
    fn only_binders_place_pods_in_a_cluster_spanning_regions() {
        let binders = vec![DEFAULT_BINDER.to_owned()];
        let (reason, zh) = decide(&spanning(), &binders, &review("alice", "eu-node-1")).unwrap();
        assert!(
            reason.contains("`alice` binds pod `web-1` to node `eu-node-1`"),
            "{reason}"
        );
        assert!(reason.contains("region `eu-west-1`"), "{reason}");
        assert!(zh.contains("eu-node-1"), "{zh}");
        let (reason, _) = decide(&spanning(), &binders, &review("alice", "node-9")).unwrap();
        assert!(
            reason.contains("in no region of the operator's node map"),
            "{reason}"
        );
        assert_eq!(
            decide(&spanning(), &binders, &review(DEFAULT_BINDER, "eu-node-1")),
            None
        );
        // Nobody named: nobody binds.
        assert!(decide(&spanning(), &[], &review(DEFAULT_BINDER, "eu-node-1")).is_some());
    }

    #[test]
    fn a_one_region_cluster_does_not_decide_bindings() {
        assert_eq!(
            decide(&Topology::default(), &[], &review("alice", "eu-node-1")),
            None
        );
    }
}

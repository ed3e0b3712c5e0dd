//! What an UPDATE is decided as, against the `oldObject` the API server sends: objects being
//! deleted, wind-down (scale-down in every tenant state) and widening changes.

use serde_json::{Value, json};

use super::{assert_allowed, assert_denied, fixture, message, shared};

/// The review of `name` with object and `oldObject` moved to `namespace`.
fn moved(name: &str, namespace: &str) -> Value {
    let mut review = fixture(name);
    review["request"]["namespace"] = json!(namespace);
    for object in ["object", "oldObject"] {
        if review["request"][object].is_object() {
            review["request"][object]["metadata"]["namespace"] = json!(namespace);
        }
    }
    review
}

/// An UPDATE from the object of fixture `old` to that of fixture `new`, both being deleted (a
/// finalizer holds them).
fn deleting_update(old: &str, new: &str) -> Value {
    let deleting = json!({
        "finalizers": ["shop.example.cn/hold"],
        "deletionTimestamp": "2026-11-30T08:00:00Z",
        "deletionGracePeriodSeconds": 0
    });
    let mut review = fixture(new);
    review["request"]["operation"] = json!("UPDATE");
    review["request"]["oldObject"] = fixture(old)["request"]["object"].clone();
    for object in ["object", "oldObject"] {
        for (key, value) in deleting.as_object().unwrap() {
            review["request"][object]["metadata"][key] = value.clone();
        }
    }
    review
}

fn allowed_unseen(response: &Value) {
    assert_allowed(response);
    assert!(response.get("auditAnnotations").is_none(), "{response}");
}

/// Tenants in each state of the example registry, the control that refuses them anything new
/// (none for the verified one), and a purpose they agreed to.
const TENANTS: [(&str, Option<&str>, &str); 6] = [
    ("shop-example", None, "website"),
    ("unverified-example", Some("art8-1-real-name"), "website"),
    ("paused-example", Some("art8-5-unfit-user"), "website"),
    ("closed-example", Some("art8-5-unfit-user"), "erp"),
    ("lapsed-tenant", Some("art2-licence"), "website"),
    (
        "shadowsold-example",
        Some("art4-0-cooperation-unreported"),
        "erp",
    ),
];

/// The kubectl-rendered ReplicaSet scale-down, in `tenant`'s namespace, its pods of `purpose`.
fn scale_down(tenant: &str, purpose: &str) -> Value {
    let mut review = moved("replicaset-scale-to-zero", tenant);
    for object in ["object", "oldObject"] {
        review["request"][object]["spec"]["template"]["metadata"]["labels"]["yungui.io/purpose"] =
            json!(purpose);
    }
    review
}

#[test]
fn an_object_being_deleted_may_drop_its_finalizers_whatever_it_is() {
    let server = shared();
    // Unverified, abroad, no purpose, privileged with a hostPath: its finalizer still goes.
    allowed_unseen(&server.review(&fixture("deployment-deleting-finalizer-removed")));
    // Even in a namespace of no tenant, and with other metadata no control reads changing.
    let mut review = moved("deployment-deleting-finalizer-removed", "ghost-namespace");
    review["request"]["object"]["metadata"]["labels"]["team"] = json!("web");
    review["request"]["object"]["metadata"]["ownerReferences"] = json!([]);
    allowed_unseen(&server.review(&review));
    // The same removal on a privileged pod and on a LoadBalancer of an unlicensed carrier.
    for name in [
        "pod-privileged",
        "service-lb-unlicensed-carrier",
        "pvc-deny",
    ] {
        let mut review = deleting_update(name, name);
        review["request"]["object"]["metadata"]["finalizers"] = json!([]);
        allowed_unseen(&server.review(&review));
    }
}

#[test]
fn an_object_being_deleted_is_decided_when_anything_else_changes() {
    let server = shared();
    // Held by the tenant's own finalizer, the Deployment is made privileged.
    let response = server.review(&fixture("deployment-deleting-made-privileged"));
    assert_denied(&response, &["art12-host-security"]);
    assert!(
        message(&response).contains("(provision_workload)"),
        "{response}"
    );
    // Held open the same way: a ClusterIP turned NodePort on an unlicensed carrier, an Ingress
    // given unfiled hosts, a pod given a purpose outside the agreement (a label the policies read).
    assert_denied(
        &server.review(&deleting_update(
            "service-clusterip",
            "service-nodeport-unlicensed-carrier",
        )),
        &["art6-licensed-carrier"],
    );
    assert_denied(
        &server.review(&deleting_update("ingress-allow", "ingress-unfiled-hosts")),
        &["art8-1-icp-filing"],
    );
    let mut review = deleting_update("pod-allow", "pod-allow");
    review["request"]["object"]["metadata"]["labels"]["yungui.io/purpose"] = json!("gaming");
    assert_denied(&server.review(&review), &["art8-2-agreed-purpose"]);
    // A privileged pod made out of a compliant one while being deleted.
    assert_denied(
        &server.review(&deleting_update("pod-allow", "pod-privileged")),
        &["art12-host-security"],
    );
    // A deletion timestamp on a CREATE (the API server clears it) skips nothing.
    let mut create = fixture("pod-privileged");
    create["request"]["object"]["metadata"]["deletionTimestamp"] = json!("2026-11-30T08:00:00Z");
    assert_denied(&server.review(&create), &["art12-host-security"]);
}

#[test]
fn wind_down_stays_possible_in_every_tenant_state() {
    let server = shared();
    for (tenant, _, purpose) in TENANTS {
        // The Deployment controller scales an old ReplicaSet to zero.
        let response = server.review(&scale_down(tenant, purpose));
        assert_allowed(&response);
        // The same template, relabelled, without a scale change.
        let mut relabel = scale_down(tenant, purpose);
        relabel["request"]["object"]["spec"]["replicas"] = json!(2);
        relabel["request"]["object"]["metadata"]["labels"]["release"] = json!("old");
        assert_allowed(&server.review(&relabel));
        // A Deployment scaled down from three to one.
        let mut deployment = moved("deployment-allow", tenant);
        let template = &mut deployment["request"]["object"]["spec"]["template"];
        template["metadata"]["labels"]["yungui.io/purpose"] = json!(purpose);
        deployment["request"]["operation"] = json!("UPDATE");
        deployment["request"]["oldObject"] = deployment["request"]["object"].clone();
        deployment["request"]["object"]["spec"]["replicas"] = json!(1);
        assert_allowed(&server.review(&deployment));
        // A Job suspended and a CronJob suspended.
        for name in ["job-allow", "cronjob-no-purpose"] {
            let mut review = moved(name, tenant);
            review["request"]["operation"] = json!("UPDATE");
            review["request"]["oldObject"] = review["request"]["object"].clone();
            review["request"]["object"]["spec"]["suspend"] = json!(true);
            assert_allowed(&server.review(&review));
        }
    }
}

#[test]
fn scaling_up_is_provisioning_for_a_tenant_refused_it() {
    let server = shared();
    for (tenant, control, purpose) in TENANTS {
        let mut review = scale_down(tenant, purpose);
        review["request"]["object"]["spec"]["replicas"] = json!(3);
        let response = server.review(&review);
        match control {
            None => assert_allowed(&response),
            Some(control) => {
                assert_denied(&response, &[control]);
                assert!(
                    message(&response).contains("(provision_workload)"),
                    "{response}"
                );
            }
        }
        // A Job's suspension lifted: its pods start again.
        let mut job = moved("job-allow", tenant);
        job["request"]["object"]["spec"]["template"]["metadata"]["labels"]["yungui.io/purpose"] =
            json!(purpose);
        job["request"]["operation"] = json!("UPDATE");
        job["request"]["oldObject"] = job["request"]["object"].clone();
        job["request"]["oldObject"]["spec"]["suspend"] = json!(true);
        job["request"]["object"]["spec"]["suspend"] = json!(false);
        let response = server.review(&job);
        match control {
            None => assert_allowed(&response),
            Some(control) => assert_denied(&response, &[control]),
        }
    }
}

#[test]
fn a_widening_update_is_decided_as_new_whatever_else_goes_down() {
    let server = shared();
    // Replicas down, but the template made privileged, or moved abroad.
    let mut privileged = fixture("replicaset-scale-to-zero");
    privileged["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["securityContext"] =
        json!({"privileged": true});
    let response = server.review(&privileged);
    assert_denied(&response, &["art12-host-security"]);
    assert!(
        message(&response).contains("(provision_workload)"),
        "{response}"
    );
    let mut abroad = fixture("replicaset-scale-to-zero");
    abroad["request"]["object"]["spec"]["template"]["spec"]["nodeSelector"] =
        json!({"topology.kubernetes.io/region": "eu-west-1"});
    assert_denied(&server.review(&abroad), &["art7-in-territory"]);
    // Another field of the spec beside the replicas: decided as new (a terminated tenant's).
    let mut other = scale_down("closed-example", "erp");
    other["request"]["object"]["spec"]["minReadySeconds"] = json!(5);
    assert_denied(&server.review(&other), &["art8-5-unfit-user"]);
    // A privileged ReplicaSet (admitted before yungui) is not kept, even scaled down: it is deleted.
    let mut kept = fixture("replicaset-scale-to-zero");
    for object in ["object", "oldObject"] {
        kept["request"][object]["spec"]["template"]["spec"]["hostNetwork"] = json!(true);
    }
    let response = server.review(&kept);
    assert_denied(&response, &["art12-host-security"]);
    assert!(
        message(&response).contains("(scale_down_workload)"),
        "{response}"
    );
    // An ephemeral container added to a running pod changes its spec.
    let mut ephemeral = fixture("pod-allow");
    ephemeral["request"]["operation"] = json!("UPDATE");
    ephemeral["request"]["subResource"] = json!("ephemeralcontainers");
    ephemeral["request"]["oldObject"] = ephemeral["request"]["object"].clone();
    ephemeral["request"]["object"]["spec"]["ephemeralContainers"] =
        json!([{"name": "debug", "image": "busybox", "securityContext": {"privileged": true}}]);
    assert_denied(&server.review(&ephemeral), &["art12-host-security"]);
    // Without an `oldObject` nothing is known to be kept: decided as new.
    let mut blind = scale_down("paused-example", "website");
    blind["request"]["oldObject"] = Value::Null;
    assert_denied(&server.review(&blind), &["art8-5-unfit-user"]);
    // A Service has no wind-down act: relabelling a terminated tenant's LoadBalancer is decided.
    let mut service = moved("service-lb-allow", "closed-example");
    service["request"]["operation"] = json!("UPDATE");
    service["request"]["oldObject"] = service["request"]["object"].clone();
    service["request"]["object"]["metadata"]["labels"] = json!({"release": "old"});
    assert_denied(&server.review(&service), &["art8-5-unfit-user"]);
}

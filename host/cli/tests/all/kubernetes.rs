//! Kubernetes admission over HTTPS: AdmissionReview v1 fixtures rendered by kubectl
//! (`tests/kubernetes/`), sent over real TLS on loopback to a server started in-process, and
//! once to the `yungui serve` binary for the decision log.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::{Duration, Instant};

use clap::Parser as _;
use serde_json::{Value, json};
use yungui_cli::commands::cert;
use yungui_cli::commands::serve::ServeArgs;

mod lifecycle;

/// A server listening on loopback with a certificate from a fresh CA.
struct Server {
    url: String,
    agent: ureq::Agent,
    _certs: tempfile::TempDir,
}

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    args: ServeArgs,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/kubernetes")
}

fn fixture(name: &str) -> Value {
    let path = fixtures().join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn registry_path() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/registry.json")
        .display()
        .to_string()
}

/// Makes a CA and a certificate for `localhost` and `127.0.0.1` in a temporary folder.
fn certs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bundle = cert::generate(&["localhost".to_owned(), "127.0.0.1".to_owned()], 1).unwrap();
    cert::write_bundle(dir.path(), &bundle, false).unwrap();
    dir
}

/// A client that trusts only the CA in `dir` and reports HTTP errors as responses.
fn agent(dir: &Path) -> ureq::Agent {
    let ca = std::fs::read(dir.join("ca.crt")).unwrap();
    let ca = ureq::tls::Certificate::from_pem(&ca).unwrap();
    ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![ca])))
                .build(),
        )
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent()
}

/// Starts a server on its own runtime (kept for the life of the test binary) and waits until
/// it is ready.
fn serve(extra: &[&str]) -> Server {
    let certs = certs();
    let dir = certs.path();
    let mut argv: Vec<String> = [
        "yungui",
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--cluster-region",
        "cn-north-1",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if !extra.contains(&"--registry") {
        argv.extend(["--registry".to_owned(), registry_path()]);
    }
    argv.extend([
        "--tls-cert".to_owned(),
        dir.join("tls.crt").display().to_string(),
    ]);
    argv.extend([
        "--tls-key".to_owned(),
        dir.join("tls.key").display().to_string(),
    ]);
    if !extra.contains(&"--plugin") {
        argv.extend(["--plugin".to_owned(), crate::shipped_plugin().to_owned()]);
    }
    argv.extend(extra.iter().map(|s| (*s).to_owned()));
    let args = Cli::try_parse_from(argv).unwrap().args;

    let addr = super::serve_in_background(args);
    let server = Server {
        url: format!("https://localhost:{}", addr.port()),
        agent: agent(dir),
        _certs: certs,
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, _) = server.get("/readyz");
        if status == 200 {
            return server;
        }
        assert!(Instant::now() < deadline, "the server never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Server {
    fn get(&self, path: &str) -> (u16, String) {
        let (status, _, body) = self.get_accepting(path, "*/*");
        (status, body)
    }

    /// GET with an `Accept` header: the status, the content type and the body.
    fn get_accepting(&self, path: &str, accept: &str) -> (u16, String, String) {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.url))
            .header("accept", accept)
            .call()
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (
            status,
            content_type,
            response.body_mut().read_to_string().unwrap(),
        )
    }

    fn post(&self, body: &[u8]) -> (u16, Value) {
        self.post_to("/validate", body)
    }

    fn post_to(&self, path: &str, body: &[u8]) -> (u16, Value) {
        let mut response = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .send(body)
            .unwrap();
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// Sends a review; expects HTTP 200 and returns the `response`.
    fn review(&self, review: &Value) -> Value {
        self.review_at("/validate", review)
    }

    /// Sends a review to the webhook path of a mode; expects HTTP 200 and returns the `response`.
    fn review_at(&self, path: &str, review: &Value) -> Value {
        let (status, body) = self.post_to(path, review.to_string().as_bytes());
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["apiVersion"], "admission.k8s.io/v1", "{body}");
        assert_eq!(body["kind"], "AdmissionReview", "{body}");
        let response = body["response"].clone();
        assert_eq!(response["uid"], review["request"]["uid"], "uid echoed");
        response
    }
}

fn shared() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| serve(&[]))
}

fn message(response: &Value) -> &str {
    response["status"]["message"].as_str().unwrap_or_default()
}

/// Asserts a denial naming each control with its article and both reasons.
fn assert_denied(response: &Value, controls: &[&str]) {
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 403, "{response}");
    assert_eq!(response["status"]["reason"], "Forbidden", "{response}");
    let text = message(response);
    let annotated = response["auditAnnotations"]["controls"].as_str().unwrap();
    for control in controls {
        assert!(text.contains(control), "{control} missing from {text}");
        assert!(annotated.split(',').any(|c| c == *control), "{annotated}");
    }
    for line in text.lines().skip(1).filter(|l| l.starts_with("- ")) {
        // Every control line: id (art. N): English / Chinese.
        assert!(line.contains(" / "), "{line}");
        assert!(
            line.contains("registry-missing") || line.contains("(art. "),
            "{line}"
        );
        assert!(
            line.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{line}"
        );
    }
}

fn assert_allowed(response: &Value) {
    assert_eq!(response["allowed"], true, "{response}");
    assert!(response.get("warnings").is_none(), "{response}");
}

#[test]
fn every_mapped_kind_allows_and_denies() {
    let server = shared();
    for allowed in [
        "pod-allow",
        "deployment-allow",
        "statefulset-allow",
        "replicaset-allow",
        "job-allow",
        "service-lb-allow",
        "ingress-allow",
        "pvc-allow",
    ] {
        let response = server.review(&fixture(allowed));
        assert_eq!(response["allowed"], true, "{allowed}: {response}");
        assert_allowed(&response);
    }
    for (denied, controls) in [
        ("pod-privileged", &["art12-host-security"][..]),
        ("daemonset-host-network", &["art12-host-security"]),
        ("cronjob-no-purpose", &["art8-2-agreed-purpose"]),
        ("service-lb-unlicensed-carrier", &["art6-licensed-carrier"]),
        ("ingress-unfiled-hosts", &["art8-1-icp-filing"]),
        (
            "pvc-deny",
            &[
                "art9-2-protection",
                "art7-in-territory",
                "art9-4-data-localisation",
                "art10-3-backup",
            ],
        ),
    ] {
        let response = server.review(&fixture(denied));
        assert_denied(&response, controls);
    }
    assert!(message(&server.review(&fixture("cronjob-no-purpose"))).contains("yungui.io/purpose"));
}

#[test]
fn multiple_violations_are_all_listed() {
    let response = shared().review(&fixture("deployment-deny-multiple"));
    assert_denied(
        &response,
        &[
            "art8-1-real-name",
            "art8-2-agreed-purpose",
            "art7-in-territory",
            "art12-host-security",
        ],
    );
    let text = message(&response);
    assert!(text.contains("4 controls fired"), "{text}");
    assert!(
        text.contains("Deployment `unverified-example/agent`"),
        "{text}"
    );
    // Privileged and host access: two findings of one control, both explained.
    assert!(
        text.contains("privileged") && text.contains("host"),
        "{text}"
    );
}

#[test]
fn ingress_names_each_denied_host() {
    let response = shared().review(&fixture("ingress-unfiled-hosts"));
    let text = message(&response);
    assert!(text.contains("host `promo.unfiled.example.com`"), "{text}");
    assert!(text.contains("host `cdn.unfiled.example.net`"), "{text}");
    // The filed host is allowed (a subdomain of the filed shop.example.cn).
    assert!(!text.contains("host `www.shop.example.cn`"), "{text}");
}

#[test]
fn unmapped_kinds_and_other_service_types_are_allowed_without_policies() {
    let server = shared();
    for name in ["configmap-unmapped", "service-clusterip"] {
        let response = server.review(&fixture(name));
        assert_allowed(&response);
        assert!(response.get("auditAnnotations").is_none(), "{response}");
    }
}

#[test]
fn unknown_namespace_is_denied_as_missing_from_the_registry() {
    let response = shared().review(&fixture("deployment-unknown-namespace"));
    assert_denied(&response, &["registry-missing"]);
    let text = message(&response);
    assert!(
        text.contains("namespace `ghost-namespace` is not a tenant in the yungui registry"),
        "{text}"
    );
}

#[test]
fn dry_run_is_decided_the_same_way() {
    let server = shared();
    for (name, allowed) in [
        ("deployment-deny-multiple", false),
        ("deployment-allow", true),
    ] {
        let mut review = fixture(name);
        review["request"]["dryRun"] = json!(true);
        let dry = server.review(&review);
        let real = server.review(&fixture(name));
        assert_eq!(dry["allowed"], allowed, "{dry}");
        assert_eq!(dry["status"], real["status"]);
    }
}

#[test]
fn delete_and_connect_never_crash() {
    let server = shared();
    for name in ["pod-privileged", "deployment-deny-multiple", "pvc-deny"] {
        let mut review = fixture(name);
        let object = review["request"]["object"].take();
        review["request"]["operation"] = json!("DELETE");
        review["request"]["oldObject"] = object;
        review["request"]["object"] = Value::Null;
        review["request"]["options"] =
            json!({"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"});
        assert_allowed(&server.review(&review));
    }
    // `kubectl exec`: CONNECT on pods/exec with PodExecOptions.
    let mut review = fixture("pod-privileged");
    review["request"]["operation"] = json!("CONNECT");
    review["request"]["subResource"] = json!("exec");
    review["request"]["object"] =
        json!({"kind": "PodExecOptions", "apiVersion": "v1", "command": ["sh"]});
    assert_allowed(&server.review(&review));
    review["request"]["object"] = Value::Null;
    assert_allowed(&server.review(&review));
}

#[test]
fn update_decides_on_the_new_object_being_deleted_or_not() {
    let server = shared();
    let mut review = fixture("pod-privileged");
    review["request"]["operation"] = json!("UPDATE");
    review["request"]["oldObject"] = fixture("pod-allow")["request"]["object"].clone();
    assert_denied(&server.review(&review), &["art12-host-security"]);
    // Being deleted changes nothing: only metadata may change unseen (see `lifecycle`).
    review["request"]["object"]["metadata"]["deletionTimestamp"] = json!("2026-11-30T08:00:00Z");
    assert_denied(&server.review(&review), &["art12-host-security"]);
    // A status update changes nothing the policies read.
    let mut status = fixture("pod-privileged");
    status["request"]["operation"] = json!("UPDATE");
    status["request"]["subResource"] = json!("status");
    assert_allowed(&server.review(&status));
}

#[test]
fn malformed_reviews_get_400_with_the_reason() {
    let server = shared();
    let mut no_object = fixture("pod-allow");
    no_object["request"]["object"] = Value::Null;
    let mut v1beta1 = fixture("pod-allow");
    v1beta1["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let mut no_uid = fixture("pod-allow");
    no_uid["request"]["uid"] = json!("");
    let mut bad_operation = fixture("pod-allow");
    bad_operation["request"]["operation"] = json!("EXPLODE");
    for (body, reason) in [
        (b"{not json".to_vec(), "not an AdmissionReview"),
        (b"[]".to_vec(), "not an AdmissionReview"),
        (
            br#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}"#.to_vec(),
            "no `request`",
        ),
        (no_object.to_string().into_bytes(), "no `request.object`"),
        (v1beta1.to_string().into_bytes(), "admissionReviewVersions"),
        (no_uid.to_string().into_bytes(), "`request.uid` is empty"),
        (bad_operation.to_string().into_bytes(), "EXPLODE"),
    ] {
        let (status, body) = server.post(&body);
        assert_eq!(status, 400, "{reason}: {body}");
        let response = &body["response"];
        assert_eq!(response["allowed"], false, "{body}");
        assert_eq!(response["status"]["code"], 400, "{body}");
        let text = message(response);
        assert!(text.contains(reason), "{reason} not in {text}");
        assert!(text.contains("refused"), "{text}");
    }
}

#[test]
fn oversized_body_is_refused_with_413() {
    let mut review = fixture("pod-allow");
    review["request"]["object"]["metadata"]["annotations"] =
        json!({"padding": "x".repeat(5 << 20)});
    let (status, _) = shared().post(review.to_string().as_bytes());
    assert_eq!(status, 413);
}

#[test]
fn audit_mode_allows_with_short_warnings() {
    let server = serve(&["--audit"]);
    let response = server.review(&fixture("deployment-deny-multiple"));
    assert_eq!(response["allowed"], true, "{response}");
    let warnings: Vec<&str> = response["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    for control in [
        "art8-1-real-name",
        "art8-2-agreed-purpose",
        "art7-in-territory",
        "art12-host-security",
    ] {
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with(&format!("audit: {control} (art. "))),
            "{control} missing from {warnings:#?}"
        );
        assert!(
            response["auditAnnotations"]["warnings"]
                .as_str()
                .unwrap()
                .contains(control)
        );
    }
    for warning in &warnings {
        assert!(warning.chars().count() <= 120, "{warning}");
    }
    assert!(
        warnings.iter().any(|w| w.contains('…')),
        "a long reason is cut: {warnings:#?}"
    );
    assert!(response["auditAnnotations"].get("controls").is_none());
}

#[test]
fn a_data_class_outside_the_vocabulary_is_refused_naming_it() {
    let mut review = fixture("pvc-allow");
    let object = &mut review["request"]["object"]["metadata"];
    object["labels"]["yungui.io/data-class"] = json!("personal-info");
    if let Some(annotations) = object.get_mut("annotations").and_then(Value::as_object_mut) {
        annotations.remove("yungui.io/data-class");
    }
    let response = shared().review(&review);
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 400, "{response}");
    let text = message(&response);
    assert!(text.contains("`personal-info`"), "{text}");
    assert!(text.contains("`personal_info`"), "{text}");
    assert!(!text.contains("fault"), "{text}");
    assert_eq!(response["auditAnnotations"]["bad_request"], "bad_request");
}

#[test]
fn plugin_fault_fails_closed_and_says_so() {
    let server = serve(&[
        "--plugin",
        yungui_test_artifacts::RUNAWAY,
        "--deadline-ms",
        "50",
    ]);
    let response = server.review(&fixture("deployment-allow"));
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 500, "{response}");
    let text = message(&response);
    assert!(text.contains("not a policy denial"), "{text}");
    assert!(text.contains("fault"), "{text}");
    assert!(text.contains("50ms"), "{text}");
    assert_eq!(response["auditAnnotations"]["fault"], "timeout");
    // Warn and audit modes fail closed too.
    for path in ["/validate/warn", "/validate/audit"] {
        let response = server.review_at(path, &fixture("deployment-allow"));
        assert_eq!(response["allowed"], false, "{path}: {response}");
        assert_eq!(response["status"]["code"], 500, "{path}: {response}");
    }
    // Unmapped kinds still go through: no policy runs for them.
    assert_allowed(&server.review(&fixture("configmap-unmapped")));
}

#[test]
fn review_deadline_overrun_fails_closed() {
    // The runaway component burns its 400 ms; the review's own deadline is 100 ms.
    let server = serve(&[
        "--plugin",
        yungui_test_artifacts::RUNAWAY,
        "--deadline-ms",
        "400",
        "--review-deadline-ms",
        "100",
    ]);
    let started = Instant::now();
    let response = server.review(&fixture("pod-allow"));
    assert!(
        started.elapsed() < Duration::from_millis(390),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(response["allowed"], false, "{response}");
    let text = message(&response);
    assert!(text.contains("review deadline of 100 ms"), "{text}");
    assert!(text.contains("not a policy denial"), "{text}");
}

/// The review of `name`, moved to namespace `namespace`.
fn in_namespace(name: &str, namespace: &str) -> Value {
    let mut review = fixture(name);
    review["request"]["namespace"] = json!(namespace);
    review["request"]["object"]["metadata"]["namespace"] = json!(namespace);
    review
}

#[test]
fn enforce_path_is_the_default_path() {
    let server = shared();
    for name in ["deployment-deny-multiple", "deployment-allow"] {
        let default = server.review(&fixture(name));
        let enforce = server.review_at("/validate/enforce", &fixture(name));
        assert_eq!(default["allowed"], enforce["allowed"], "{enforce}");
        assert_eq!(default["status"], enforce["status"], "{enforce}");
    }
}

#[test]
fn warn_mode_allows_and_shows_the_denials_as_warnings() {
    let response = shared().review_at("/validate/warn", &fixture("deployment-deny-multiple"));
    assert_eq!(response["allowed"], true, "{response}");
    let warnings = response["warnings"].as_array().unwrap();
    for control in ["art8-1-real-name", "art12-host-security"] {
        assert!(
            warnings.iter().any(|w| w
                .as_str()
                .unwrap()
                .starts_with(&format!("audit: {control} "))),
            "{control} missing from {warnings:#?}"
        );
        assert!(
            response["auditAnnotations"]["would-deny"]
                .as_str()
                .unwrap()
                .split(',')
                .any(|c| c == control),
            "{response}"
        );
    }
    assert_eq!(response["auditAnnotations"]["mode"], "warn");
    assert!(response["auditAnnotations"].get("controls").is_none());
    assert_allowed(&shared().review_at("/validate/warn", &fixture("deployment-allow")));
}

#[test]
fn audit_mode_allows_silently_and_annotates() {
    let response = shared().review_at("/validate/audit", &fixture("deployment-deny-multiple"));
    assert_eq!(response["allowed"], true, "{response}");
    assert!(response.get("warnings").is_none(), "{response}");
    let annotated = response["auditAnnotations"]["would-deny"].as_str().unwrap();
    assert!(annotated.contains("art12-host-security"), "{annotated}");
    assert_eq!(response["auditAnnotations"]["mode"], "audit");
}

#[test]
fn an_unknown_mode_path_is_a_bad_request_naming_the_modes() {
    let (status, body) = shared().post_to(
        "/validate/enforcing",
        fixture("pod-allow").to_string().as_bytes(),
    );
    assert_eq!(status, 400, "{body}");
    let text = message(&body["response"]);
    assert!(text.contains("`enforcing`"), "{text}");
    assert!(text.contains("/validate/enforce"), "{text}");
    assert!(text.contains("/validate/warn"), "{text}");
}

#[test]
fn a_mislabelled_namespace_is_refused_naming_the_label() {
    let server = shared();
    let response = server.review_at("/validate/mislabelled", &fixture("deployment-allow"));
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 400, "{response}");
    let text = message(&response);
    assert!(text.contains("`yungui.io/mode`"), "{text}");
    assert!(text.contains("`enforce`, `warn`, `audit`"), "{text}");
    // Kinds no policy reads still go through.
    assert_allowed(&server.review_at("/validate/mislabelled", &fixture("configmap-unmapped")));
}

#[test]
fn system_namespaces_are_never_decided() {
    let server = shared();
    for namespace in [
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "yungui-system",
    ] {
        for path in ["/validate", "/validate/warn", "/validate/mislabelled"] {
            let response = server.review_at(path, &in_namespace("pod-privileged", namespace));
            assert_allowed(&response);
            assert!(response.get("auditAnnotations").is_none(), "{response}");
        }
    }
    // The list is configurable, and replaces the default.
    let server = serve(&["--exempt-namespace", "shop-example"]);
    assert_allowed(&server.review(&fixture("pod-privileged")));
    // kube-system is no tenant: once decided, it is denied.
    assert_denied(
        &server.review(&in_namespace("pod-privileged", "kube-system")),
        &["registry-missing"],
    );
}

#[test]
fn namespaces_are_mapped_to_their_tenant_by_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(registry_path()).unwrap()).unwrap();
    registry.push(
        json!({"uid": {"type": "Cloud::Namespace", "id": "shop-web"}, "attrs": {},
        "parents": [{"type": "Cloud::Tenant", "id": "shop-example"}]}),
    );
    registry.push(
        json!({"uid": {"type": "Cloud::Namespace", "id": "orphan"}, "attrs": {},
        "parents": [{"type": "Cloud::Tenant", "id": "ghost-tenant"}]}),
    );
    let path = dir.path().join("registry.json");
    std::fs::write(&path, serde_json::to_string(&registry).unwrap()).unwrap();
    let server = serve(&["--registry", path.to_str().unwrap()]);
    // shop-web is shop-example's: its compliant deployment is allowed, its privileged pod denied.
    assert_allowed(&server.review(&in_namespace("deployment-allow", "shop-web")));
    let response = server.review(&in_namespace("pod-privileged", "shop-web"));
    assert_denied(&response, &["art12-host-security"]);
    assert!(
        message(&response).contains("`shop-web/debug`"),
        "{response}"
    );
    // A namespace of a tenant the registry lacks is denied, naming both.
    let response = server.review(&in_namespace("deployment-allow", "orphan"));
    assert_denied(&response, &["registry-missing"]);
    let text = message(&response);
    assert!(
        text.contains("namespace `orphan` belongs to tenant `ghost-tenant`"),
        "{text}"
    );
    // A namespace the registry does not list is the tenant of the same name.
    assert_allowed(&server.review(&fixture("deployment-allow")));
}

#[test]
fn metrics_count_every_answer_and_each_control_once_per_review() {
    let server = serve(&[]);
    // Two unfiled hosts: one control, fired twice in one review.
    assert_denied(
        &server.review(&fixture("ingress-unfiled-hosts")),
        &["art8-1-icp-filing"],
    );
    assert_eq!(server.post(b"{not json").0, 400);
    // OpenStack answers that never reach the engine: a malformed body, an unmapped rule.
    assert_eq!(server.post_to("/openstack", b"{not json").0, 400);
    let unmapped = json!({"rule": "no:such:rule", "target": {}, "credentials": {"project_id": "shop-example"}});
    assert_eq!(
        server
            .post_to("/openstack", unmapped.to_string().as_bytes())
            .0,
        200
    );

    let (status, content_type, text) = server.get_accepting("/metrics", "text/plain;version=0.0.4");
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    for sample in [
        "yungui_controls_fired_total{control=\"art8-1-icp-filing\",severity=\"deny\"} 1",
        "yungui_answers_total{front=\"kubernetes\",code=\"200\",answer=\"deny\"} 1",
        "yungui_answers_total{front=\"kubernetes\",code=\"400\",answer=\"refuse\"} 1",
        "yungui_answers_total{front=\"openstack\",code=\"400\",answer=\"refuse\"} 1",
        "yungui_answers_total{front=\"openstack\",code=\"200\",answer=\"refuse\"} 1",
        "yungui_component_loads_total{result=\"success\"} 1",
        "# TYPE yungui_answers_total counter",
        "# HELP yungui_answers_total ",
        "yungui_build_info{version=\"",
    ] {
        assert!(text.contains(sample), "`{sample}` missing from\n{text}");
    }
    assert!(!text.contains("# EOF"), "{text}");
    // The same, checked by Prometheus's own linter when it is installed (CI installs it).
    if let Ok(mut promtool) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        use std::io::Write as _;
        promtool
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = promtool.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {out:?}\n{text}"
        );
    }

    let (_, content_type, open) = server.get_accepting("/metrics", "*/*");
    assert!(content_type.starts_with("application/openmetrics-text; version=1.0.0"));
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert!(open.contains("# TYPE yungui_answers counter"), "{open}");
}

/// Kills the child on drop, so a failed assertion does not leave a server behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn binary_serves_tls_with_cert_command_certificates_and_logs_dry_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_yungui"))
        .args(["cert", "--out"])
        .arg(dir.path())
        .args(["--dns", "localhost", "127.0.0.1", "--days", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let ca = std::fs::read(dir.path().join("ca.crt")).unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        cert::base64(&ca),
        "stdout is the caBundle"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("tls.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key is private: {mode:o}");
    }
    // A second run does not overwrite the files.
    let again = Command::new(env!("CARGO_BIN_EXE_yungui"))
        .args(["cert", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(4), "{again:?}");

    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_yungui"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log-json",
                "--workers",
                "1",
            ])
            .arg("--tls-cert")
            .arg(dir.path().join("tls.crt"))
            .arg("--tls-key")
            .arg(dir.path().join("tls.key"))
            .args([
                "--registry",
                &registry_path(),
                "--plugin",
                crate::shipped_plugin(),
            ])
            .env_remove("YUNGUI_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Every line of a `--log-json` stream is a JSON object.
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stderr = child.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Err(err) = serde_json::from_str::<serde_json::Map<String, Value>>(&line) {
                let _ = lines_tx.send(format!("NOT JSON ({err}): {line}"));
                break;
            }
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| -> String {
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("no log line with {what}"));
            assert!(!line.starts_with("NOT JSON"), "{line}");
            if line.contains(what) {
                return line;
            }
        }
    };
    let listening: Value = serde_json::from_str(&next("\"listening\"")).unwrap();
    let addr = listening["addr"].as_str().unwrap().to_owned();
    let port = addr.rsplit(':').next().unwrap();
    let server = Server {
        url: format!("https://localhost:{port}"),
        agent: agent(dir.path()),
        _certs: tempfile::tempdir().unwrap(),
    };
    next("policy component loaded");
    assert_eq!(server.get("/readyz").0, 200);

    let mut review = fixture("deployment-deny-multiple");
    review["request"]["dryRun"] = json!(true);
    let response = server.review(&review);
    assert_eq!(response["allowed"], false);
    let uid = review["request"]["uid"].as_str().unwrap();
    let line: Value = serde_json::from_str(&next(uid)).unwrap();
    assert_eq!(line["target"], "yungui::decision", "{line}");
    assert_eq!(line["front"], "kubernetes");
    assert_eq!(line["tenant"], "unverified-example");
    assert_eq!(line["kind"], "Deployment");
    assert_eq!(line["action"], "provision_workload");
    assert_eq!(line["decision"], "deny");
    assert_eq!(line["dry_run"], true);
    // Audit evidence of which rules ruled: the component and its policy set.
    let shipped = std::fs::read(crate::shipped_plugin()).unwrap();
    assert_eq!(
        line["component_sha256"],
        yungui::builder::sha256_hex(&shipped),
        "{line}"
    );
    assert_eq!(
        line["policy_digest"],
        yungui::builder::shipped_sources().digest(),
        "{line}"
    );
    // The controls are an array, each control once (art12-host-security fires twice here:
    // privileged and host network).
    let controls: Vec<&str> = line["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for control in ["art8-1-real-name", "art12-host-security"] {
        assert_eq!(
            controls.iter().filter(|c| **c == control).count(),
            1,
            "{line}"
        );
    }
    assert!(line["latency_us"].as_u64().is_some(), "{line}");

    // The metrics count the front end's decisions.
    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("kubernetes"), "{metrics}");
}

#[test]
fn webhook_manifest_keeps_its_promises() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes/base");
    let webhook = std::fs::read_to_string(dir.join("webhook.yaml")).unwrap();
    for promise in [
        "sideEffects: None",
        "admissionReviewVersions: [v1]",
        "values: [kube-system, kube-public, kube-node-lease, yungui-system]",
        "- {key: yungui.io/mode, operator: Exists}",
        "- {key: yungui.io/mode, operator: NotIn, values: [enforce, warn, audit]}",
    ] {
        assert!(webhook.contains(promise), "webhook.yaml lacks `{promise}`");
    }
    // One entry per mode, each opted into by its label value, plus the mislabelled one; all fail
    // closed and exclude the system namespaces.
    for (mode, selector) in [
        (
            "enforce",
            "- {key: yungui.io/mode, operator: In, values: [enforce]}",
        ),
        (
            "warn",
            "- {key: yungui.io/mode, operator: In, values: [warn]}",
        ),
        (
            "audit",
            "- {key: yungui.io/mode, operator: In, values: [audit]}",
        ),
        ("mislabelled", "operator: Exists}"),
    ] {
        let entry = webhook
            .split("  - name: ")
            .find(|e| e.starts_with(&format!("{mode}.yungui.io")))
            .unwrap_or_else(|| panic!("no webhook entry for `{mode}`"));
        for promise in [
            &format!("path: /validate/{mode},"),
            selector,
            "failurePolicy: Fail",
            "timeoutSeconds: 5",
            "rules: ",
        ] {
            assert!(entry.contains(promise), "`{mode}` entry lacks `{promise}`");
        }
        assert!(
            entry.contains("*system") || entry.contains("&system"),
            "`{mode}` entry does not exclude the system namespaces"
        );
    }
    // The four above, and the one for Namespaces.
    assert_eq!(webhook.matches("  - name: ").count(), 5);
    for resource in [
        "pods",
        "replicationcontrollers",
        "services",
        "persistentvolumeclaims",
        "deployments",
        "statefulsets",
        "daemonsets",
        "replicasets",
        "jobs",
        "cronjobs",
        "ingresses",
    ] {
        assert!(
            webhook
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '/'))
                .any(|token| token == resource),
            "webhook.yaml has no rule for `{resource}`"
        );
    }
    let deployment = std::fs::read_to_string(dir.join("deployment.yaml")).unwrap();
    for promise in [
        "replicas: 2",
        "startupProbe:",
        "readinessProbe:",
        "livenessProbe:",
        "requests: {cpu:",
        "serviceAccountName: yungui",
        "automountServiceAccountToken: false",
    ] {
        assert!(
            deployment.contains(promise),
            "deployment.yaml lacks `{promise}`"
        );
    }
    // The memory limit holds every worker's instance at its memory cap, with room for the host.
    let number = |prefix: &str, suffix: &str| -> u64 {
        let start = deployment
            .find(prefix)
            .unwrap_or_else(|| panic!("deployment.yaml lacks `{prefix}`"))
            + prefix.len();
        let rest = &deployment[start..];
        rest[..rest.find(suffix).unwrap()].parse().unwrap()
    };
    let workers = number("--workers=", "\n");
    let memory_mib = number("--memory-mib=", "\n");
    let limit_mib = number("limits: {memory: ", "Mi}");
    assert!(
        workers * memory_mib + 128 <= limit_mib,
        "{workers} workers x {memory_mib} MiB + 128 MiB for the host exceeds limits.memory {limit_mib}Mi"
    );
    let network = std::fs::read_to_string(dir.join("networkpolicy.yaml")).unwrap();
    assert!(network.contains("policyTypes: [Ingress, Egress]"));
    assert!(network.contains("egress: []"));
    let kustomization = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
    for file in std::fs::read_dir(&dir).unwrap() {
        let name = file.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".yaml") && name != "kustomization.yaml" {
            assert!(
                kustomization.contains(&format!("- {name}")),
                "kustomization.yaml leaves out {name}"
            );
        }
    }
    // The shipped registry ConfigMap and the overlay's registry load, namespaces included.
    let overlay = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/kubernetes/overlays/example/registry.json");
    let registry = yungui::Registry::from_file(&overlay).unwrap();
    assert_eq!(registry.tenant_of_namespace("shop-web"), "shop-example");
}

/// A TLS client that offers only `http/1.0` in ALPN is served (HTTP/1.0 is HTTP/1).
#[test]
fn a_client_offering_only_http_1_0_is_served() {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use std::io::{Read, Write};

    let server = shared();
    let mut roots = rustls::RootCertStore::empty();
    let ca = CertificateDer::from_pem_file(server._certs.path().join("ca.crt")).unwrap();
    roots.add(ca).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.0".to_vec()];
    let port: u16 = server.url.rsplit(':').next().unwrap().parse().unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let client = rustls::ClientConnection::new(
        Arc::new(config),
        rustls_pki_types::ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    let mut tls = rustls::StreamOwned::new(client, tcp);
    tls.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.0"[..]));
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert!(answer.ends_with("ok\n"), "{answer}");
}

/// Fields that used to be skipped (issue 11, item 5): each kubectl-rendered object is denied by
/// the control that applies, and a compliant variant of the same object is allowed, so the test
/// fails if the field is not read.
#[test]
fn risky_fields_outside_the_obvious_ones_are_read() {
    let server = shared();
    for (denied, controls, names) in [
        ("pod-affinity-abroad", &["art7-in-territory"][..], &[][..]),
        ("pod-capabilities-host-port", &["art12-host-security"], &[]),
        (
            "service-nodeport-unlicensed-carrier",
            &["art6-licensed-carrier"],
            &[],
        ),
        (
            "service-external-ips-unlicensed-carrier",
            &["art6-licensed-carrier"],
            &[],
        ),
        ("ingress-hostless-rule", &["art8-1-icp-filing"], &["`*`"]),
        (
            "ingress-default-backend-tls",
            &["art8-1-icp-filing"],
            &["promo.unfiled.example.com", "`*`"],
        ),
    ] {
        let response = server.review(&fixture(denied));
        assert_denied(&response, controls);
        for name in names {
            assert!(message(&response).contains(name), "{name}: {response}");
        }
    }

    // The same objects made compliant are allowed.
    let mut pod = fixture("pod-affinity-abroad");
    pod["request"]["object"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] = json!(["cn-north-1"]);
    assert_allowed(&server.review(&pod));
    let mut pod = fixture("pod-capabilities-host-port");
    let container = &mut pod["request"]["object"]["spec"]["containers"][0];
    container["securityContext"]["capabilities"]["add"] = json!(["NET_BIND_SERVICE"]);
    container["ports"][0]
        .as_object_mut()
        .unwrap()
        .remove("hostPort");
    assert_allowed(&server.review(&pod));
    for service in [
        "service-nodeport-unlicensed-carrier",
        "service-external-ips-unlicensed-carrier",
    ] {
        let mut review = fixture(service);
        review["request"]["object"]["metadata"]["annotations"]["yungui.io/carrier"] =
            json!("china-telecom");
        assert_allowed(&server.review(&review));
    }
    // Each alone is enough: a capability, then a host port.
    for (cap, port) in [("SYS_ADMIN", false), ("ALL", false), ("CHOWN", true)] {
        let mut pod = fixture("pod-capabilities-host-port");
        let container = &mut pod["request"]["object"]["spec"]["containers"][0];
        container["securityContext"]["capabilities"]["add"] = json!([cap]);
        if !port {
            container["ports"][0]
                .as_object_mut()
                .unwrap()
                .remove("hostPort");
        }
        assert_denied(&server.review(&pod), &["art12-host-security"]);
    }
}

/// A pod whose required node affinity allows no region at all (two `In`s on the region key that
/// exclude one another, which the API server accepts) still runs the policies: found by the
/// `admission_review` fuzz target, such a privileged pod was allowed without any decision.
#[test]
fn a_pod_whose_region_terms_exclude_one_another_is_still_decided() {
    let server = shared();
    let nowhere = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "topology.kubernetes.io/region", "operator": "In", "values": ["cn-north-1"]},
            {"key": "topology.kubernetes.io/region", "operator": "In", "values": ["cn-east-2"]}
        ]}]
    }}});
    let mut pod = fixture("pod-privileged");
    pod["request"]["object"]["spec"]["affinity"] = nowhere.clone();
    assert_denied(&server.review(&pod), &["art12-host-security"]);
    let mut daemonset = fixture("daemonset-host-network");
    daemonset["request"]["object"]["spec"]["template"]["spec"]["affinity"] = nowhere;
    assert_denied(&server.review(&daemonset), &["art12-host-security"]);
}

/// An object that maps to a request past a bound is refused as such (400), not as a fault.
#[test]
fn an_object_past_a_bound_is_refused_not_a_fault() {
    let server = shared();
    let mut review = fixture("pvc-allow");
    let classes: Vec<String> = (0..300).map(|i| format!("class-{i}")).collect();
    review["request"]["object"]["metadata"]["annotations"]["yungui.io/data-class"] =
        json!(classes.join(","));
    let response = server.review(&review);
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 400, "{response}");
    let text = message(&response);
    assert!(
        text.contains("`resource.attrs.classes` holds 301 elements"),
        "{text}"
    );
}

/// Gateway API objects and the annotations that name hosts bind domains: each name is decided as
/// `bind_domain` (`*` when a listener or route names none), a Gateway's address as
/// `allocate_public_ip`.
#[test]
fn gateways_routes_and_host_annotations_are_decided() {
    let server = shared();
    for allowed in ["gateway-allow", "httproute-allow"] {
        assert_allowed(&server.review(&fixture(allowed)));
    }
    for (denied, controls, names) in [
        (
            "gateway-unfiled-hosts",
            &["art8-1-icp-filing", "art6-licensed-carrier"][..],
            &[
                "address: art6",
                "host `*.example.com`",
                "host `*.foo.com`",
                "host `*`",
            ][..],
        ),
        ("httproute-hostless", &["art8-1-icp-filing"], &["host `*`"]),
        (
            "grpcroute-unfiled",
            &["art8-1-icp-filing"],
            &["host `foo.example.com`"],
        ),
        (
            "tlsroute-unfiled",
            &["art8-1-icp-filing"],
            &["host `foo.example.com`"],
        ),
        (
            "listenerset-unfiled",
            &["art8-1-icp-filing"],
            &["host `first.foo.com`"],
        ),
        (
            "ingress-server-alias",
            &["art8-1-icp-filing"],
            &["host `promo.unfiled.example.com`"],
        ),
        (
            "service-external-dns-unfiled",
            &["art8-1-icp-filing"],
            &["host `cdn.unfiled.example.net`"],
        ),
    ] {
        let response = server.review(&fixture(denied));
        assert_denied(&response, controls);
        let text = message(&response);
        for name in names {
            assert!(text.contains(name), "{denied}: {name} not in {text}");
        }
        // Filed names are not among the denials.
        assert!(!text.contains("host `www.shop.example.cn`"), "{text}");
        assert!(!text.contains("host `shop.example.cn`"), "{text}");
    }

    // Each name is what decides: filed, the same objects are allowed.
    let mut gateway = fixture("gateway-unfiled-hosts");
    let object = &mut gateway["request"]["object"];
    object["metadata"]["annotations"]["yungui.io/carrier"] = json!("china-telecom");
    object["spec"]["listeners"][0]["hostname"] = json!("*.shop.example.cn");
    object["spec"]["listeners"][1]["hostname"] = json!("api.shop.example.cn");
    object["spec"]["listeners"][2]["protocol"] = json!("TCP");
    assert_allowed(&server.review(&gateway));
    let mut route = fixture("httproute-hostless");
    route["request"]["object"]["spec"]["hostnames"] = json!(["shop.example.cn"]);
    assert_allowed(&server.review(&route));
    let mut alias = fixture("ingress-server-alias");
    alias["request"]["object"]["metadata"]["annotations"]["nginx.ingress.kubernetes.io/server-alias"] =
        json!("shop.example.cn");
    assert_allowed(&server.review(&alias));
    // The Gateway's address is decided like a LoadBalancer's: no carrier, no address.
    let mut gateway = fixture("gateway-allow");
    gateway["request"]["object"]["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    let response = server.review(&gateway);
    assert_eq!(response["allowed"], false, "{response}");
    assert!(message(&response).contains("address: "), "{response}");

    // Other served versions, and the experimental ListenerSet, are read the same way.
    for (name, group, version, kind) in [
        (
            "httproute-hostless",
            "gateway.networking.k8s.io",
            "v1beta1",
            "HTTPRoute",
        ),
        (
            "grpcroute-unfiled",
            "gateway.networking.k8s.io",
            "v1alpha2",
            "GRPCRoute",
        ),
        (
            "tlsroute-unfiled",
            "gateway.networking.k8s.io",
            "v1",
            "TLSRoute",
        ),
        (
            "gateway-unfiled-hosts",
            "gateway.networking.k8s.io",
            "v1beta1",
            "Gateway",
        ),
        (
            "listenerset-unfiled",
            "gateway.networking.x-k8s.io",
            "v1alpha1",
            "XListenerSet",
        ),
    ] {
        let mut review = fixture(name);
        let request = &mut review["request"];
        for key in ["kind", "requestKind"] {
            request[key] = json!({"group": group, "version": version, "kind": kind});
        }
        request["object"]["apiVersion"] = json!(format!("{group}/{version}"));
        request["object"]["kind"] = json!(kind);
        assert_denied(&server.review(&review), &["art8-1-icp-filing"]);
    }
    // ingress-nginx's www redirect serves the other name too.
    let mut www = fixture("ingress-allow");
    www["request"]["object"]["metadata"]["annotations"] =
        json!({"nginx.ingress.kubernetes.io/from-to-www-redirect": "true"});
    assert_allowed(&server.review(&www));
    www["request"]["object"]["spec"]["rules"][1]["host"] = json!("www.twin.example.cn");
    let response = server.review(&www);
    assert_denied(&response, &["art8-1-icp-filing"]);
    assert!(
        message(&response).contains("host `twin.example.cn`"),
        "{response}"
    );
}

/// A registry with `shop-web` mapped to `shop-example`, written to a temporary folder.
fn registry_with_shop_web() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut registry: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(registry_path()).unwrap()).unwrap();
    registry.push(
        json!({"uid": {"type": "Cloud::Namespace", "id": "shop-web"}, "attrs": {},
        "parents": [{"type": "Cloud::Tenant", "id": "shop-example"}]}),
    );
    let path = dir.path().join("registry.json");
    std::fs::write(&path, serde_json::to_string(&registry).unwrap()).unwrap();
    let path = path.display().to_string();
    (dir, path)
}

#[test]
fn registry_tenancy_denies_namespaces_the_registry_does_not_list() {
    let (_dir, path) = registry_with_shop_web();
    let server = serve(&["--registry", &path, "--namespace-tenancy", "registry"]);
    assert_allowed(&server.review(&in_namespace("deployment-allow", "shop-web")));
    // `shop-example` is a tenant, but no entity maps a namespace of that name to it.
    for name in ["deployment-allow", "gateway-allow", "pvc-allow"] {
        let response = server.review(&fixture(name));
        assert_eq!(response["allowed"], false, "{name}: {response}");
        assert_eq!(response["status"]["code"], 403, "{response}");
        assert_eq!(
            response["auditAnnotations"]["controls"],
            "namespace-unlisted"
        );
        let text = message(&response);
        assert!(
            text.contains("namespace `shop-example` is not mapped to a tenant"),
            "{text}"
        );
        assert!(
            text.contains(r#"add a `Cloud::Namespace::"shop-example"` entity"#),
            "{text}"
        );
    }
    // Kinds no policy reads still go through; audit mode lets it through, annotated.
    assert_allowed(&server.review(&fixture("configmap-unmapped")));
    let response = server.review_at("/validate/audit", &fixture("deployment-allow"));
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(
        response["auditAnnotations"]["would-deny"],
        "namespace-unlisted"
    );
    // The default tenancy takes the tenant of the same name.
    let same_name = serve(&["--registry", &path]);
    assert_allowed(&same_name.review(&fixture("deployment-allow")));
    // An unknown tenancy is an error naming the values.
    let error = Cli::try_parse_from(["yungui", "--namespace-tenancy", "name"])
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("`registry` or `same-name`"), "{error}");
}

/// The namespace fixture as `user` in `groups` would send it: `operation`, the new labels, and
/// for an UPDATE the labels before.
fn namespace_review(
    operation: &str,
    before: Option<Value>,
    labels: Value,
    user: &str,
    groups: &[&str],
) -> Value {
    let mut review = fixture("namespace-enforce");
    let request = &mut review["request"];
    request["operation"] = json!(operation);
    request["userInfo"] = json!({"username": user, "groups": groups});
    request["object"]["metadata"]["labels"] = labels;
    if let Some(before) = before {
        // An UPDATE names the namespace, and carries it as it was.
        request["namespace"] = json!("shop-example");
        let mut old = request["object"].clone();
        old["metadata"]["labels"] = before;
        request["oldObject"] = old;
        request["options"] = json!({"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"});
    }
    review
}

#[test]
fn only_label_admins_change_the_mode_label() {
    let server = shared();
    let tenant = ["system:authenticated", "shop-developers"];
    let admin = ["system:masters", "system:authenticated"];
    let enforce =
        json!({"yungui.io/mode": "enforce", "kubernetes.io/metadata.name": "shop-example"});
    let audit = json!({"yungui.io/mode": "audit", "kubernetes.io/metadata.name": "shop-example"});
    let unlabelled = json!({"kubernetes.io/metadata.name": "shop-example"});
    for path in ["/validate/namespaces", "/validate"] {
        // A tenant turning enforcement off, or removing it, is denied, naming who may.
        for (labels, says) in [
            (&audit, "change `yungui.io/mode` from `enforce` to `audit`"),
            (&unlabelled, "remove `yungui.io/mode=enforce`"),
        ] {
            let review = namespace_review(
                "UPDATE",
                Some(enforce.clone()),
                labels.clone(),
                "dev",
                &tenant,
            );
            let response = server.review_at(path, &review);
            assert_eq!(response["allowed"], false, "{response}");
            assert_eq!(response["status"]["code"], 403, "{response}");
            assert_eq!(
                response["auditAnnotations"]["controls"],
                "namespace-label-guard"
            );
            let text = message(&response);
            assert!(text.contains(&format!("`dev` may not {says}")), "{text}");
            assert!(text.contains("groups `system:masters`"), "{text}");
            assert!(text.contains("标签"), "{text}");
        }
        // Tightening is anyone's: enforce from audit, or a new namespace created enforcing.
        let review = namespace_review(
            "UPDATE",
            Some(audit.clone()),
            enforce.clone(),
            "dev",
            &tenant,
        );
        assert_allowed(&server.review_at(path, &review));
        let review = namespace_review("CREATE", None, enforce.clone(), "dev", &tenant);
        assert_allowed(&server.review_at(path, &review));
        // Creating a namespace in audit mode is loosening it from the start.
        let review = namespace_review("CREATE", None, audit.clone(), "dev", &tenant);
        assert_eq!(server.review_at(path, &review)["allowed"], false);
        // Other labels are the namespace owner's.
        let mut team = enforce.clone();
        team["team"] = json!("web");
        let review = namespace_review("UPDATE", Some(enforce.clone()), team, "dev", &tenant);
        assert_allowed(&server.review_at(path, &review));
        // system:masters may.
        let review = namespace_review(
            "UPDATE",
            Some(enforce.clone()),
            audit.clone(),
            "root",
            &admin,
        );
        assert_allowed(&server.review_at(path, &review));
        // A value of no mode is refused for everyone, naming the label and the modes.
        let mut off = enforce.clone();
        off["yungui.io/mode"] = json!("off");
        let review = namespace_review("UPDATE", Some(enforce.clone()), off, "root", &admin);
        let response = server.review_at(path, &review);
        assert_eq!(response["status"]["code"], 400, "{response}");
        assert!(
            message(&response).contains("`enforce`, `warn`, `audit`"),
            "{response}"
        );
        // The system namespaces are never decided.
        let mut review = namespace_review(
            "UPDATE",
            Some(enforce.clone()),
            unlabelled.clone(),
            "dev",
            &tenant,
        );
        review["request"]["object"]["metadata"]["name"] = json!("kube-system");
        assert_allowed(&server.review_at(path, &review));
        // Deleting a namespace is wind-down.
        let mut review = namespace_review(
            "UPDATE",
            Some(enforce.clone()),
            unlabelled.clone(),
            "dev",
            &tenant,
        );
        review["request"]["operation"] = json!("DELETE");
        assert_allowed(&server.review_at(path, &review));
    }
    // The same change through the status subresource is decided the same way.
    let mut review = namespace_review(
        "UPDATE",
        Some(enforce.clone()),
        audit.clone(),
        "dev",
        &tenant,
    );
    review["request"]["subResource"] = json!("status");
    assert_eq!(
        server.review_at("/validate/namespaces", &review)["allowed"],
        false
    );
    // An UPDATE without the object as it was cannot be decided.
    let mut review = namespace_review("UPDATE", Some(enforce.clone()), audit, "dev", &tenant);
    review["request"]["oldObject"] = Value::Null;
    let (status, body) = server.post_to("/validate/namespaces", review.to_string().as_bytes());
    assert_eq!(status, 400, "{body}");
    assert!(message(&body["response"]).contains("oldObject"), "{body}");
}

#[test]
fn label_admins_are_configured_and_the_label_can_be_required() {
    let server = serve(&[
        "--label-admin-user",
        "system:serviceaccount:platform:namespacer",
        "--label-admin-group",
        "platform-admins",
        "--require-mode-label",
    ]);
    let enforce = json!({"yungui.io/mode": "enforce"});
    let audit = json!({"yungui.io/mode": "audit"});
    for (user, groups, allowed) in [
        ("system:serviceaccount:platform:namespacer", &[][..], true),
        ("alice", &["platform-admins"][..], true),
        // The configured list replaces the default.
        ("root", &["system:masters"][..], false),
    ] {
        let review = namespace_review("UPDATE", Some(enforce.clone()), audit.clone(), user, groups);
        let response = server.review(&review);
        assert_eq!(response["allowed"], allowed, "{user}: {response}");
    }
    // A namespace created without the label is denied, unless a label admin creates it.
    let review = namespace_review("CREATE", None, json!({"team": "web"}), "dev", &[]);
    let response = server.review(&review);
    assert_eq!(response["allowed"], false, "{response}");
    assert!(
        message(&response).contains("--require-mode-label"),
        "{response}"
    );
    let review = namespace_review("CREATE", None, json!({}), "alice", &["platform-admins"]);
    assert_allowed(&server.review(&review));
    let review = namespace_review("CREATE", None, enforce.clone(), "dev", &[]);
    assert_allowed(&server.review(&review));
    // An existing namespace without it is not locked: other labels still change.
    let review = namespace_review(
        "UPDATE",
        Some(json!({})),
        json!({"team": "web"}),
        "dev",
        &[],
    );
    assert_allowed(&server.review(&review));
}

/// The webhook configuration sends every kind the adapter decides (`mapping::KINDS`), and no
/// other: the mode entries every namespaced kind, the namespaces entry Namespaces.
#[test]
fn webhook_rules_match_the_kinds_the_adapter_decides() {
    use std::collections::BTreeSet;
    use yungui_server::kubernetes::mapping::{KINDS, Kind};

    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes/base/webhook.yaml");
    let config: Value = serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let expected = |namespaces: bool| -> BTreeSet<(String, String)> {
        KINDS
            .iter()
            .filter(|(_, _, _, kind)| (*kind == Kind::Namespace) == namespaces)
            .map(|(group, _, resource, _)| ((*group).to_owned(), (*resource).to_owned()))
            .collect()
    };
    let webhooks = config["webhooks"].as_array().unwrap();
    assert_eq!(webhooks.len(), 5, "{webhooks:?}");
    for webhook in webhooks {
        let name = webhook["name"].as_str().unwrap();
        let mut sent = BTreeSet::new();
        for rule in webhook["rules"].as_array().unwrap() {
            let operations = rule["operations"].as_array().unwrap();
            assert!(
                operations.contains(&json!("CREATE")) && operations.contains(&json!("UPDATE")),
                "{name}: {rule}"
            );
            for group in rule["apiGroups"].as_array().unwrap() {
                for resource in rule["resources"].as_array().unwrap() {
                    let key = (
                        group.as_str().unwrap().to_owned(),
                        resource.as_str().unwrap().to_owned(),
                    );
                    assert!(sent.insert(key.clone()), "{name}: {key:?} twice");
                }
            }
        }
        let namespaces = name == "namespaces.yungui.io";
        assert_eq!(sent, expected(namespaces), "{name}");
        let scope = if namespaces { "Cluster" } else { "Namespaced" };
        for rule in webhook["rules"].as_array().unwrap() {
            assert_eq!(rule["scope"], scope, "{name}: {rule}");
        }
        assert_eq!(webhook["failurePolicy"], "Fail", "{name}");
        // Every entry leaves the system namespaces out.
        let selector = webhook["namespaceSelector"]["matchExpressions"].to_string();
        assert!(
            selector.contains(
                r#""values":["kube-system","kube-public","kube-node-lease","yungui-system"]"#
            ),
            "{name}: {selector}"
        );
    }
    // Every kind the adapter decides is in the table, with its resource.
    for (group, kind, _, decided) in KINDS {
        assert_eq!(Kind::of(group, kind), Some(decided), "{group}/{kind}");
    }
    // The deployment's defaults: namespaces only by registry entity, label admins named.
    let deployment = std::fs::read_to_string(path.with_file_name("deployment.yaml")).unwrap();
    assert!(deployment.contains("- --namespace-tenancy=registry"));
    assert!(deployment.contains("- --label-admin-group=system:masters,"));
}

/// Sets the value at a JSON pointer, making the objects on the way (`~1` is a `/` in a key).
fn set(value: &mut Value, pointer: &str, new: Value) {
    let mut at = value;
    let keys: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|k| k.replace("~1", "/").replace("~0", "~"))
        .collect();
    for key in &keys[..keys.len() - 1] {
        at = match at {
            Value::Array(list) => &mut list[key.parse::<usize>().unwrap()],
            _ => {
                if at.get(key).is_none_or(Value::is_null) {
                    at[key.as_str()] = json!({});
                }
                &mut at[key.as_str()]
            }
        };
    }
    at[keys.last().unwrap().as_str()] = new;
}

/// One change per control of the Pod Security Standards' baseline, relative to a pod (its
/// `metadata` and `spec`), as a tenant would write it.
fn baseline_breaches() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "HostProcess",
            "/spec/containers/0/securityContext/windowsOptions/hostProcess",
            json!(true),
        ),
        (
            "HostProcess",
            "/spec/securityContext/windowsOptions/hostProcess",
            json!(true),
        ),
        ("Host Namespaces", "/spec/hostIPC", json!(true)),
        ("Host Namespaces", "/spec/hostNetwork", json!(true)),
        (
            "Privileged Containers",
            "/spec/initContainers",
            json!([{"name": "init", "image": "busybox", "securityContext": {"privileged": true}}]),
        ),
        (
            "Capabilities",
            "/spec/containers/0/securityContext/capabilities/add",
            json!(["SYS_PTRACE"]),
        ),
        (
            "HostPath Volumes",
            "/spec/volumes",
            json!([{"name": "run", "hostPath": {"path": "/var/run"}}]),
        ),
        (
            "Host Ports",
            "/spec/containers/0/ports",
            json!([{"containerPort": 80, "hostPort": 8080}]),
        ),
        (
            "AppArmor",
            "/metadata/annotations/container.apparmor.security.beta.kubernetes.io~1web",
            json!("unconfined"),
        ),
        (
            "AppArmor",
            "/spec/containers/0/securityContext/appArmorProfile/type",
            json!("Unconfined"),
        ),
        (
            "AppArmor",
            "/spec/securityContext/appArmorProfile/type",
            json!("Unconfined"),
        ),
        (
            "SELinux",
            "/spec/securityContext/seLinuxOptions/type",
            json!("spc_t"),
        ),
        (
            "SELinux",
            "/spec/containers/0/securityContext/seLinuxOptions/user",
            json!("system_u"),
        ),
        (
            "SELinux",
            "/spec/containers/0/securityContext/seLinuxOptions/role",
            json!("system_r"),
        ),
        (
            "/proc Mount Type",
            "/spec/containers/0/securityContext/procMount",
            json!("Unmasked"),
        ),
        (
            "Seccomp",
            "/spec/securityContext/seccompProfile/type",
            json!("Unconfined"),
        ),
        (
            "Seccomp",
            "/spec/containers/0/securityContext/seccompProfile/type",
            json!("Unconfined"),
        ),
        (
            "Seccomp",
            "/metadata/annotations/seccomp.security.alpha.kubernetes.io~1pod",
            json!("unconfined"),
        ),
        (
            "Seccomp",
            "/metadata/annotations/container.seccomp.security.alpha.kubernetes.io~1web",
            json!("unconfined"),
        ),
        (
            "Sysctls",
            "/spec/securityContext/sysctls",
            json!([{"name": "kernel.msgmax", "value": "65536"}]),
        ),
    ]
}

/// Every control of the baseline, broken alone on a Pod, a Deployment's and a Job's pod
/// template, is denied by `art12-host-security`, and the message names the control.
#[test]
fn every_baseline_control_is_denied_on_pods_and_templates() {
    let server = shared();
    for (base, pod) in [
        ("pod-allow", "/request/object"),
        ("deployment-allow", "/request/object/spec/template"),
        ("job-allow", "/request/object/spec/template"),
    ] {
        assert_allowed(&server.review(&fixture(base)));
        for (control, pointer, value) in baseline_breaches() {
            let mut review = fixture(base);
            if base == "job-allow" {
                // The Job's one container is named after it.
                set(
                    &mut review,
                    &format!("{pod}/spec/containers/0/name"),
                    json!("web"),
                );
            }
            set(&mut review, &format!("{pod}{pointer}"), value);
            let response = server.review(&review);
            assert_denied(&response, &["art12-host-security"]);
            let text = message(&response);
            assert!(
                text.contains("Pod Security Standards baseline (v1.35)")
                    && text.contains(&format!("{control} (")),
                "{base} {pointer}: {text}"
            );
        }
    }
}

#[test]
fn the_baseline_s_allowed_values_are_allowed() {
    let server = shared();
    let allowed = fixture("pod-baseline-allowed");
    assert_allowed(&server.review(&allowed));
    // The same settings on a Deployment's pod template.
    let pod = &allowed["request"]["object"]["spec"];
    let mut deployment = fixture("deployment-allow");
    let template = &mut deployment["request"]["object"]["spec"]["template"]["spec"];
    template["securityContext"] = pod["securityContext"].clone();
    template["containers"][0]["securityContext"] = pod["containers"][0]["securityContext"].clone();
    template["containers"][0]["securityContext"]["runAsNonRoot"] = json!(true);
    set(
        &mut deployment,
        "/request/object/spec/template/metadata/annotations/container.apparmor.security.beta.kubernetes.io~1web",
        json!("runtime/default"),
    );
    assert_allowed(&server.review(&deployment));

    let response = server.review(&fixture("deployment-baseline-unconfined"));
    assert_denied(&response, &["art12-host-security"]);
    let text = message(&response);
    for named in [
        "Seccomp (pod: securityContext.seccompProfile.type `Unconfined`)",
        "AppArmor (container `busybox`: annotation",
        "SELinux (container `busybox`: securityContext.seLinuxOptions.type `spc_t`)",
        "/proc Mount Type (container `busybox`: securityContext.procMount `Unmasked`)",
        "Sysctls (pod: securityContext.sysctls `kernel.msgmax`)",
    ] {
        assert!(text.contains(named), "{named}: {text}");
    }
}

/// A file holding `text`, kept while the value lives.
fn map_file(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

/// A server for a cluster whose nodes span cn-north-1 and eu-west-1.
fn two_region_server() -> &'static Server {
    static SERVER: OnceLock<(Server, [tempfile::NamedTempFile; 3])> = OnceLock::new();
    let (server, _) = SERVER.get_or_init(|| {
        let zones = map_file(
            r#"{"cn-north-1a": "cn-north-1", "cn-north-1b": "cn-north-1", "eu-west-1a": "eu-west-1"}"#,
        );
        let nodes = map_file(r#"{"cn-node-1": "cn-north-1", "eu-node-1": "eu-west-1"}"#);
        let classes = map_file(r#"{"encrypted-ssd": "cn-north-1", "ssd-eu": "eu-west-1"}"#);
        let path = |f: &tempfile::NamedTempFile| f.path().display().to_string();
        let server = serve(&[
            "--cluster-zone-map",
            &path(&zones),
            "--cluster-node-map",
            &path(&nodes),
            "--storage-class-map",
            &path(&classes),
        ]);
        (server, [zones, nodes, classes])
    });
    server
}

/// In a one-region cluster, only a region label places a pod: the deprecated one too; nodes and
/// zones (the DaemonSet controller's `matchFields` included) are in the cluster's region.
#[test]
fn a_one_region_cluster_reads_both_region_labels_and_keeps_daemon_pods_working() {
    let server = shared();
    assert_denied(
        &server.review(&fixture("pod-deprecated-region-abroad")),
        &["art7-in-territory"],
    );
    for allowed in ["pod-daemonset-pinned", "pod-node-name", "deployment-zone"] {
        let response = server.review(&fixture(allowed));
        assert_eq!(response["allowed"], true, "{allowed}: {response}");
        assert_allowed(&response);
    }
    // The deprecated label in a required affinity term too.
    let mut pod = fixture("pod-affinity-abroad");
    set(
        &mut pod,
        "/request/object/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchExpressions/0/key",
        json!("failure-domain.beta.kubernetes.io/region"),
    );
    assert_denied(&server.review(&pod), &["art7-in-territory"]);
}

/// In a cluster spanning regions, zones, nodes and storage classes place objects through the
/// operator's maps; what the maps cannot place is unknown and denied, naming it.
#[test]
fn a_cluster_spanning_regions_places_pods_and_claims_by_the_operator_s_maps() {
    let server = two_region_server();
    // Pinned by node name, zone label or the DaemonSet controller's matchFields.
    assert_allowed(&server.review(&fixture("pod-daemonset-pinned")));
    assert_allowed(&server.review(&fixture("deployment-allow")));
    let mut zone = fixture("deployment-zone");
    assert_denied(&server.review(&zone), &["art7-in-territory"]);
    set(
        &mut zone,
        "/request/object/spec/template/spec/nodeSelector/topology.kubernetes.io~1zone",
        json!("cn-north-1b"),
    );
    assert_allowed(&server.review(&zone));
    assert_denied(
        &server.review(&fixture("pod-node-name")),
        &["art7-in-territory"],
    );
    let mut daemon = fixture("pod-daemonset-pinned");
    let values = "/request/object/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchFields/0/values";
    set(&mut daemon, values, json!(["eu-node-1"]));
    assert_denied(&server.review(&daemon), &["art7-in-territory"]);
    // Unknown: named, and never allowed.
    for (base, pointer, value, named) in [
        (
            "pod-daemonset-pinned",
            values,
            json!(["node-9"]),
            "node `node-9` is in no region",
        ),
        (
            "pod-node-name",
            "/request/object/spec/nodeName",
            json!("node-9"),
            "node `node-9` is in no region",
        ),
        (
            "pod-allow",
            "/request/object/spec/nodeSelector/failure-domain.beta.kubernetes.io~1zone",
            json!("ap-east-1z"),
            "zone `ap-east-1z` is in no region",
        ),
    ] {
        let mut review = fixture(base);
        set(&mut review, pointer, value);
        let response = server.review(&review);
        assert_denied(&response, &["registry-missing"]);
        assert!(message(&response).contains(named), "{named}: {response}");
    }
    // A region label narrows an unknown node: it can only run there.
    let mut review = fixture("pod-node-name");
    set(
        &mut review,
        "/request/object/spec/nodeName",
        json!("node-9"),
    );
    set(
        &mut review,
        "/request/object/spec/nodeSelector/topology.kubernetes.io~1region",
        json!("cn-north-1"),
    );
    assert_allowed(&server.review(&review));
    // Placed nowhere in particular: anywhere the cluster is, abroad included.
    let response = server.review(&fixture("pod-allow"));
    assert_denied(&response, &["art7-in-territory"]);
    assert!(
        message(&response).contains("region `eu-west-1`"),
        "{response}"
    );

    // Claims: the class decides, the tenant's annotation cannot bring the data home.
    assert_allowed(&server.review(&fixture("pvc-allow")));
    let mut claim = fixture("pvc-allow");
    set(
        &mut claim,
        "/request/object/spec/storageClassName",
        json!("ssd-eu"),
    );
    set(
        &mut claim,
        "/request/object/metadata/annotations/yungui.io~1region",
        json!("cn-north-1"),
    );
    assert_denied(&server.review(&claim), &["art7-in-territory"]);
    set(
        &mut claim,
        "/request/object/spec/storageClassName",
        json!("standard"),
    );
    let response = server.review(&claim);
    assert_denied(&response, &["registry-missing"]);
    assert!(
        message(&response).contains("storage class `standard` is in no region"),
        "{response}"
    );
}

/// A map that is not one is an error naming its option, before the server starts.
#[test]
fn a_bad_cluster_map_is_refused_naming_its_option() {
    for (flag, text, wrong) in [
        ("--cluster-zone-map", "{}", "is empty"),
        (
            "--cluster-node-map",
            r#"["n1"]"#,
            "not a JSON object of node to region",
        ),
        (
            "--storage-class-map",
            r#"{"ssd": ""}"#,
            "maps `ssd` to an empty region",
        ),
    ] {
        let file = map_file(text);
        let path = file.path().display().to_string();
        let args = Cli::try_parse_from(["yungui", "--plain-http", flag, &path])
            .unwrap()
            .args;
        let err = format!("{:#}", args.config().unwrap_err());
        assert!(err.contains(flag) && err.contains(wrong), "{flag}: {err}");
    }
}

/// A pod breaking the baseline many times over gets a message of bounded length that still
/// counts every breach.
#[test]
fn a_denial_names_a_bounded_number_of_baseline_breaches() {
    let mut review = fixture("pod-allow");
    let containers: Vec<Value> = (0..40)
        .map(|i| json!({"name": format!("c{i}"), "image": "busybox", "securityContext": {"privileged": true}}))
        .collect();
    review["request"]["object"]["spec"]["containers"] = json!(containers);
    let response = shared().review(&review);
    assert_denied(&response, &["art12-host-security"]);
    let text = message(&response);
    assert!(
        text.contains("container `c11`") && !text.contains("container `c12`"),
        "{text}"
    );
    assert!(text.contains("; and 28 more"), "{text}");
}

/// A pod placed on a node by a `pods/binding` (kubectl-rendered, as the API server sends the
/// subresource): in a cluster whose nodes span regions, only the schedulers may bind, since a
/// binding passes over the node constraints decided at the pod's CREATE; in a one-region cluster
/// every node is at home, and bindings are not decided.
#[test]
fn only_schedulers_bind_pods_in_a_cluster_spanning_regions() {
    let server = two_region_server();
    let binding = fixture("pod-binding");
    let response = server.review(&binding);
    assert_guarded(&response);
    let text = message(&response);
    assert!(
        text.contains("`system:serviceaccount:shop-example:deployer` binds pod `web` to node `eu-node-1` (in region `eu-west-1`)"),
        "{response}"
    );
    // The scheduler places pods as their node constraints allow: not decided again.
    let mut scheduled = binding.clone();
    set(
        &mut scheduled,
        "/request/userInfo",
        json!({"username": "system:kube-scheduler", "groups": ["system:authenticated"]}),
    );
    assert_allowed(&server.review(&scheduled));
    // The older `bindings` resource is the same act.
    let mut older = binding.clone();
    set(&mut older, "/request/resource/resource", json!("bindings"));
    set(&mut older, "/request/subResource", json!(null));
    assert_guarded(&server.review(&older));
    // One region: nothing to guard.
    assert_allowed(&shared().review(&binding));
}

/// Refused by the binding guard (a front-end control: no article, no policy).
fn assert_guarded(response: &Value) {
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 403, "{response}");
    assert_eq!(
        response["auditAnnotations"]["controls"], "pod-binding-guard",
        "{response}"
    );
}

/// The serving certificate's expiry is a gauge (Unix seconds), and the production dashboard names
/// only metrics the server exports.
#[test]
fn metrics_export_the_certificate_expiry_and_the_dashboard_names_only_exported_metrics() {
    // A denial and a malformed review: the decision, control, latency, answer and fault
    // families have samples once something was decided or refused.
    let server = shared();
    assert_denied(
        &server.review(&fixture("ingress-unfiled-hosts")),
        &["art8-1-icp-filing"],
    );
    assert_eq!(server.post(b"{not json").0, 400);
    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    let value = |name: &str| -> Option<f64> {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .map(|v| v.trim().parse().unwrap())
    };
    // `certs()` issues for 1 day: valid until 00:00 UTC of the day after tomorrow at most.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let not_after = value("yungui_tls_not_after_seconds")
        .unwrap_or_else(|| panic!("no yungui_tls_not_after_seconds: {metrics}"));
    assert!(
        not_after > now && not_after <= now + 2.0 * 86_400.0,
        "{not_after} against {now}"
    );
    assert_eq!(not_after % 86_400.0, 0.0, "at 00:00 UTC: {not_after}");

    // What the scrape exports: each family's samples by its type (OpenMetrics).
    let mut exported = std::collections::BTreeSet::new();
    for line in metrics.lines() {
        let mut words = line.split(' ');
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (words.next(), words.next(), words.next(), words.next())
        {
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                "info" => &["_info"],
                _ => &[""],
            };
            exported.extend(suffixes.iter().map(|s| format!("{name}{s}")));
        }
    }
    // Counter families that have samples only after an event this test does not cause (a
    // registry file reloaded, a fault; other tests on the shared server may have): registered by
    // the server under these names.
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src/metrics.rs"),
    )
    .unwrap();
    for (family, field) in [
        (
            "registry_reloads",
            "registry_reloads: Family<ResultLabels, Counter>",
        ),
        ("faults", "faults: Family<FaultLabels, Counter>"),
    ] {
        assert!(
            source.contains(&format!("\"{family}\",")) && source.contains(field),
            "metrics.rs no longer registers the counter `{family}`"
        );
        exported.insert(format!("yungui_{family}_total"));
    }
    let used = super::deploy::dashboard_metrics();
    assert!(used.contains("yungui_tls_not_after_seconds"), "{used:?}");
    assert!(used.contains("yungui_decision_seconds_bucket"), "{used:?}");
    let unknown: Vec<_> = used.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard names metrics the server does not export: {unknown:?} (exported: {exported:?})"
    );
}

/// The expiry gauge follows a certificate replaced in place (the files are checked every 10 s).
#[test]
fn the_certificate_expiry_gauge_follows_a_new_certificate() {
    let server = serve(&[]);
    let dir = server._certs.path();
    let gauge = |agent: &ureq::Agent| -> Option<f64> {
        let mut response = agent.get(format!("{}/metrics", server.url)).call().ok()?;
        let metrics = response.body_mut().read_to_string().unwrap();
        metrics
            .lines()
            .find_map(|line| line.strip_prefix("yungui_tls_not_after_seconds "))
            .map(|v| v.trim().parse().unwrap())
    };
    let before = gauge(&server.agent).unwrap();
    // A new CA and certificate for 3 days instead of 1; a client that trusts only the new CA
    // connects once the server serves it.
    let longer = cert::generate(&["localhost".to_owned(), "127.0.0.1".to_owned()], 3).unwrap();
    cert::write_bundle(dir, &longer, true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // Served with the new certificate, and the gauge set just after the reload.
        if let Some(now) = gauge(&agent(dir))
            && now != before
        {
            assert_eq!(now - before, 2.0 * 86_400.0, "{before} -> {now}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never served the new certificate, or the gauge never followed it"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

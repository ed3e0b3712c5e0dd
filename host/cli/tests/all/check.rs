//! `yungui check`: manifests decided as the webhook decides their CREATE. The folder
//! `tests/fixtures/check/manifests` holds several documents in a file, a `kind: List`, a JSON
//! file, and the output of `kubectl kustomize` (of `tests/fixtures/check/kustomize` and of
//! `deploy/kubernetes`); the PolicyReport output is validated against the CRD of
//! kubernetes-sigs/wg-policy-prototypes, vendored in `tests/fixtures/policyreport`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize as _;
use serde_json::Value;
use yungui_cli::commands::check::{self, Level, Verdict, manifests};

use super::{
    cache_dir, engine, example_registry_path, serve_args, serve_in_background, shipped_plugin,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn manifests_dir() -> String {
    fixtures().join("check/manifests").display().to_string()
}

/// `yungui check` with the shipped policies and the example registry, run in an empty folder.
fn yungui_check(args: &[&str]) -> Output {
    let empty = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_yungui"))
        .arg("check")
        .args(["--plugin", shipped_plugin()])
        .args(["--registry", &example_registry_path()])
        .args(args)
        .current_dir(empty.path())
        .env("YUNGUI_CACHE_DIR", cache_dir())
        .env_remove("YUNGUI_REGISTRY")
        .env_remove("YUNGUI_PLUGIN")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The JSON output's objects, by `source`.
fn objects(out: &Output) -> Vec<Value> {
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["objects"].as_array().unwrap().clone()
}

fn object<'a>(objects: &'a [Value], title: (&str, &str, &str)) -> &'a Value {
    let (kind, namespace, name) = title;
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["namespace"] == namespace && o["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{namespace}/{name} in {objects:#?}"))
}

/// The controls of an object's findings at `level` (`fail` or `warn`).
fn fired(object: &Value, level: &str) -> BTreeSet<String> {
    object["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter(|f| f["result"] == level)
                .map(|f| f["control"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_manifest_folder_is_decided_object_by_object() {
    let out = yungui_check(&["-f", &manifests_dir(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("registry: "), "{stderr}");
    let all = objects(&out);
    // Several documents in one file, numbered from 1.
    let ingress = object(&all, ("Ingress", "shop-example", "web"));
    assert!(
        ingress["source"]
            .as_str()
            .unwrap()
            .ends_with("10-shop.yaml:3")
    );
    assert_eq!(ingress["decision"], "decided");
    assert_eq!(
        fired(ingress, "fail"),
        BTreeSet::from(["art8-1-icp-filing".to_owned()])
    );
    assert_eq!(
        ingress["findings"][0]["subject"],
        "host `promo.unfiled.example.com`"
    );
    // The items of a List, each with its uid.
    let debug = object(&all, ("Pod", "shop-example", "debug"));
    assert!(
        debug["source"]
            .as_str()
            .unwrap()
            .ends_with("20-list.yaml:1 items[1]")
    );
    assert_eq!(debug["uid"], "00000001-0000-4000-8000-000000000001");
    assert_eq!(
        fired(debug, "fail"),
        BTreeSet::from(["art12-host-security".to_owned()])
    );
    // The rule is the policy's @id, the article the control's.
    let finding = &debug["findings"][0];
    assert!(
        finding["rule"]
            .as_str()
            .unwrap()
            .starts_with("art12-host-security."),
        "{finding}"
    );
    assert_eq!(finding["article"], "12");
    // JSON.
    let db = object(&all, ("StatefulSet", "shop-example", "db"));
    assert_eq!(db["decision"], "decided");
    assert!(fired(db, "fail").is_empty() && fired(db, "warn").is_empty());
    // kubectl kustomize's output: the overlay's namespace and labels are what is decided.
    let shop = object(&all, ("Deployment", "shop-example", "shop"));
    assert_eq!(
        fired(shop, "fail"),
        BTreeSet::from(["art12-host-security".to_owned()])
    );
    assert!(!fired(shop, "fail").contains("art8-2-agreed-purpose"));
    // Kinds the webhook does not decide, and exempt namespaces, are reported as skipped.
    let config = object(&all, ("ConfigMap", "shop-example", "settings"));
    assert_eq!(config["decision"], "skipped");
    let yungui = object(&all, ("Deployment", "yungui-system", "yungui"));
    assert_eq!(yungui["decision"], "skipped");
    assert!(yungui["reason"].as_str().unwrap().contains("exempt"));
    // A Namespace in the input labelled `yungui.io/mode: warn`: its objects' denials are
    // warnings, for the objects of every file.
    let warned = object(&all, ("Pod", "unverified-example", "unverified-web"));
    assert_eq!(warned["mode"], "warn");
    assert!(fired(warned, "fail").is_empty());
    assert!(fired(warned, "warn").contains("art8-1-real-name"));
    let agent = object(&all, ("Deployment", "unverified-example", "agent"));
    assert!(
        fired(agent, "fail").is_empty() && fired(agent, "warn").contains("art12-host-security")
    );

    // The text output: a line per object and control.
    let out = yungui_check(&["-f", &manifests_dir()]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.ends_with("20-list.yaml:1 items[0] Pod/shop-example/web: allow")),
        "{text}"
    );
    assert!(text.contains("Pod/shop-example/debug: deny art12-host-security (art. 12): "));
    assert!(text.contains("Pod/unverified-example/unverified-web: warn art8-1-real-name"));
    assert!(text.contains(
        "ConfigMap/shop-example/settings: skip: `ConfigMap` is not a kind yungui decides"
    ));
}

#[test]
fn exit_codes_say_allowed_denied_and_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let statefulset = fixtures().join("check/manifests/30-statefulset.json");
    let allowed = yungui_check(&["-f", statefulset.to_str().unwrap()]);
    assert_eq!(allowed.status.code(), Some(0), "{allowed:?}");

    // Audit: reported, and allowed.
    let audit = yungui_check(&["-f", &manifests_dir(), "--audit", "--format", "json"]);
    assert_eq!(audit.status.code(), Some(0), "{audit:?}");
    let debug = object(&objects(&audit), ("Pod", "shop-example", "debug")).clone();
    assert!(fired(&debug, "warn").contains("art12-host-security"));

    // A document that is no object, named by file and document; the others are still decided.
    let broken = dir.path().join("broken.yaml");
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop-example, labels: {yungui.io/purpose: website}}\nspec: {containers: [{name: web, image: nginx}]}\n";
    std::fs::write(
        &broken,
        format!("{pod}---\nkind: Pod\nmetadata: {{name: x}}\n---\n{pod}"),
    )
    .unwrap();
    let out = yungui_check(&["-f", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("broken.yaml:2: cannot read: not a Kubernetes object: no `apiVersion`"),
        "{text}"
    );
    assert!(
        text.contains("broken.yaml:3 Pod/shop-example/web: allow"),
        "{text}"
    );
    // Labels that are not strings: the API server's object type refuses them, and so does check.
    std::fs::write(
        &broken,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {a: [1]}}\n",
    )
    .unwrap();
    let out = yungui_check(&["-f", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        stdout(&out).contains("broken.yaml:1: cannot read: the Pod cannot be read"),
        "{out:?}"
    );
    // A file that is not there cannot run.
    let out = yungui_check(&["-f", "missing.yaml"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");

    // `--namespace` for objects that name none; without it, `default`, which is no tenant.
    let bare = dir.path().join("bare.yaml");
    std::fs::write(&bare, pod.replace("namespace: shop-example, ", "")).unwrap();
    let out = yungui_check(&["-f", bare.to_str().unwrap(), "-n", "shop-example"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = yungui_check(&["-f", bare.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let web = object(&objects(&out), ("Pod", "default", "web")).clone();
    assert_eq!(
        fired(&web, "fail"),
        BTreeSet::from(["registry-missing".to_owned()])
    );
    // Registry tenancy: a namespace the registry does not list is denied, naming it.
    let out = yungui_check(&[
        "-f",
        bare.to_str().unwrap(),
        "-n",
        "shop-example",
        "--namespace-tenancy",
        "registry",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stdout(&out).contains("deny namespace-unlisted"), "{out:?}");

    // Standard input, and a mode label of no known value: not decided.
    let mut child = Command::new(env!("CARGO_BIN_EXE_yungui"))
        .args([
            "check",
            "--plugin",
            shipped_plugin(),
            "--registry",
            &example_registry_path(),
        ])
        .env("YUNGUI_CACHE_DIR", cache_dir())
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: shop-example, labels: {{yungui.io/mode: off}}}}\n---\n{pod}"
    );
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("-:2 Pod/shop-example/web: error: namespace `shop-example` has the label `yungui.io/mode`"), "{text}");
}

/// Every object of every CREATE fixture of the webhook's tests, decided by `yungui check`, comes
/// to what the webhook answers for it: allowed or not, the same controls denying and warning.
#[test]
fn each_object_is_decided_as_the_webhook_decides_it() {
    let addr = serve_in_background(serve_args(&[
        "--listen",
        "127.0.0.1:0",
        "--registry",
        &example_registry_path(),
        "--plain-http",
        "--workers",
        "1",
        "--plugin",
        shipped_plugin(),
    ]));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let config = serve_args(&["--plain-http"]).kubernetes.config().unwrap();
    let rules = check::Rules::of(engine());
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/kubernetes"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
    paths.sort();
    let mut compared = 0;
    for path in paths {
        let review: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let request = &review["request"];
        if request["operation"] != "CREATE"
            || ["Namespace", "Binding"].contains(&request["kind"]["kind"].as_str().unwrap())
            || request["subResource"].is_string()
        {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let manifest = serde_norway::to_string(&request["object"]).unwrap();
        let documents = manifests::parse(&name, &manifest, false);
        let namespace = request["namespace"].as_str();
        let [checked] = <[check::Checked; 1]>::try_from(check::check(
            engine(),
            &config,
            &rules,
            namespace,
            documents,
        ))
        .unwrap();

        let mut response = agent
            .post(format!("http://{addr}/validate"))
            .header("content-type", "application/json")
            .send(review.to_string())
            .unwrap();
        let body: Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        let answer = &body["response"];
        let annotation = |key: &str| -> BTreeSet<String> {
            answer["auditAnnotations"][key]
                .as_str()
                .map(|s| s.split(',').map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let allowed = answer["allowed"].as_bool().unwrap();
        match &checked.verdict {
            Verdict::Decided { findings, .. } => {
                let of = |level: Level| -> BTreeSet<String> {
                    findings
                        .iter()
                        .filter(|f| f.result == level)
                        .map(|f| f.control.clone())
                        .collect()
                };
                assert_eq!(allowed, !checked.denied(), "{name}: {answer}");
                assert_eq!(of(Level::Fail), annotation("controls"), "{name}: {answer}");
                assert_eq!(of(Level::Warn), annotation("warnings"), "{name}: {answer}");
            }
            Verdict::Skipped { .. } => {
                assert!(allowed, "{name}: {answer}");
                assert!(
                    answer["auditAnnotations"]
                        .as_object()
                        .is_none_or(|a| a.is_empty()),
                    "{name}: {answer}"
                );
            }
            Verdict::Error { reason } => {
                assert!(!allowed, "{name}: {answer}");
                assert!(
                    [400, 500].contains(&answer["status"]["code"].as_u64().unwrap()),
                    "{name}: {reason} / {answer}"
                );
            }
            Verdict::Unreadable { reason } => panic!("{name}: {reason}"),
        }
        compared += 1;
    }
    assert!(compared >= 30, "only {compared} fixtures compared");
}

/// The CRD's schema of `version`, for `kind`.
fn crd_schema(kind: &str) -> Value {
    let file = match kind {
        "PolicyReport" => "wgpolicyk8s.io_policyreports.yaml",
        "ClusterPolicyReport" => "wgpolicyk8s.io_clusterpolicyreports.yaml",
        other => panic!("unexpected kind {other}"),
    };
    let text = std::fs::read_to_string(fixtures().join("policyreport").join(file)).unwrap();
    let crd = serde_norway::Deserializer::from_str(&text)
        .map(Value::deserialize)
        .find_map(|d| d.ok().filter(|d| !d.is_null()))
        .unwrap();
    assert_eq!(crd["spec"]["names"]["kind"], kind);
    crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "v1alpha2")
        .unwrap()["schema"]["openAPIV3Schema"]
        .clone()
}

/// Kubernetes drops the fields a structural schema does not declare: every field written must
/// be declared. Returns the undeclared ones.
fn undeclared(schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if schema.get("additionalProperties").is_some()
                || schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
            {
                return;
            }
            for (key, v) in map {
                // `metadata` is an ObjectMeta, which the API server checks itself.
                if at.is_empty() && key == "metadata" {
                    continue;
                }
                match schema.get("properties").and_then(|p| p.get(key)) {
                    Some(s) => undeclared(s, v, &format!("{at}.{key}"), out),
                    None => out.push(format!("{at}.{key}")),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                undeclared(&schema["items"], v, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_policy_report_is_valid_against_the_crd() {
    let dir = tempfile::tempdir().unwrap();
    // A Namespace whose mode label has no known value is refused: an error result in the
    // ClusterPolicyReport.
    let namespace = dir.path().join("namespace.yaml");
    std::fs::write(&namespace, "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop-twin, labels: {yungui.io/mode: off}}\n").unwrap();
    let out = yungui_check(&[
        "-f",
        &manifests_dir(),
        "-f",
        namespace.to_str().unwrap(),
        "--format",
        "policy-report",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let text = stdout(&out);
    let reports: Vec<Value> = serde_norway::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect();
    let kinds: Vec<&str> = reports
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.last(), Some(&"ClusterPolicyReport"), "{text}");
    assert!(
        kinds.iter().filter(|k| **k == "PolicyReport").count() >= 2,
        "{text}"
    );
    for report in &reports {
        let kind = report["kind"].as_str().unwrap();
        let schema = crd_schema(kind);
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(report)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{kind}: {errors:?}\n{report:#}");
        let mut extra = Vec::new();
        undeclared(&schema, report, "", &mut extra);
        assert!(
            extra.is_empty(),
            "{kind}: fields the CRD does not declare: {extra:?}"
        );
        assert_eq!(report["apiVersion"], "wgpolicyk8s.io/v1alpha2");
        // The summary counts the results.
        let results = report["results"].as_array().unwrap();
        for what in ["pass", "fail", "warn", "error", "skip"] {
            let n = results.iter().filter(|r| r["result"] == what).count();
            assert_eq!(report["summary"][what], n, "{what} in {report:#}");
        }
        for result in results {
            assert_eq!(result["source"], "yungui");
            assert_eq!(result["resources"].as_array().unwrap().len(), 1);
        }
    }
    // The validation fails on what the CRD refuses: it is not vacuous.
    let schema = crd_schema("PolicyReport");
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut bad = reports[0].clone();
    bad["results"][0]["result"] = Value::from("denied");
    assert!(!validator.is_valid(&bad));

    let shop = reports
        .iter()
        .find(|r| r["kind"] == "PolicyReport" && r["metadata"]["namespace"] == "shop-example")
        .unwrap();
    let results = shop["results"].as_array().unwrap();
    let debug = results
        .iter()
        .find(|r| r["resources"][0]["name"] == "debug" && r["policy"] == "art12-host-security")
        .unwrap();
    assert_eq!(debug["result"], "fail");
    assert!(
        debug["rule"]
            .as_str()
            .unwrap()
            .starts_with("art12-host-security.")
    );
    assert_eq!(debug["properties"]["article"], "12");
    assert_eq!(
        debug["resources"][0]["uid"],
        "00000001-0000-4000-8000-000000000001"
    );
    assert_eq!(debug["resources"][0]["apiVersion"], "v1");
    assert!(debug["timestamp"]["seconds"].as_u64().unwrap() > 1_700_000_000);
    let web = results
        .iter()
        .find(|r| r["resources"][0]["kind"] == "StatefulSet")
        .unwrap();
    assert_eq!(web["result"], "pass");
    // Skipped objects are not reported.
    assert!(
        !results
            .iter()
            .any(|r| r["resources"][0]["kind"] == "ConfigMap")
    );
    let warned = reports
        .iter()
        .find(|r| r["metadata"]["namespace"] == "unverified-example")
        .unwrap();
    assert!(
        warned["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["result"] == "warn")
    );
    let cluster = reports.last().unwrap();
    assert_eq!(cluster["results"][0]["result"], "error");
    assert_eq!(cluster["results"][0]["resources"][0]["name"], "shop-twin");
}

/// Golden cases written as manifests run with `yungui test`, beside the JSON ones; one whose
/// expectation is wrong fails, naming what differs.
#[test]
fn manifest_cases_run_with_yungui_test() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases/manifests");
    let run = |path: &Path| {
        Command::new(env!("CARGO_BIN_EXE_yungui"))
            .args(["test", "--plugin", shipped_plugin(), "--format", "json"])
            .arg(path)
            .env("YUNGUI_CACHE_DIR", cache_dir())
            .env_remove("YUNGUI_REGISTRY")
            .output()
            .unwrap()
    };
    let out = run(&cases);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["passed"].as_u64().unwrap() >= 5, "{report}");

    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(cases.join("deny-privileged-deployment.yaml"))
        .unwrap()
        .replace(
            "registry: ../../../examples/registry.json",
            &format!("registry: {}", example_registry_path()),
        )
        .replace("- art12-host-security", "- art7-in-territory");
    let wrong = dir.path().join("wrong.yaml");
    std::fs::write(&wrong, text).unwrap();
    let out = run(&wrong);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let failure = report["cases"][0]["failure"].as_str().unwrap();
    assert_eq!(
        failure,
        "expected denials [art7-in-territory], got [art12-host-security]"
    );
}

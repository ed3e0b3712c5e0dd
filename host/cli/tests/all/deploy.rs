//! The Kubernetes install as a cluster admin meets it: `deploy/kubernetes` copied, the per-cluster
//! files made as the README says (`yungui cert --kustomize`, the image pin that
//! `build-image.sh --push` writes), the base and every overlay rendered by `kubectl kustomize`,
//! and every ValidatingWebhookConfiguration's trust checked: each `caBundle` is a base64 PEM
//! certificate that verifies the serving certificate the overlay ships, or cert-manager injects it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier as _;
use serde::Deserialize as _;
use serde_json::Value;
use yungui_cli::commands::cert;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `kubectl kustomize DIR`, as a list of objects.
fn render(dir: &Path) -> Vec<Value> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run kubectl ({e}): install Debian's `kubectl` package; .ci/run does")
        });
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_norway::Deserializer::from_str(std::str::from_utf8(&out.stdout).unwrap())
        .map(|document| Value::deserialize(document).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// Standard base64 (RFC 4648, padded, no line breaks), as the API server reads `caBundle` and
/// Secret data; `None` for anything else.
fn unbase64(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if text.is_empty() || !text.len().is_multiple_of(4) {
        return None;
    }
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 {
        return None;
    }
    for c in body.bytes() {
        let value = ALPHABET.iter().position(|a| *a == c)?;
        bits = (bits << 6) | u32::try_from(value).unwrap();
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push(u8::try_from((bits >> count) & 0xff).unwrap());
        }
    }
    Some(out)
}

/// The certificates of a PEM text; none if it holds anything but certificates.
fn pem_certificates(pem: &[u8]) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject as _;
    let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    // Each must be X.509.
    if certs
        .iter()
        .any(|c| x509_parser::parse_x509_certificate(c).is_err())
    {
        return Vec::new();
    }
    certs
}

/// Whether `bundle` (PEM CA certificates) verifies `leaf` (PEM) for `name` now.
fn verifies(bundle: &[u8], leaf: &[u8], name: &str) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in pem_certificates(bundle) {
        roots.add(ca).map_err(|e| e.to_string())?;
    }
    let leaf = pem_certificates(leaf);
    let end_entity = leaf.first().ok_or("no certificate in tls.crt")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| e.to_string())?;
    verifier
        .verify_server_cert(
            end_entity,
            &[],
            &rustls_pki_types::ServerName::try_from(name.to_owned()).unwrap(),
            &[],
            rustls_pki_types::UnixTime::now(),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// What the webhook configurations of one rendering say about trust.
fn check_trust(what: &str, objects: &[Value]) -> &'static str {
    let configs = of_kind(objects, "ValidatingWebhookConfiguration");
    assert!(!configs.is_empty(), "{what}: no webhook configuration");
    let mut verdicts = BTreeSet::new();
    for config in configs {
        let name = config["metadata"]["name"].as_str().unwrap();
        let webhooks = config["webhooks"].as_array().unwrap();
        let bundles: Vec<&str> = webhooks
            .iter()
            .filter_map(|w| w["clientConfig"]["caBundle"].as_str())
            .collect();
        // Every bundle shipped is a base64 PEM certificate, whatever else holds.
        for bundle in &bundles {
            let pem = unbase64(bundle)
                .unwrap_or_else(|| panic!("{what}: {name}: caBundle `{bundle}` is not base64"));
            assert!(
                !pem_certificates(&pem).is_empty(),
                "{what}: {name}: caBundle is not a PEM certificate: {}",
                String::from_utf8_lossy(&pem)
            );
        }
        if let Some(from) =
            config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].as_str()
        {
            // cert-manager writes the bundles: none here, and the Certificate it names is in the
            // rendering, for the Service's names, into the Secret the server mounts.
            assert!(bundles.is_empty(), "{what}: {name}: injected and written");
            let (namespace, certificate) = from.split_once('/').unwrap();
            let certificate = of_kind(objects, "Certificate")
                .into_iter()
                .find(|c| {
                    c["apiVersion"] == "cert-manager.io/v1"
                        && c["metadata"]["namespace"] == namespace
                        && c["metadata"]["name"] == certificate
                })
                .unwrap_or_else(|| panic!("{what}: {name}: no Certificate `{from}`"));
            assert_eq!(certificate["spec"]["secretName"], mounted_secret(objects));
            let dns: Vec<&str> = certificate["spec"]["dnsNames"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            for webhook in webhooks {
                assert!(
                    dns.contains(&service_name(webhook).as_str()),
                    "{what}: {name}: {dns:?}"
                );
            }
            verdicts.insert("injected");
        } else if bundles.is_empty() {
            verdicts.insert("none");
        } else {
            // Written: every entry has one, and it verifies the serving certificate shipped
            // beside it (the Secret the server mounts) for the Service's name.
            assert_eq!(bundles.len(), webhooks.len(), "{what}: {name}");
            let secret_name = mounted_secret(objects);
            let secret = of_kind(objects, "Secret")
                .into_iter()
                .find(|s| s["metadata"]["name"] == secret_name.as_str())
                .unwrap_or_else(|| panic!("{what}: a bundle but no Secret `{secret_name}`"));
            let leaf = unbase64(secret["data"]["tls.crt"].as_str().unwrap()).unwrap();
            for webhook in webhooks {
                let bundle = unbase64(webhook["clientConfig"]["caBundle"].as_str().unwrap());
                verifies(&bundle.unwrap(), &leaf, &service_name(webhook))
                    .unwrap_or_else(|e| panic!("{what}: {name}: {e}"));
            }
            verdicts.insert("written");
        }
    }
    assert_eq!(verdicts.len(), 1, "{what}: {verdicts:?}");
    verdicts.pop_first().unwrap()
}

/// The Secret the Deployment mounts at /etc/yungui/tls.
fn mounted_secret(objects: &[Value]) -> String {
    let deployment = of_kind(objects, "Deployment")[0];
    let spec = &deployment["spec"]["template"]["spec"];
    let mount = spec["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/etc/yungui/tls")
        .unwrap();
    let volume = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    volume["secret"]["secretName"].as_str().unwrap().to_owned()
}

/// The DNS name the API server calls an entry's Service by.
fn service_name(webhook: &Value) -> String {
    let service = &webhook["clientConfig"]["service"];
    format!(
        "{}.{}.svc",
        service["name"].as_str().unwrap(),
        service["namespace"].as_str().unwrap()
    )
}

#[test]
fn every_overlay_renders_and_every_webhook_bundle_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("kubernetes");
    copy_dir(&deploy(), &copy);
    // The example's TLS, one step: the Component with the Secret and the caBundle replacement.
    let tls = copy.join("overlays/example/tls");
    assert!(
        !tls.exists(),
        "overlays/example/tls is per cluster: not shipped"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_yungui"))
        .args(["cert", "--days", "30", "--out"])
        .arg(dir.path().join("certs"))
        .arg("--kustomize")
        .arg(&tls)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // The production overlay's pin, as build-image.sh --push writes it.
    let pin = copy.join("overlays/production/image");
    assert!(
        !pin.exists(),
        "overlays/production/image is per cluster: not shipped"
    );
    std::fs::create_dir_all(&pin).unwrap();
    let digest = "sha256:0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a09080706050403020100f";
    std::fs::write(
        pin.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nimages:\n  - name: registry.example.cn/yungui/yungui\n    newName: registry.example.cn/platform/yungui\n    digest: {digest}\n"
        ),
    )
    .unwrap();

    // The base alone carries no bundle (an overlay supplies it), and nothing it ships is false.
    assert_eq!(check_trust("base", &render(&copy)), "none");
    let mut overlays: Vec<String> = std::fs::read_dir(copy.join("overlays"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    overlays.sort();
    assert_eq!(
        overlays,
        ["cert-manager", "example", "oci", "postgres", "production"],
        "a new overlay: say here how it supplies the caBundle"
    );
    for overlay in &overlays {
        let objects = render(&copy.join("overlays").join(overlay));
        let verdict = check_trust(overlay, &objects);
        let expected = if overlay == "example" {
            "written"
        } else {
            "injected"
        };
        assert_eq!(verdict, expected, "{overlay}");
        if overlay == "example" {
            // The bundle is the CA `yungui cert` wrote.
            let ca = std::fs::read(dir.path().join("certs/ca.crt")).unwrap();
            let config = of_kind(&objects, "ValidatingWebhookConfiguration")[0];
            assert_eq!(
                config["webhooks"][4]["clientConfig"]["caBundle"],
                cert::base64(&ca)
            );
        }
        if overlay == "production" {
            production_defaults(&objects, digest);
        }
        if overlay == "oci" {
            oci_overlay(&objects, dir.path());
        }
    }
}

/// The OCI overlay: the component from a registry by tag, the trust policy it ships parses and
/// trusts a key for that repository, and the pull secret is read as a docker config.
fn oci_overlay(objects: &[Value], dir: &Path) {
    let deployment = of_kind(objects, "Deployment")[0];
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let env = |name: &str| {
        container["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let plugin = env("YUNGUI_PLUGIN");
    let reference = plugin.strip_prefix("oci://").unwrap();
    let reference = yungui_oci::OciRef::parse(reference).unwrap();
    assert!(reference.tag().is_some(), "{plugin}");
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let policy_arg = args
        .iter()
        .find_map(|a| a.strip_prefix("--trust-policy="))
        .unwrap();
    let config_map = of_kind(objects, "ConfigMap")
        .into_iter()
        .find(|c| c["data"]["trust-policy.yaml"].is_string())
        .unwrap();
    let policy = dir.join("trust-policy.yaml");
    std::fs::write(
        &policy,
        config_map["data"]["trust-policy.yaml"].as_str().unwrap(),
    )
    .unwrap();
    let trust = yungui_oci::TrustPolicy::from_file(&policy).unwrap();
    assert!(!trust.keys_for(&reference.repository()).is_empty());
    // Mounted where the argument says, from that ConfigMap.
    let volumes = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    let trust_volume = volumes
        .iter()
        .find(|v| v["configMap"]["name"] == config_map["metadata"]["name"])
        .unwrap();
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == trust_volume["name"])
        .unwrap();
    assert_eq!(
        format!("{}/trust-policy.yaml", mount["mountPath"].as_str().unwrap()),
        policy_arg
    );
    // The pull secret as $DOCKER_CONFIG/config.json, optional (anonymous pulls without it).
    let auth = volumes
        .iter()
        .find(|v| v["secret"]["items"][0]["key"] == ".dockerconfigjson")
        .unwrap();
    assert_eq!(auth["secret"]["items"][0]["path"], "config.json");
    assert_eq!(auth["secret"]["optional"], true);
    let auth_mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == auth["name"])
        .unwrap();
    assert_eq!(
        env("DOCKER_CONFIG"),
        auth_mount["mountPath"].as_str().unwrap()
    );
}

/// A bundle that cannot verify is caught: a placeholder, text that is not base64, another CA.
#[test]
fn a_bundle_that_cannot_verify_is_refused() {
    let good = cert::generate(&["yungui.yungui-system.svc".to_owned()], 2).unwrap();
    let other = cert::generate(&["yungui.yungui-system.svc".to_owned()], 2).unwrap();
    assert!(
        verifies(
            good.ca_cert.as_bytes(),
            good.cert.as_bytes(),
            "yungui.yungui-system.svc"
        )
        .is_ok()
    );
    assert!(
        verifies(
            other.ca_cert.as_bytes(),
            good.cert.as_bytes(),
            "yungui.yungui-system.svc"
        )
        .is_err()
    );
    assert!(
        verifies(
            good.ca_cert.as_bytes(),
            good.cert.as_bytes(),
            "yungui.other.svc"
        )
        .is_err()
    );
    // The bundles the example overlay and the base used to ship.
    let placeholder = unbase64("Q0EgQlVORExFIEdPRVMgSEVSRQ==").unwrap();
    assert_eq!(placeholder, b"CA BUNDLE GOES HERE");
    assert!(pem_certificates(&placeholder).is_empty());
    assert!(unbase64("CA_BUNDLE").is_none());
    assert_eq!(
        unbase64(&cert::base64(good.ca_cert.as_bytes())).unwrap(),
        good.ca_cert.as_bytes()
    );
}

/// The production overlay: image by digest, a PriorityClass of its own, zone and node spread, a
/// ServiceMonitor over verified HTTPS, and the dashboard's ConfigMap.
fn production_defaults(objects: &[Value], digest: &str) {
    let deployment = of_kind(objects, "Deployment")[0];
    let spec = &deployment["spec"]["template"]["spec"];
    let image = spec["containers"][0]["image"].as_str().unwrap();
    assert!(image.ends_with(&format!("@{digest}")), "{image}");
    let class = spec["priorityClassName"].as_str().unwrap();
    assert!(
        !class.starts_with("system-"),
        "{class} is reserved for kube-system"
    );
    let priority = of_kind(objects, "PriorityClass")
        .into_iter()
        .find(|p| p["metadata"]["name"] == class)
        .unwrap_or_else(|| panic!("no PriorityClass `{class}`"));
    let value = priority["value"].as_i64().unwrap();
    assert!(value > 0 && value < 1_000_000_000, "{value}");
    let spread = spec["topologySpreadConstraints"].as_array().unwrap();
    let by = |key: &str| {
        spread
            .iter()
            .find(|c| c["topologyKey"] == key)
            .unwrap_or_else(|| panic!("no spread over {key}: {spread:?}"))
    };
    assert_eq!(
        by("topology.kubernetes.io/zone")["whenUnsatisfiable"],
        "DoNotSchedule"
    );
    by("kubernetes.io/hostname");
    assert!(deployment["spec"]["replicas"].as_u64().unwrap() >= 3);
    let monitor = of_kind(objects, "ServiceMonitor")[0];
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["scheme"], "https");
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(endpoint["tlsConfig"]["ca"]["secret"]["key"], "ca.crt");
    assert!(endpoint["tlsConfig"]["insecureSkipVerify"].is_null());
    let dashboard = of_kind(objects, "ConfigMap")
        .into_iter()
        .find(|c| c["metadata"]["labels"]["grafana_dashboard"] == "1")
        .unwrap_or_else(|| panic!("no ConfigMap labelled grafana_dashboard: \"1\""));
    let json = dashboard["data"]["yungui-dashboard.json"].as_str().unwrap();
    let shipped =
        std::fs::read_to_string(deploy().join("overlays/production/yungui-dashboard.json"))
            .unwrap();
    assert_eq!(json, shipped);
}

/// The metric names a dashboard's queries use (`yungui_...`).
pub fn dashboard_metrics() -> BTreeSet<String> {
    let path = deploy().join("overlays/production/yungui-dashboard.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"].as_str() {
            exprs.push(query.to_owned());
        }
    }
    let mut names = BTreeSet::new();
    for expr in exprs {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("yungui_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            names.insert(tail[..end].to_owned());
            rest = &tail[end..];
        }
    }
    names
}

/// Renewing as the README says: `yungui cert --ca-cert --ca-key` rewrites the server certificate
/// and key only, under the same CA (so the caBundle printed is the same), and the flags go
/// together.
#[test]
fn cert_renews_under_the_same_ca_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let yungui = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_yungui"))
            .arg("cert")
            .args(args)
            .output()
            .unwrap()
    };
    let out_dir = certs.to_str().unwrap();
    let first = yungui(&["--out", out_dir, "--days", "10", "--ca-days", "20"]);
    assert!(first.status.success(), "{first:?}");
    let ca = std::fs::read(certs.join("ca.crt")).unwrap();
    let ca_key = std::fs::read(certs.join("ca.key")).unwrap();
    let old_cert = std::fs::read(certs.join("tls.crt")).unwrap();
    let ca_cert_path = certs.join("ca.crt");
    let ca_key_path = certs.join("ca.key");
    let (ca_cert_arg, ca_key_arg) = (
        ca_cert_path.to_str().unwrap(),
        ca_key_path.to_str().unwrap(),
    );

    // Existing tls.* are not replaced without --force.
    let refused = yungui(&[
        "--out",
        out_dir,
        "--ca-cert",
        ca_cert_arg,
        "--ca-key",
        ca_key_arg,
    ]);
    assert!(!refused.status.success(), "{refused:?}");
    // A server certificate outliving the CA (20 days) is refused.
    let too_long = yungui(&[
        "--out",
        out_dir,
        "--ca-cert",
        ca_cert_arg,
        "--ca-key",
        ca_key_arg,
        "--days",
        "30",
        "--force",
    ]);
    assert!(!too_long.status.success(), "{too_long:?}");
    assert!(
        String::from_utf8_lossy(&too_long.stderr).contains("before the server certificate"),
        "{too_long:?}"
    );
    let renewed = yungui(&[
        "--out",
        out_dir,
        "--ca-cert",
        ca_cert_arg,
        "--ca-key",
        ca_key_arg,
        "--days",
        "15",
        "--force",
    ]);
    assert!(renewed.status.success(), "{renewed:?}");
    assert_eq!(renewed.stdout, first.stdout, "the same caBundle");
    assert_eq!(std::fs::read(certs.join("ca.crt")).unwrap(), ca);
    assert_eq!(std::fs::read(certs.join("ca.key")).unwrap(), ca_key);
    let new_cert = std::fs::read(certs.join("tls.crt")).unwrap();
    assert_ne!(new_cert, old_cert);
    verifies(&ca, &new_cert, "yungui.yungui-system.svc").unwrap();

    // The flags go together, and a CA is either reused or made.
    for args in [
        &["--out", out_dir, "--ca-cert", ca_cert_arg][..],
        &["--out", out_dir, "--ca-key", ca_key_arg][..],
        &[
            "--out",
            out_dir,
            "--ca-cert",
            ca_cert_arg,
            "--ca-key",
            ca_key_arg,
            "--ca-days",
            "5",
        ][..],
    ] {
        let out = yungui(args);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {out:?}");
    }
}

//! `yungui analyze` and `yungui diff` on a built component: the policy set it carries is the one
//! analysed. Needs the solver (cvc5: `$CVC5` or on `PATH`, Debian package `cvc5`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{cache_dir, shipped_plugin};

fn yungui(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yungui"))
        .args(args)
        .current_dir(repo())
        .env("YUNGUI_CACHE_DIR", cache_dir())
        .env_remove("YUNGUI_PLUGIN")
        .output()
        .unwrap()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The shipped schema and policies (no properties, no notice), with `edit` applied to `file`'s
/// text.
pub(super) fn edited_policies(file: &str, edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_some_and(|e| e == "cedar" || e == "cedarschema")
        {
            let name = path.file_name().unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            let text = if name == file { edit(&text) } else { text };
            std::fs::write(dir.path().join(name), text).unwrap();
        }
    }
    dir
}

/// The host-access forbid narrowed to privileged workloads: host access alone gets through.
pub(super) const HOST_ACCESS: &str = "when { resource.host_access };";
pub(super) const HOST_ACCESS_WEAKER: &str = "when { resource.host_access && resource.privileged };";

#[test]
fn analyze_proves_the_properties_against_a_built_component() {
    let proven = yungui(&[
        "analyze",
        "--plugin",
        shipped_plugin(),
        "--properties-only",
        "--property",
        "p12.host-protected",
        "--property",
        "p2.operator-scope",
    ]);
    let text = stdout(&proven);
    assert_eq!(proven.status.code(), Some(0), "{proven:?}");
    assert!(text.contains("proven  p2.operator-scope "), "{text}");
    assert!(text.contains("2 of 2 properties proven"), "{text}");
}

#[test]
fn analyze_refuses_a_file_that_carries_no_policy_set() {
    let refused = yungui(&["analyze", "--plugin", "Cargo.toml"]);
    assert_eq!(refused.status.code(), Some(3), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("carries no policy set to analyse"),
        "{refused:?}"
    );
}

#[test]
fn diff_compares_a_built_component_with_a_policy_folder() {
    let same = yungui(&["diff", shipped_plugin(), "policies"]);
    assert_eq!(same.status.code(), Some(0), "{same:?}");
    assert!(stdout(&same).contains("equivalent: 0 of"), "{same:?}");

    let weaker = edited_policies("art12-security.cedar", |text| {
        assert!(text.contains(HOST_ACCESS));
        text.replace(HOST_ACCESS, HOST_ACCESS_WEAKER)
    });
    let new = weaker.path().display().to_string();
    let different = yungui(&["diff", shipped_plugin(), &new]);
    let text = stdout(&different);
    assert_eq!(different.status.code(), Some(1), "{different:?}");
    assert!(
        text.contains("more permissive  Tenant provision_workload Workload"),
        "{text}"
    );
    // The example each way is a request the new set allows: host access, unprivileged.
    assert!(text.contains("\"host_access\":true"), "{text}");
    assert!(text.contains("different: 2 of"), "{text}");
}

/// Builds the shipped policies with `edit` applied to `art12-security.cedar`.
pub(super) fn built_with(edit: &str) -> Vec<u8> {
    let dir = edited_policies("art12-security.cedar", |text| {
        assert!(text.contains(HOST_ACCESS));
        text.replace(HOST_ACCESS, edit)
    });
    let sources = yungui_policies::Sources::read_dir(dir.path()).unwrap();
    yungui::builder::build(&sources, Some(&cache_dir()))
        .unwrap()
        .wasm
}

/// Replaces a file the way a deploy does: a new file renamed over the old one.
fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn get(addr: std::net::SocketAddr, path: &str) -> String {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .get(format!("http://{addr}{path}"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

/// The controls that deny a workload of shop-example (`purpose`, with host access or not),
/// decided by the server's clock.
fn denied_by(addr: std::net::SocketAddr, purpose: &str, host_access: bool) -> Vec<String> {
    let mut request = super::workload("shop-example", "shop-example", "cn-north-1", false);
    request["resource"]["attrs"]["purpose"] = serde_json::json!(purpose);
    request["resource"]["attrs"]["host_access"] = serde_json::json!(host_access);
    request["context"] = serde_json::json!({});
    let body = ureq::post(format!("http://{addr}/v1/decide"))
        .send(request.to_string())
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    super::fired_controls(&serde_json::from_str(&body).unwrap())
}

/// Waits (two minutes at most) until `/readyz` says `what`.
fn ready_when(addr: std::net::SocketAddr, what: &[&str]) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let ready = get(addr, "/readyz");
        if what.iter().all(|w| ready.contains(w)) {
            return ready;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/readyz never said {what:?}: {ready}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn serve_refuses_a_more_permissive_reload_and_takes_a_stricter_one() {
    let weaker = built_with(HOST_ACCESS_WEAKER);
    let stricter = built_with(
        "when { resource.host_access || (resource has purpose && resource.purpose == \"website\") };",
    );
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("policies.wasm");
    std::fs::copy(shipped_plugin(), &plugin).unwrap();
    let registry = super::example_registry_path();
    let addr = super::serve_in_background(super::serve_args(&[
        "--listen",
        "127.0.0.1:0",
        "--registry",
        &registry,
        "--plain-http",
        "--workers",
        "2",
        "--plugin-watch-secs",
        "1",
        "--plugin",
        plugin.to_str().unwrap(),
        "--refuse-more-permissive",
    ]));
    let shipped = yungui::builder::sha256_hex(&std::fs::read(shipped_plugin()).unwrap());
    let host = "art12-host-security".to_owned();
    assert_eq!(denied_by(addr, "website", true), vec![host.clone()]);
    assert!(denied_by(addr, "website", false).is_empty());

    // Host access let through without privileges: refused, with a request showing it; the
    // shipped set keeps deciding.
    replace(&plugin, &weaker);
    let ready = ready_when(addr, &["refused", "more permissive"]);
    assert!(ready.contains(&shipped), "{ready}");
    assert!(
        ready.contains("Tenant provision_workload Workload")
            && ready.contains("\"host_access\":true"),
        "{ready}"
    );
    assert!(get(addr, "/metrics").contains("yungui_component_loads_total{result=\"failure\"} 1"));
    assert_eq!(denied_by(addr, "website", true), vec![host.clone()]);

    // Stricter (every website workload denied too): swapped in.
    replace(&plugin, &stricter);
    let ready = ready_when(addr, &[&yungui::builder::sha256_hex(&stricter)]);
    assert!(!ready.contains("refused"), "{ready}");
    assert_eq!(denied_by(addr, "website", false), vec![host]);
}

#[test]
fn refuse_more_permissive_needs_a_watched_component_and_the_solver() {
    let words = |extra: &[&str]| {
        let mut words = vec![
            "--listen",
            "127.0.0.1:0",
            "--plain-http",
            "--refuse-more-permissive",
        ];
        words.extend_from_slice(extra);
        super::serve_args(&words).config()
    };
    let no_file = words(&["--policies", "policies"]).unwrap_err().to_string();
    assert!(no_file.contains("--plugin FILE"), "{no_file}");
    let plugin = shipped_plugin();
    let unwatched = words(&["--plugin", plugin, "--plugin-watch-secs", "0"])
        .unwrap_err()
        .to_string();
    assert!(unwatched.contains("--plugin-watch-secs"), "{unwatched}");
    assert!(words(&["--plugin", plugin]).is_ok());
    // Without the solver the server does not start, and says which package brings it.
    let missing = Command::new(env!("CARGO_BIN_EXE_yungui"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--plain-http",
            "--plugin",
            plugin,
            "--refuse-more-permissive",
        ])
        .env("CVC5", "/nonexistent/cvc5")
        .output()
        .unwrap();
    assert!(!missing.status.success(), "{missing:?}");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("--refuse-more-permissive") && stderr.contains("apt-get install cvc5"),
        "{stderr}"
    );
}

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

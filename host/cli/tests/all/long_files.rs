//! `tests/long-files.sh`, CI's check that no Rust file outside tests is over 600 lines without a
//! reason in its module doc, run on trees made for the purpose.

use std::path::Path;
use std::process::Command;

/// Writes `lines` lines of Rust to `root/path`, the first ones `head`.
fn write(root: &Path, path: &str, head: &[&str], lines: usize) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let mut text: Vec<String> = head.iter().map(|l| (*l).to_owned()).collect();
    text.extend((text.len()..lines).map(|i| format!("const C{i}: u32 = {i};")));
    std::fs::write(file, text.join("\n") + "\n").unwrap();
}

/// The script's exit code and what it printed.
fn check(root: &Path) -> (i32, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/long-files.sh");
    let out = Command::new("bash").arg(script).arg(root).output().unwrap();
    assert!(out.stderr.is_empty(), "{out:?}");
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn a_long_file_needs_a_reason_in_its_module_doc() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "host/a/src/short.rs", &["//! Short."], 600);
    write(root, "host/a/tests/all/long.rs", &[], 900);
    write(root, "host/a/benches/long.rs", &[], 900);
    write(root, "plugin/target/debug/build/out.rs", &[], 900);
    write(
        root,
        "policies/src/reasoned.rs",
        &[
            "//! Tables.",
            "//!",
            "//! Long file: one table per article.",
        ],
        700,
    );
    assert_eq!(check(root), (0, String::new()));

    write(root, "host/a/src/long.rs", &["//! Long."], 601);
    write(root, "plugin/src/empty_reason.rs", &["//! Long file:"], 650);
    write(
        root,
        "policies/src/not_module_doc.rs",
        &["// Long file: why"],
        650,
    );
    write(
        root,
        "host/b/src/inner.rs",
        &["mod inner {", "    //! Long file: an inner module's reason"],
        650,
    );
    let (code, out) = check(root);
    assert_eq!(code, 1, "{out}");
    let named: Vec<&str> = out.lines().filter_map(|l| l.split(": ").next()).collect();
    assert_eq!(
        named,
        [
            "host/a/src/long.rs",
            "host/b/src/inner.rs",
            "plugin/src/empty_reason.rs",
            "policies/src/not_module_doc.rs",
            "4 Rust file(s) over 600 lines without a reason",
        ],
        "{out}"
    );
    assert!(
        out.contains("host/a/src/long.rs: 601 lines, over 600"),
        "{out}"
    );
    assert!(out.contains("//! Long file: …"), "{out}");
}

//! The documentation agrees with what ships: README's controls table lists exactly the controls
//! of the built-in policies, and the policies README's matrix names only controls that exist. (CI
//! checks the committed trace report with `yungui report --check`.)

use std::collections::BTreeSet;
use std::path::Path;

use super::engine;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn readme_controls_table_lists_exactly_the_shipped_controls() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("\n## Controls\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap();
    let listed: BTreeSet<String> = section
        .lines()
        .filter(|line| line.starts_with("| art"))
        .map(|line| {
            let cell = line.trim_start_matches("| ").split(" |").next().unwrap();
            cell.trim_end_matches(" (warn)").to_owned()
        })
        .collect();
    let shipped: BTreeSet<String> = engine()
        .controls()
        .unwrap()
        .into_iter()
        .map(|c| c.control)
        .collect();
    assert_eq!(
        listed, shipped,
        "README's controls table and the policies differ"
    );
}

#[test]
fn every_control_in_the_policies_readme_matrix_exists() {
    let text = std::fs::read_to_string(root().join("policies/README.md")).unwrap();
    let shipped: Vec<String> = engine()
        .controls()
        .unwrap()
        .into_iter()
        .map(|c| c.control)
        .collect();
    let rows = text.lines().filter(|l| {
        l.strip_prefix("| art")
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    });
    for line in rows {
        let prefix = line.trim_start_matches("| ").split(' ').next().unwrap();
        assert!(
            shipped.iter().any(|c| c.starts_with(prefix)),
            "policies/README.md names `{prefix}`, which is no control's prefix"
        );
    }
}

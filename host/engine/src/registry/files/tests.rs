//! The file registry's unit tests.

use super::*;

fn tenant(id: &str, verified: bool) -> String {
    format!(
        r#"{{"uid": {{"type": "Cloud::Tenant", "id": "{id}"}}, "attrs": {{"real_name_verified": {verified}}}, "parents": []}}"#
    )
}

fn write(dir: &Path, name: &str, entities: &[String]) {
    std::fs::write(dir.join(name), format!("[{}]", entities.join(","))).unwrap();
}

fn no_check(_: &Diff) -> Result<(), String> {
    Ok(())
}

fn verified(registry: &Registry, id: &str) -> Option<bool> {
    registry
        .get("Cloud::Tenant", id)
        .map(|text| text.contains("\"real_name_verified\": true"))
}

#[test]
fn a_directory_holds_its_json_files_and_no_uid_twice() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.json", &[tenant("a", true)]);
    write(dir.path(), "b.json", &[tenant("b", true)]);
    std::fs::write(dir.path().join("..data"), "x").unwrap();
    std::fs::write(dir.path().join(".c.json"), "x").unwrap();
    std::fs::write(dir.path().join("README"), "x").unwrap();
    let (registry, _) = Files::load(dir.path()).unwrap();
    assert_eq!(registry.len(), 2);
    assert_eq!(verified(&registry, "b"), Some(true));

    write(dir.path(), "c.json", &[tenant("a", false)]);
    let err = Files::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("`Cloud::Tenant::\"a\"` is in both"), "{err}");
    assert!(err.contains("a.json") && err.contains("c.json"), "{err}");

    std::fs::write(dir.path().join("c.json"), "[{\"attrs\": {}}]").unwrap();
    let err = Files::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("c.json") && err.contains("#0"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let err = Files::load(empty.path()).unwrap_err().to_string();
    assert!(err.contains("holds no `*.json` file"), "{err}");
}

#[test]
fn only_changed_files_are_read_and_only_changed_entities_applied() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.json",
        &[tenant("a1", true), tenant("a2", true)],
    );
    write(dir.path(), "b.json", &[tenant("b1", true)]);
    let (registry, mut files) = Files::load(dir.path()).unwrap();
    let nothing = files.update(&registry, no_check);
    assert!(nothing.registry.is_none() && nothing.applied.is_empty());

    // b.json is overwritten in place with garbage of the same length and its old
    // modification time: unchanged by its stamp, so it must not be read.
    let b = dir.path().join("b.json");
    let modified = std::fs::metadata(&b).unwrap().modified().unwrap();
    let len = std::fs::metadata(&b).unwrap().len();
    std::fs::write(&b, "x".repeat(usize::try_from(len).unwrap())).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&b)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    write(
        dir.path(),
        "a.json",
        &[tenant("a1", false), tenant("a2", true)],
    );
    let update = files.update(&registry, no_check);
    assert!(update.refused.is_empty(), "{:?}", update.refused);
    assert_eq!(update.applied, vec![(dir.path().join("a.json"), 1, 0)]);
    let next = update.registry.unwrap();
    assert_eq!(verified(&next, "a1"), Some(false));
    assert_eq!(verified(&next, "b1"), Some(true));
    let changed: Vec<String> = next
        .changed_since(registry.generation())
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(changed, ["Cloud::Tenant::\"a1\""]);
}

#[test]
fn a_refused_file_keeps_its_entities_and_the_others_apply() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.json", &[tenant("a", true)]);
    write(dir.path(), "b.json", &[tenant("b", true)]);
    let (registry, mut files) = Files::load(dir.path()).unwrap();
    std::fs::write(dir.path().join("a.json"), "not json").unwrap();
    write(dir.path(), "b.json", &[tenant("b", false)]);
    let update = files.update(&registry, no_check);
    assert_eq!(update.refused.len(), 1);
    assert!(
        update.refused[0].1.contains("a.json"),
        "{:?}",
        update.refused
    );
    let next = update.registry.unwrap();
    assert_eq!(verified(&next, "a"), Some(true));
    assert_eq!(verified(&next, "b"), Some(false));
    // Refused for what it holds: not read again until it changes.
    let again = files.update(&next, no_check);
    assert!(again.refused.is_empty() && again.registry.is_none());

    // The check (the schema) refuses a file the same way.
    write(dir.path(), "a.json", &[tenant("a", false)]);
    let update = files.update(&next, |diff| {
        if diff.texts().any(|t| t.contains("false")) {
            Err("wrong".to_owned())
        } else {
            Ok(())
        }
    });
    assert_eq!(
        update.refused,
        vec![(dir.path().join("a.json"), "wrong".to_owned())]
    );
    assert!(update.registry.is_none());
}

#[test]
fn uids_move_between_files_and_a_claim_on_a_held_uid_waits() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.json",
        &[tenant("x", true), tenant("a", true)],
    );
    write(dir.path(), "b.json", &[tenant("b", true)]);
    let (registry, mut files) = Files::load(dir.path()).unwrap();

    // b.json claims x while a.json still holds it: refused, naming both.
    write(
        dir.path(),
        "b.json",
        &[tenant("b", true), tenant("x", true)],
    );
    let update = files.update(&registry, no_check);
    assert!(update.registry.is_none());
    let why = &update.refused[0].1;
    assert!(why.contains("a.json") && why.contains("b.json"), "{why}");

    // a.json lets go of x: b.json's change, waiting, applies with it, and x stays.
    write(dir.path(), "a.json", &[tenant("a", true)]);
    let update = files.update(&registry, no_check);
    assert!(update.refused.is_empty(), "{:?}", update.refused);
    assert_eq!(update.applied.len(), 2);
    let next = update.registry.unwrap_or(registry);
    assert_eq!(verified(&next, "x"), Some(true));
    assert_eq!(next.len(), 3);

    // A file gone takes its entities.
    std::fs::remove_file(dir.path().join("b.json")).unwrap();
    let update = files.update(&next, no_check);
    let last = update.registry.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(verified(&last, "x"), None);
}

/// A stale copy of a uid waiting in a refused file does not win over the file the uid moves
/// to: while both claim it, neither takes it.
#[test]
fn a_uid_claimed_by_two_files_is_taken_by_neither() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.json",
        &[tenant("x", false), tenant("a", true)],
    );
    write(dir.path(), "c.json", &[tenant("c", true)]);
    let (registry, mut files) = Files::load(dir.path()).unwrap();
    // An old export lands in the directory with a verified copy of x: refused.
    write(dir.path(), "b.json", &[tenant("x", true)]);
    let update = files.update(&registry, no_check);
    assert!(update.registry.is_none());
    assert_eq!(update.refused.len(), 1);

    // x moves from a.json to c.json in one step: the stale claim of b.json must not win.
    write(dir.path(), "a.json", &[tenant("a", true)]);
    write(
        dir.path(),
        "c.json",
        &[tenant("c", true), tenant("x", false)],
    );
    let update = files.update(&registry, no_check);
    let refused: Vec<&PathBuf> = update.refused.iter().map(|(path, _)| path).collect();
    assert!(
        refused.contains(&&dir.path().join("b.json"))
            && refused.contains(&&dir.path().join("c.json")),
        "{:?}",
        update.refused
    );
    let next = update.registry.unwrap();
    assert_eq!(verified(&next, "x"), None, "x is in two files: in neither");
    assert_eq!(verified(&next, "c"), Some(true));

    // The stale file goes: x is c.json's.
    std::fs::remove_file(dir.path().join("b.json")).unwrap();
    let update = files.update(&next, no_check);
    assert!(update.refused.is_empty(), "{:?}", update.refused);
    let last = update.registry.unwrap();
    assert_eq!(verified(&last, "x"), Some(false));
}

#[test]
fn a_single_file_is_diffed_whole() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "r.json",
        &[tenant("a", true), tenant("b", true)],
    );
    let path = dir.path().join("r.json");
    let (registry, mut files) = Files::load(&path).unwrap();
    write(dir.path(), "r.json", &[tenant("a", false)]);
    let update = files.update(&registry, no_check);
    assert_eq!(update.applied, vec![(path.clone(), 1, 1)]);
    let next = update.registry.unwrap();
    assert_eq!(verified(&next, "a"), Some(false));
    assert_eq!(verified(&next, "b"), None);
    std::fs::remove_file(&path).unwrap();
    let update = files.update(&next, no_check);
    assert!(update.registry.is_none());
    assert!(
        update.refused[0].1.contains("cannot read"),
        "{:?}",
        update.refused
    );
}

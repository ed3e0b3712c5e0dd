//! The registry's unit tests.

use super::*;

#[test]
fn indexes_by_uid_in_both_forms() {
    let registry = Registry::from_json(
        r#"[{"uid": {"type": "Cloud::Tenant", "id": "a"}, "attrs": {}, "parents": []},
            {"uid": {"__entity": {"type": "Cloud::Region", "id": "cn"}}, "attrs": {"in_territory": true}, "parents": []}]"#,
    )
    .unwrap();
    assert_eq!(registry.len(), 2);
    assert!(
        registry
            .get("Cloud::Tenant", "a")
            .unwrap()
            .contains("\"a\"")
    );
    assert!(
        registry
            .get("Cloud::Region", "cn")
            .unwrap()
            .contains("in_territory")
    );
    assert!(registry.get("Cloud::Tenant", "b").is_none());
}

#[test]
fn rejects_duplicates_and_missing_uids() {
    let dup = r#"[{"uid": {"type": "T", "id": "a"}}, {"uid": {"type": "T", "id": "a"}}]"#;
    assert!(
        Registry::from_json(dup)
            .unwrap_err()
            .to_string()
            .contains("`T::\"a\"` twice")
    );
    let err = Registry::from_json(r#"[{"attrs": {}}]"#).unwrap_err();
    assert!(err.to_string().contains("#0"), "{err}");
    assert!(Registry::from_json("{}").is_err());
}

#[test]
fn a_key_twice_in_an_entity_is_refused_naming_it() {
    let text = r#"[{"uid": {"type": "Cloud::Tenant", "id": "a"},
        "attrs": {"real_name_verified": false, "x": 1, "real_name_verified": true}, "parents": []}]"#;
    let err = Registry::from_json(text).unwrap_err().to_string();
    assert!(err.contains("real_name_verified"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    std::fs::write(&path, text).unwrap();
    let err = Registry::from_file(&path).unwrap_err().to_string();
    assert!(err.contains("real_name_verified"), "{err}");
    let err = read_entities(&path).unwrap_err().to_string();
    assert!(err.contains("real_name_verified"), "{err}");
}

#[test]
fn namespaces_map_to_their_tenant_and_default_to_their_name() {
    let registry = Registry::from_json(
        r#"[{"uid": {"type": "Cloud::Tenant", "id": "shop"}, "attrs": {}, "parents": []},
            {"uid": {"type": "Cloud::Namespace", "id": "shop-web"}, "attrs": {},
             "parents": [{"type": "Cloud::Tenant", "id": "shop"}]},
            {"uid": {"type": "Cloud::Namespace", "id": "shop-db"}, "attrs": {},
             "parents": [{"__entity": {"type": "Cloud::Tenant", "id": "shop"}}]}]"#,
    )
    .unwrap();
    assert_eq!(registry.tenant_of_namespace("shop-web"), "shop");
    assert_eq!(registry.tenant_of_namespace("shop-db"), "shop");
    assert_eq!(registry.tenant_of_namespace("other"), "other");
    assert_eq!(
        registry.listed_tenant_of_namespace("shop-web").as_deref(),
        Some("shop")
    );
    assert_eq!(registry.listed_tenant_of_namespace("other"), None);
}

#[test]
fn a_namespace_needs_exactly_one_tenant() {
    for parents in [
        "[]",
        r#"[{"type": "Cloud::Region", "id": "cn"}]"#,
        r#"[{"type": "Cloud::Tenant", "id": "a"}, {"type": "Cloud::Tenant", "id": "b"}]"#,
    ] {
        let text = format!(
            r#"[{{"uid": {{"type": "Cloud::Namespace", "id": "ns"}}, "parents": {parents}}}]"#
        );
        let err = Registry::from_json(&text).unwrap_err().to_string();
        assert!(
            err.contains("`Cloud::Namespace::\"ns\"` must have exactly one `Cloud::Tenant` parent"),
            "{err}"
        );
    }
}

#[test]
fn overlay_replaces_and_bumps_generation() {
    let base =
        Registry::from_json(r#"[{"uid": {"type": "T", "id": "a"}, "attrs": {"x": 1}}]"#).unwrap();
    let raw: Vec<Box<RawValue>> =
        serde_json::from_str(r#"[{"uid": {"type": "T", "id": "a"}, "attrs": {"x": 2}}]"#).unwrap();
    let over = base.with(raw).unwrap();
    assert!(over.get("T", "a").unwrap().contains('2'));
    assert_ne!(base.generation(), over.generation());
}

fn raw(text: &str) -> Vec<Box<RawValue>> {
    serde_json::from_str(text).unwrap()
}

#[test]
fn a_diff_holds_what_changed_and_the_log_names_it() {
    let base = Registry::from_json(
        r#"[{"uid": {"type": "T", "id": "a"}, "attrs": {"x": 1}},
            {"uid": {"type": "T", "id": "b"}, "attrs": {"x": 1}},
            {"uid": {"type": "T", "id": "c"}, "attrs": {"x": 1}}]"#,
    )
    .unwrap();
    let same = base
        .diff(raw(
            r#"[{"uid": {"type": "T", "id": "c"}, "attrs": {"x": 1}},
                {"attrs": {"x":1}, "uid": {"id": "a", "type": "T"}},
                {"uid": {"type": "T", "id": "b"}, "attrs": {"x": 1}}]"#,
        ))
        .unwrap();
    assert!(same.is_empty());
    let diff = base
        .diff(raw(
            r#"[{"uid": {"type": "T", "id": "a"}, "attrs": {"x": 2}},
                {"uid": {"type": "T", "id": "b"}, "attrs": {"x": 1}},
                {"uid": {"type": "T", "id": "d"}, "attrs": {}}]"#,
        ))
        .unwrap();
    assert_eq!((diff.puts(), diff.removes()), (2, 1));
    let next = base.apply(diff).unwrap();
    assert_eq!(next.len(), 3);
    assert!(next.get("T", "a").unwrap().contains('2'));
    assert!(next.get("T", "c").is_none());
    assert!(next.get("T", "d").is_some());
    assert!(
        base.get("T", "c").is_some(),
        "the old snapshot is untouched"
    );
    let mut changed: Vec<String> = next
        .changed_since(base.generation())
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    changed.sort();
    assert_eq!(changed, [r#"T::"a""#, r#"T::"c""#, r#"T::"d""#]);
    assert_eq!(next.changed_since(next.generation()).unwrap().len(), 0);
    // Two steps: the union; an unrelated registry: unknown.
    let third = next
        .with(raw(
            r#"[{"uid": {"type": "T", "id": "b"}, "attrs": {"x": 3}}]"#,
        ))
        .unwrap();
    assert_eq!(third.changed_since(base.generation()).unwrap().len(), 4);
    assert_eq!(third.changed_since(next.generation()).unwrap().len(), 1);
    let other = Registry::from_json("[]").unwrap();
    assert!(third.changed_since(other.generation()).is_none());
    // A duplicate in the new version is refused, as on a first load.
    let dup = r#"[{"uid": {"type": "T", "id": "a"}}, {"uid": {"type": "T", "id": "a"}}]"#;
    assert!(base.diff(raw(dup)).is_err());
}

#[test]
fn namespaces_follow_changes() {
    let base = Registry::from_json(
        r#"[{"uid": {"type": "Cloud::Namespace", "id": "web"}, "parents": [{"type": "Cloud::Tenant", "id": "a"}]}]"#,
    )
    .unwrap();
    let moved = base
        .diff(raw(
            r#"[{"uid": {"type": "Cloud::Namespace", "id": "web"}, "parents": [{"type": "Cloud::Tenant", "id": "b"}]}]"#,
        ))
        .and_then(|d| base.apply(d))
        .unwrap();
    assert_eq!(moved.tenant_of_namespace("web"), "b");
    assert_eq!(base.tenant_of_namespace("web"), "a");
    let gone = moved.diff(raw("[]")).and_then(|d| moved.apply(d)).unwrap();
    assert_eq!(gone.tenant_of_namespace("web"), "web");
    let bad = base.diff(raw(
        r#"[{"uid": {"type": "Cloud::Namespace", "id": "web"}, "parents": []}]"#,
    ));
    assert!(bad.and_then(|d| base.apply(d)).is_err());
}

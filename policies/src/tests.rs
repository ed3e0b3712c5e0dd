//! Tests of the crate's whole path: compiling, findings, slices and what the schema declares.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use cedar_policy::{EntityTypeName, EntityUid, PolicySet};

use crate::*;

const SCHEMA: &str = r#"namespace Cloud {
        entity Tenant = { real_name_verified: Bool };
        entity Workload;
        action provision_workload appliesTo { principal: Tenant, resource: Workload, context: {} };
    }"#;

const GOOD: &str = r#"@id("base-permit")
permit (principal, action, resource);

@id("art8-1-real-name.tenant")
@control("art8-1-real-name")
@article("8(1)")
@reason("tenant not verified")
@reason_zh("未实名")
@obligation("keep_records,report_to_regulator")
@obligation_quote("保存有关记录")
forbid (principal, action == Cloud::Action::"provision_workload", resource)
unless { principal.real_name_verified };
"#;

#[test]
fn compiles_and_reads_findings() {
    let compiled = compile(
        ("schema.cedarschema", SCHEMA),
        [("a.cedar", GOOD)],
        Validate::Strict,
    )
    .unwrap();
    let controls = compiled.controls();
    assert_eq!(controls.len(), 1);
    assert_eq!(controls[0].control, "art8-1-real-name");
    assert_eq!(
        controls[0].obligations,
        ["keep_records", "report_to_regulator"]
    );
    assert_eq!(controls[0].severity, Severity::Deny);
}

#[test]
fn validation_error_points_at_file_and_line() {
    let bad = GOOD.replace("principal.real_name_verified", "principal.real_name");
    let err = compile(
        ("schema.cedarschema", SCHEMA),
        [
            ("ok.cedar", "permit(principal, action, resource);\n"),
            ("bad.cedar", bad.as_str()),
        ],
        Validate::Strict,
    )
    .unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    let problem = &err.0[0];
    assert_eq!(problem.file, "bad.cedar");
    assert_eq!(problem.line, Some(12));
    assert!(problem.message.contains("real_name"), "{problem}");
}

#[test]
fn slices_follow_action_groups() {
    let schema = r#"namespace Cloud {
            entity Tenant;
            entity Workload;
            action provisioning;
            action provision_workload in [provisioning] appliesTo { principal: Tenant, resource: Workload };
            action bind_domain appliesTo { principal: Tenant, resource: Workload };
        }"#;
    let text = r#"permit (principal, action, resource);
forbid (principal, action == Cloud::Action::"bind_domain", resource);
forbid (principal, action in Cloud::Action::"provisioning", resource);
forbid (principal, action in [Cloud::Action::"bind_domain", Cloud::Action::"provision_workload"], resource);
"#;
    let text = text
            .split("forbid (")
            .enumerate()
            .map(|(n, part)| match n {
                0 => part.to_owned(),
                n => format!("@id(\"c.{n}\") @control(\"c\") @article(\"1\") @reason(\"r\") @reason_zh(\"r\")\nforbid ({part}"),
            })
            .collect::<String>();
    let compiled = compile(
        ("s", schema),
        [("p.cedar", text.as_str())],
        Validate::Strict,
    )
    .unwrap();
    let slices = slice_by_action(&compiled.policies, &compiled.schema).unwrap();
    let count = |action: &str| {
        let uid = EntityUid::from_str(&format!("Cloud::Action::\"{action}\"")).unwrap();
        slices[&uid].policies().count()
    };
    assert_eq!(count("provision_workload"), 3);
    assert_eq!(count("bind_domain"), 3);
    assert_eq!(count("provisioning"), 2);
}

#[test]
fn parse_error_points_at_line() {
    let err = compile(
        ("schema.cedarschema", SCHEMA),
        [(
            "p.cedar",
            "permit(principal, action, resource);\n\nforbid(principal action, resource);\n",
        )],
        Validate::No,
    )
    .unwrap_err();
    assert_eq!(err.0[0].file, "p.cedar");
    assert_eq!(err.0[0].line, Some(3));
}

#[test]
fn policy_ids_are_unique_and_controls_shared() {
    let twice = format!(
        "{GOOD}\n{}",
        GOOD.replace("permit", "forbid")
            .replace("base-permit", "other")
    );
    let err = compile(("s", SCHEMA), [("a.cedar", twice.as_str())], Validate::No).unwrap_err();
    let dup = err
        .0
        .iter()
        .find(|p| p.message.contains("already the id"))
        .unwrap();
    assert_eq!(dup.line, Some(17), "{err}");
    let second = GOOD
        .replace("art8-1-real-name.tenant", "art8-1-real-name.other")
        .replace("base-permit", "second-permit");
    let compiled = compile(
        ("s", SCHEMA),
        [("a.cedar", GOOD), ("b.cedar", second.as_str())],
        Validate::No,
    )
    .unwrap();
    assert_eq!(compiled.controls().len(), 1);
    assert_eq!(compiled.findings.len(), 2);
}

#[test]
fn forbid_without_control_is_rejected() {
    let text = GOOD.replace("@control(\"art8-1-real-name\")\n", "");
    let err = compile(("s", SCHEMA), [("x.cedar", text.as_str())], Validate::No).unwrap_err();
    assert!(err.0[0].message.contains("`@control`"), "{err}");
}

#[test]
fn forbid_without_reason_is_rejected() {
    let text = "@id(\"x\")\n@article(\"2\")\nforbid(principal, action, resource);\n";
    let err = compile(("s", SCHEMA), [("x.cedar", text)], Validate::No).unwrap_err();
    assert!(err.0[0].message.contains("`@reason`"), "{err}");
    assert!(err.0[0].message.contains("`@reason_zh`"), "{err}");
}

#[test]
fn unknown_obligation_and_severity_are_rejected() {
    let text = GOOD.replace("keep_records,", "keep_recrods,");
    let err = compile(("s", SCHEMA), [("x.cedar", text.as_str())], Validate::No).unwrap_err();
    assert!(err.0[0].message.contains("keep_recrods"), "{err}");
    let text = GOOD.replace("@obligation(", "@severity(\"loud\")\n@obligation(");
    let err = compile(("s", SCHEMA), [("x.cedar", text.as_str())], Validate::No).unwrap_err();
    assert!(err.0[0].message.contains("loud"), "{err}");
    let text = GOOD.replace("@obligation_quote(\"保存有关记录\")\n", "");
    let err = compile(("s", SCHEMA), [("x.cedar", text.as_str())], Validate::No).unwrap_err();
    assert!(err.0[0].message.contains("`@obligation_quote`"), "{err}");
}

#[test]
fn registry_types_are_those_annotated() {
    let schema = SCHEMA.replace("entity Tenant", "@registry entity Tenant");
    let compiled = compile(("s", &schema), [("a.cedar", GOOD)], Validate::Strict).unwrap();
    let names: Vec<String> = compiled
        .registry_types
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(names, ["Cloud::Tenant"]);
    let compiled = compile(("s", SCHEMA), [("a.cedar", GOOD)], Validate::Strict).unwrap();
    assert!(compiled.registry_types.is_empty());
}

#[test]
fn vocabularies_are_read_from_attribute_annotations() {
    let schema = r#"namespace Cloud {
            type Context = { @one_of("x|y") approvals?: Set<String>, now: Long };
            entity Tenant = { @one_of("active|suspended") status: String, name: String };
            entity Workload;
            action a appliesTo { principal: Tenant, resource: Workload, context: Context };
        }"#;
    let compiled = compile(("s", schema), [("a.cedar", "")], Validate::Strict).unwrap();
    assert_eq!(
        compiled.vocabularies["Cloud::Tenant"]["status"],
        ["active", "suspended"]
    );
    assert!(!compiled.vocabularies["Cloud::Tenant"].contains_key("name"));
    assert_eq!(compiled.vocabularies[CONTEXT]["approvals"], ["x", "y"]);
}

#[test]
fn attribute_types_resolve_common_entity_and_extension_names() {
    let schema = r#"
            type Address = { ip: ipaddr, ports: Set<Long> };
            namespace Cloud {
                type Context = { now: datetime, who?: Tenant, where?: Address, tags: Set<Tag> };
                type Tag = String;
                entity Tenant = { operator: Operator, limit: decimal, verified: Bool, home: Address };
                entity Operator;
                entity Workload = { owners: Set<Tenant>, meta: { since: __cedar::datetime, n: Long } };
                action a appliesTo { principal: Tenant, resource: Workload, context: Context };
                action b appliesTo { principal: Tenant, resource: Workload, context: { wait: duration } };
            }"#;
    let compiled = compile(("s", schema), [("a.cedar", "")], Validate::Strict).unwrap();
    let types = &compiled.attribute_types;
    let address = AttrType::Record(BTreeMap::from([
        ("ip".to_owned(), AttrType::Extension("ip")),
        ("ports".to_owned(), AttrType::Set(Box::new(AttrType::Long))),
    ]));
    let tenant = &types.entities["Cloud::Tenant"];
    assert_eq!(tenant["operator"], AttrType::Entity);
    assert_eq!(tenant["limit"], AttrType::Extension("decimal"));
    assert_eq!(tenant["verified"], AttrType::Bool);
    assert_eq!(tenant["home"], address);
    let workload = &types.entities["Cloud::Workload"];
    assert_eq!(
        workload["owners"],
        AttrType::Set(Box::new(AttrType::Entity))
    );
    assert_eq!(
        workload["meta"],
        AttrType::Record(BTreeMap::from([
            ("since".to_owned(), AttrType::Extension("datetime")),
            ("n".to_owned(), AttrType::Long),
        ]))
    );
    assert!(
        !types.entities.contains_key("Cloud::Operator")
            || types.entities["Cloud::Operator"].is_empty()
    );
    let context = &types.contexts["a"];
    assert_eq!(context["now"], AttrType::Extension("datetime"));
    assert_eq!(context["who"], AttrType::Entity);
    assert_eq!(context["where"], address);
    assert_eq!(context["tags"], AttrType::Set(Box::new(AttrType::String)));
    assert_eq!(types.contexts["b"]["wait"], AttrType::Extension("duration"));
}

#[test]
fn schema_error_is_reported_against_the_schema() {
    let err = compile(
        ("schema.cedarschema", "namespace Cloud { entity }"),
        [("a.cedar", GOOD)],
        Validate::Strict,
    )
    .unwrap_err();
    assert_eq!(err.0[0].file, "schema.cedarschema");
    assert_eq!(err.0[0].line, Some(1));
}

#[test]
fn slices_by_principal_and_resource_type() {
    let policies: PolicySet = r#"
            permit (principal, action, resource);
            forbid (principal is Cloud::Tenant, action, resource is Cloud::Workload);
            forbid (principal, action, resource is Cloud::Tenant);
            forbid (principal == Cloud::Workload::"w", action, resource);
            forbid (principal in Cloud::Workload::"w", action, resource);
            forbid (principal, action, resource == Cloud::Tenant::"t");
        "#
    .parse()
    .unwrap();
    let tenant = EntityTypeName::from_str("Cloud::Tenant").unwrap();
    let workload = EntityTypeName::from_str("Cloud::Workload").unwrap();
    let slice = slice_by_types(&policies, &tenant, &workload).unwrap();
    let kept: BTreeSet<String> = slice.policies().map(|p| p.id().to_string()).collect();
    // Unconstrained, matching `is`, and `in` (which may hold of any type) are kept.
    assert_eq!(
        kept,
        ["policy0", "policy1", "policy4"].map(str::to_owned).into()
    );
    let slice = slice_by_types(&policies, &workload, &tenant).unwrap();
    let kept: BTreeSet<String> = slice.policies().map(|p| p.id().to_string()).collect();
    assert_eq!(
        kept,
        ["policy0", "policy2", "policy3", "policy4", "policy5"]
            .map(str::to_owned)
            .into()
    );
}

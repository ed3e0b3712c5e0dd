//! OpenStack: oslo.policy's http check and the raw decision API over HTTP(S).
//!
//! One server per test binary, on a runtime of its own, so the component loads once; each test
//! calls it over loopback with `ureq`. The real oslo.policy client is exercised by
//! `tests/openstack/run.sh`.

use std::net::SocketAddr;
use std::sync::OnceLock;

use clap::Parser;
use serde_json::{Value, json};
use yungui_cli::commands::serve::ServeArgs;

use super::engine;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let registry = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/registry.json");
        let cli = Cli::try_parse_from([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--plain-http",
            "--workers",
            "2",
            "--plugin",
            crate::shipped_plugin(),
            "--registry",
            registry,
            "--openstack-region",
            "cn-north-1",
        ])
        .unwrap();
        super::serve_in_background(cli.serve)
    })
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// POSTs `body` with `content_type` to `path`: the status and the body.
fn post(path: &str, content_type: &str, body: &str) -> (u16, String) {
    let url = format!("http://{}{path}", server());
    let mut response = agent()
        .post(&url)
        .header("Content-Type", content_type)
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

/// Percent-encodes a form value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The body oslo.policy sends with `remote_content_type = application/x-www-form-urlencoded`.
fn form(rule: &str, target: &Value, credentials: &Value) -> String {
    format!(
        "rule={}&target={}&credentials={}",
        encode(&json!(rule).to_string()),
        encode(&target.to_string()),
        encode(&credentials.to_string())
    )
}

fn creds(project: &str) -> Value {
    json!({"project_id": project, "user_id": "u-1", "roles": ["member"]})
}

fn server_target(project: &str) -> Value {
    json!({"project_id": project, "user_id": "u-1", "availability_zone": "nova"})
}

fn check_form(rule: &str, target: &Value, credentials: &Value) -> (u16, String) {
    post(
        "/openstack",
        "application/x-www-form-urlencoded",
        &form(rule, target, credentials),
    )
}

fn check_json(path: &str, rule: &str, target: &Value, credentials: &Value) -> (u16, String) {
    let body = json!({"rule": rule, "target": target, "credentials": credentials});
    post(path, "application/json", &body.to_string())
}

mod oslo {
    use super::*;

    /// With a zone map, a zone it lacks answers False (it could be abroad); a project id that is
    /// not a string answers False instead of falling back to the target's.
    #[test]
    fn unknown_zones_and_non_string_projects_answer_false() {
        let dir = tempfile::tempdir().unwrap();
        let zones = dir.path().join("zones.json");
        std::fs::write(&zones, r#"{"nova": "cn-north-1"}"#).unwrap();
        let registry = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/registry.json");
        let cli = Cli::try_parse_from([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--plain-http",
            "--workers",
            "1",
            "--plugin",
            crate::shipped_plugin(),
            "--registry",
            registry,
            "--openstack-zone-map",
            zones.to_str().unwrap(),
        ])
        .unwrap();
        let addr = crate::serve_in_background(cli.serve);
        let check = |target: &Value, credentials: &Value| {
            let mut response = agent()
                .post(format!("http://{addr}/openstack"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .send(form("os_compute_api:servers:create", target, credentials))
                .unwrap();
            response.body_mut().read_to_string().unwrap()
        };
        let rule_target = server_target("shop-example");
        assert_eq!(check(&rule_target, &creds("shop-example")), "True");
        let mut abroad = rule_target.clone();
        abroad["availability_zone"] = json!("az-overseas");
        assert_eq!(check(&abroad, &creds("shop-example")), "False");
        // Not a project id (an empty one included): False, never the target's project instead.
        for project in [
            json!(""),
            json!(7),
            json!(["shop-example"]),
            json!({"id": "shop-example"}),
        ] {
            let mut credentials = creds("shop-example");
            credentials["project_id"] = project;
            assert_eq!(check(&rule_target, &credentials), "False");
        }
    }

    #[test]
    fn form_encoded_check_allows_a_compliant_project() {
        let answer = check_form(
            "os_compute_api:servers:create",
            &server_target("shop-example"),
            &creds("shop-example"),
        );
        assert_eq!(answer, (200, "True".to_owned()));
    }

    #[test]
    fn json_check_allows_and_denies() {
        let rule = "os_compute_api:servers:create";
        let allowed = check_json(
            "/openstack",
            rule,
            &server_target("shop-example"),
            &creds("shop-example"),
        );
        assert_eq!(allowed, (200, "True".to_owned()));
        for project in [
            "unverified-example",
            "paused-example",
            "lapsed-tenant",
            "ghost-project",
        ] {
            let denied = check_json("/openstack", rule, &server_target(project), &creds(project));
            assert_eq!(denied, (200, "False".to_owned()), "{project}");
        }
    }

    #[test]
    fn path_parameter_from_target_substitution_is_accepted() {
        let answer = check_json(
            "/openstack/shop-example/servers",
            "os_compute_api:servers:create",
            &server_target("shop-example"),
            &creds("shop-example"),
        );
        assert_eq!(answer, (200, "True".to_owned()));
    }

    #[test]
    fn project_falls_back_to_the_target() {
        let answer = check_form(
            "os_compute_api:servers:rebuild",
            &server_target("shop-example"),
            &json!({"project_id": null, "roles": ["admin"], "system_scope": "all"}),
        );
        assert_eq!(answer, (200, "True".to_owned()));
        let answer = check_form(
            "os_compute_api:servers:rebuild",
            &json!({"user_id": "u-1"}),
            &json!({"roles": ["admin"]}),
        );
        assert_eq!(answer, (200, "False".to_owned()));
    }

    #[test]
    fn unknown_rule_answers_false() {
        let answer = check_json(
            "/openstack",
            "os_compute_api:os-hypervisors:list",
            &server_target("shop-example"),
            &creds("shop-example"),
        );
        assert_eq!(answer, (200, "False".to_owned()));
    }

    #[test]
    fn malformed_bodies_answer_false() {
        let (status, body) = post("/openstack", "application/json", "{not json");
        assert_eq!((status, body.as_str()), (400, "False"));
        let (status, body) = post(
            "/openstack",
            "application/json",
            r#"{"rule": "volume:create", "target": [], "credentials": {}}"#,
        );
        assert_eq!((status, body.as_str()), (400, "False"));
        let (status, body) = post(
            "/openstack",
            "application/x-www-form-urlencoded",
            "rule=%22volume%3Acreate%22&target=not-json&credentials=%7B%7D",
        );
        assert_eq!((status, body.as_str()), (400, "False"));
        let (status, body) = post(
            "/openstack",
            "application/x-www-form-urlencoded",
            "rule=%22volume%3Acreate%22",
        );
        assert_eq!((status, body.as_str()), (400, "False"));
    }

    #[test]
    fn networking_storage_and_images_decide() {
        let shop = creds("shop-example");
        let target = json!({"project_id": "shop-example", "floating_network_id": "ext-net"});
        assert_eq!(check_form("create_floatingip", &target, &shop).1, "True");
        // A VPN's remote end cannot be known: the shipped default treats it as abroad (deny).
        let target = json!({"project_id": "shop-example", "peer_address": "203.0.113.9"});
        assert_eq!(
            check_form("create_ipsec_site_connection", &target, &shop).1,
            "False"
        );
        let target = json!({"project_id": "shop-example", "availability_zone": "nova"});
        assert_eq!(check_form("volume:create", &target, &shop).1, "True");
        let target = json!({"project_id": "shop-example", "id": "b-1", "volume_id": "v-1"});
        assert_eq!(check_form("backup:delete", &target, &shop).1, "True");
        let target = json!({"project_id": "shop-example", "visibility": "private"});
        assert_eq!(check_form("add_image", &target, &shop).1, "True");
        let paused = creds("paused-example");
        let target = json!({"project_id": "paused-example"});
        assert_eq!(check_form("volume:create", &target, &paused).1, "False");
    }

    /// Every rule of the shipped map builds a request the component decides (no bad request).
    #[test]
    fn every_shipped_rule_decides_through_the_engine() {
        let config = yungui_server::openstack::Config {
            region: "cn-north-1".to_owned(),
            zones: [("az-east".to_owned(), "cn-east-2".to_owned())].into(),
            rules: yungui_server::openstack::RuleMap::shipped().unwrap(),
        };
        let region_of = |zone: Option<&str>| config.region_of(zone);
        let target = json!({
            "project_id": "shop-example", "id": "r-1", "availability_zone": "az-east",
            "volume_id": "v-1", "floating_network_id": "ext-net",
        });
        let target = target.as_object().unwrap();
        let credentials = creds("shop-example");
        for rule in config.rules.rules.keys() {
            let built = config
                .rules
                .build(
                    rule,
                    target,
                    credentials.as_object().unwrap(),
                    &region_of,
                    "2026-11-30T08:00:00Z",
                )
                .unwrap();
            let decision = engine()
                .decide(&built.request)
                .unwrap_or_else(|e| panic!("rule `{rule}`: {e}"));
            let fired = super::super::controls(&decision.denials);
            if built.action == "create_network_link" {
                assert_eq!(fired, ["art7-no-private-international-link"], "{rule}");
            } else {
                assert!(decision.allowed, "rule `{rule}`: {fired:?}");
            }
        }
    }
}

mod api {
    use super::*;

    fn decide(body: &str) -> (u16, Value) {
        let (status, text) = post("/v1/decide", "application/json", body);
        (status, serde_json::from_str(&text).unwrap())
    }

    /// [`super::super::workload`] without `context.now`: the server's clock decides.
    fn workload(tenant: &str, owner: &str, region: &str, privileged: bool) -> Value {
        let mut request = super::super::workload(tenant, owner, region, privileged);
        request["context"] = json!({});
        request
    }

    fn error_message(report: &Value) -> &str {
        report["error"]["message"].as_str().unwrap_or_default()
    }

    /// A request of `unverified-example` bringing its own copy of the tenant, verified.
    fn forged_tenant() -> Value {
        let mut request = workload(
            "unverified-example",
            "unverified-example",
            "cn-north-1",
            false,
        );
        request["entities"] = json!([{
            "uid": {"type": "Cloud::Tenant", "id": "unverified-example"},
            "attrs": {
                "operator": {"type": "Cloud::Operator", "id": "acme-cloud"}, "kind": "website",
                "real_name_verified": true, "icp_domains": ["unverified.example.cn"],
                "agreed_purposes": ["website"], "status": "active", "serves_domestic_users": true
            },
            "parents": []
        }]);
        request
    }

    #[test]
    fn a_forged_registry_entity_is_400_on_decide_and_batch() {
        let (status, report) = decide(&forged_tenant().to_string());
        assert_eq!(status, 400, "{report}");
        assert!(
            error_message(&report).contains("registry entity"),
            "{report}"
        );
        let batch = json!({"requests": [forged_tenant(), workload("shop-example", "shop-example", "cn-north-1", false)]});
        let (status, text) = post("/v1/decide/batch", "application/json", &batch.to_string());
        assert_eq!(status, 200, "{text}");
        let report: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(report["decisions"][0]["error"]["kind"], "bad_request");
        assert!(error_message(&report["decisions"][0]).contains("Cloud::Tenant"));
        assert_eq!(report["decisions"][1]["decision"], "allow");
    }

    #[test]
    fn a_request_past_a_bound_is_400_naming_it_before_the_component_runs() {
        let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
        request["context"]["tags"] = json!((0..100_000).collect::<Vec<u32>>());
        let (status, report) = decide(&request.to_string());
        assert_eq!(status, 400, "{report}");
        assert!(
            error_message(&report).starts_with(
                "bad request: `context.tags` holds more than 256 elements, more than the limit of 256"
            ),
            "{report}"
        );
        let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
        request["resource"]["attrs"]["purpose"] = json!("x".repeat(10_000));
        let (status, report) = decide(&request.to_string());
        assert_eq!(status, 400);
        assert!(
            error_message(&report).contains("`resource.attrs.purpose`"),
            "{report}"
        );
    }

    #[test]
    fn the_server_clock_decides() {
        // A licence expiry or a notice period cannot be dodged by backdating.
        let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
        request["context"]["now"] = json!("2020-01-01T00:00:00Z");
        let (status, report) = decide(&request.to_string());
        assert_eq!(status, 400, "{report}");
        let message = error_message(&report);
        assert!(
            message.contains("`context.now`") && message.contains("2020-01-01T00:00:00Z"),
            "{message}"
        );
        // Within the documented skew it is accepted.
        request["context"]["now"] = json!(yungui::request::now_utc());
        let (status, report) = decide(&request.to_string());
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["decision"], "allow");
    }

    #[test]
    fn duplicate_keys_and_foreign_action_namespaces_are_400_naming_them() {
        let body = workload("shop-example", "shop-example", "cn-north-1", true)
            .to_string()
            .replace(
                r#""privileged":true"#,
                r#""privileged":true,"privileged":false"#,
            );
        assert!(body.contains(r#""privileged":false"#), "{body}");
        let (status, report) = decide(&body);
        assert_eq!(status, 400, "{report}");
        assert!(
            error_message(&report).contains("duplicate key `privileged`"),
            "{report}"
        );
        for action in [
            json!({"type": "Other::Action", "id": "provision_workload"}),
            json!(r#"Other::Action::"provision_workload""#),
        ] {
            let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
            request["action"] = action.clone();
            let (status, report) = decide(&request.to_string());
            assert_eq!(status, 400, "{action}: {report}");
            assert!(error_message(&report).contains("Other::Action"), "{report}");
        }
        let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
        request["action"] = json!({"type": "Cloud::Action", "id": "provision_workload"});
        assert_eq!(decide(&request.to_string()).1["decision"], "allow");
        // The batch envelope too.
        let (status, text) = post(
            "/v1/decide/batch",
            "application/json",
            r#"{"requests": [], "requests": []}"#,
        );
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("duplicate field `requests`"), "{text}");
    }

    #[test]
    fn allows_and_denies_with_controls() {
        let (status, report) =
            decide(&workload("shop-example", "shop-example", "cn-north-1", false).to_string());
        assert_eq!(status, 200);
        assert_eq!(report["decision"], "allow");

        let mut request = workload(
            "unverified-example",
            "unverified-example",
            "cn-north-1",
            true,
        );
        // Without `now`, the server fills it.
        request["context"] = json!({});
        let (status, report) = decide(&request.to_string());
        assert_eq!(status, 200);
        assert_eq!(report["decision"], "deny");
        let fired = crate::fired_controls(&report);
        assert!(fired.iter().any(|c| c == "art8-1-real-name"), "{fired:?}");
        assert!(
            fired.iter().any(|c| c == "art12-host-security"),
            "{fired:?}"
        );
    }

    #[test]
    fn batch_answers_in_order() {
        let mut bad = workload("shop-example", "shop-example", "cn-north-1", false);
        bad.as_object_mut().unwrap().remove("action");
        let requests = json!({"requests": [
            workload("unverified-example", "unverified-example", "cn-north-1", false),
            workload("shop-example", "shop-example", "cn-north-1", false),
            bad,
            workload("paused-example", "paused-example", "cn-north-1", false),
            workload("shop-example", "shop-example", "eu-west-1", false),
        ]});
        let (status, text) = post(
            "/v1/decide/batch",
            "application/json",
            &requests.to_string(),
        );
        assert_eq!(status, 200, "{text}");
        let report: Value = serde_json::from_str(&text).unwrap();
        let decisions: Vec<&str> = report["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["decision"].as_str().unwrap())
            .collect();
        assert_eq!(decisions, ["deny", "allow", "error", "deny", "deny"]);
        assert_eq!(report["decisions"][2]["error"]["kind"], "bad_request");
        assert_eq!(
            report["decisions"][3]["denials"][0]["control"],
            "art8-5-unfit-user"
        );
    }

    #[test]
    fn malformed_requests_are_400_naming_the_field() {
        let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
        request.as_object_mut().unwrap().remove("principal");
        let (status, report) = decide(&request.to_string());
        assert_eq!(status, 400);
        assert_eq!(report["error"]["kind"], "bad_request");
        let message = report["error"]["message"].as_str().unwrap();
        assert!(message.contains("`principal`"), "{message}");

        let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
        request["resource"]["attrs"]["privileged"] = json!("yes");
        let (status, report) = decide(&request.to_string());
        assert_eq!(status, 400);
        assert!(
            report["error"]["message"]
                .as_str()
                .unwrap()
                .contains("privileged"),
            "{report}"
        );

        let (status, report) = decide("{not json");
        assert_eq!(status, 400);
        assert_eq!(report["decision"], "error");

        for (body, field) in [
            (r#"{"requests": 5}"#, "`requests`"),
            (r#"{"reqs": []}"#, "reqs"),
            (r#"{}"#, "`requests`"),
        ] {
            let (status, text) = post("/v1/decide/batch", "application/json", body);
            assert_eq!(status, 400, "{body}: {text}");
            let report: Value = serde_json::from_str(&text).unwrap();
            let message = report["error"]["message"].as_str().unwrap();
            assert!(message.contains(field), "{body}: {message}");
        }
    }
}

//! The documentation agrees with what ships: README's controls table lists exactly the controls
//! of the built-in policies, and every cell of the policies README's action × control matrix
//! agrees with the actions the control's policies' scopes cover. (CI checks the committed trace
//! report with `yungui report --check`.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use yungui_policies::{Sources, Validate, compile, slice_by_action};

use super::engine;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
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

/// The actions each control's policies' scopes cover, from the source policies.
fn actions_by_control() -> BTreeMap<String, BTreeSet<String>> {
    let sources = Sources::read_dir(&root().join("policies")).unwrap();
    let compiled = compile(
        (&sources.schema.name, &sources.schema.text),
        sources
            .policies
            .iter()
            .map(|f| (f.name.as_str(), f.text.as_str())),
        Validate::No,
    )
    .unwrap();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (action, slice) in slice_by_action(&compiled.policies, &compiled.schema).unwrap() {
        for policy in slice.policies() {
            if let Some(finding) = compiled.findings.get(policy.id()) {
                out.entry(finding.control.clone())
                    .or_default()
                    .insert(action.id().unescaped().to_owned());
            }
        }
    }
    out
}

/// The actions a column of the matrix stands for.
fn column(header: &str) -> &'static [&'static str] {
    match header {
        "pw" => &["provision_workload"],
        "cp" => &["change_purpose"],
        "ip" => &["allocate_public_ip"],
        "bw" => &["allocate_bandwidth"],
        "dom" => &["bind_domain"],
        "link" => &["create_network_link"],
        "place" => &["place_data"],
        "repl" => &["replicate_data"],
        "exp" => &["export_data"],
        "share" => &["share_data"],
        "pub" => &["publish_content"],
        "col/proc" => &["collect_personal_info", "process_personal_info"],
        "del" => &["delete_records", "delete_backup"],
        "contract" => &["sign_contract"],
        "sd" => &["scale_down_workload"],
        other => panic!("policies/README.md: unknown matrix column `{other}`"),
    }
}

#[test]
fn the_policies_readme_matrix_matches_the_policies_scopes() {
    let text = std::fs::read_to_string(root().join("policies/README.md")).unwrap();
    let section = text
        .split("## Between actions: the matrix")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap();
    let mut lines = section.lines().filter(|l| l.starts_with('|'));
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .split('|')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .skip(1)
        .collect();
    let scopes = actions_by_control();
    let every: BTreeSet<String> = scopes.values().flatten().cloned().collect();
    let mut rows = 0;
    for line in lines.filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let control = cells[1].split('`').nth(1).unwrap();
        let scope = scopes
            .get(control)
            .unwrap_or_else(|| panic!("the matrix names `{control}`, which is no control"));
        let everywhere = scope.len() >= every.len();
        for (header, cell) in header.iter().zip(&cells[2..]) {
            let covered = column(header).iter().any(|a| scope.contains(*a));
            if cell.starts_with('✓') {
                assert!(
                    covered,
                    "`{control}` × {header}: ✓ but no policy's scope covers it"
                );
            } else if *cell == "–" && !everywhere {
                assert!(
                    !covered,
                    "`{control}` × {header}: – but a policy's scope covers it"
                );
            }
        }
        rows += 1;
    }
    assert!(rows >= 15, "only {rows} matrix rows read");
}

/// The shell block that follows `marker` in the README.
fn readme_block(marker: &str) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let rest = readme
        .split_once(marker)
        .unwrap_or_else(|| panic!("README.md has no `{marker}`"))
        .1;
    let block = rest.split_once("```sh\n").unwrap().1;
    block.split_once("\n```").unwrap().0.to_owned()
}

/// A server as the README starts it: plain HTTP, the example registry, the shipped policies.
fn readme_server() -> std::net::SocketAddr {
    let registry = root().join("examples/registry.json");
    super::serve_in_background(super::serve_args(&[
        "--listen",
        "127.0.0.1:0",
        "--plain-http",
        "--workers",
        "1",
        "--plugin",
        super::shipped_plugin(),
        "--registry",
        registry.to_str().unwrap(),
    ]))
}

fn post(addr: std::net::SocketAddr, path: &str, content_type: &str, body: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(format!("http://{addr}{path}"))
        .header("Content-Type", content_type)
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

/// Percent-encodes a form value, as `curl --data-urlencode` does.
fn urlencode(value: &str) -> String {
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

#[test]
fn readme_curl_examples_answer_as_documented() {
    let addr = readme_server();

    // `/v1/decide`: the body between `-d '` and the closing `'`, answered as the README says.
    let block = readme_block("<!-- curl /v1/decide -->");
    let body = block
        .split_once("-d '")
        .and_then(|(_, rest)| rest.rsplit_once('\''))
        .unwrap()
        .0;
    let request: serde_json::Value = serde_json::from_str(body).unwrap();
    assert!(request["context"].get("now").is_none(), "{request}");
    let (status, answer) = post(addr, "/v1/decide", "application/json", body);
    assert_eq!(status, 200, "{answer}");
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let documented = readme
        .split_once("<!-- curl /v1/decide -->")
        .and_then(|(_, rest)| rest.split_once("answers `"))
        .and_then(|(_, rest)| rest.split_once('`'))
        .unwrap()
        .0;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&answer).unwrap(),
        serde_json::from_str::<serde_json::Value>(documented).unwrap()
    );

    // The shipped example requests carry a fixed `now`, refused past 300 s of skew, as said.
    let pinned =
        std::fs::read_to_string(root().join("examples/requests/deny-provision.json")).unwrap();
    let (status, answer) = post(addr, "/v1/decide", "application/json", &pinned);
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("`context.now`"), "{answer}");

    // `/openstack`: the three `--data-urlencode 'name=value'` fields, form-encoded by curl.
    let block = readme_block("<!-- curl /openstack -->");
    let fields: Vec<String> = block
        .split("--data-urlencode '")
        .skip(1)
        .map(|field| {
            let field = field.split_once('\'').unwrap().0;
            let (name, value) = field.split_once('=').unwrap();
            format!("{name}={}", urlencode(value))
        })
        .collect();
    assert_eq!(fields.len(), 3, "{block}");
    let form = fields.join("&");
    let (status, answer) = post(
        addr,
        "/openstack",
        "application/x-www-form-urlencoded",
        &form,
    );
    assert_eq!((status, answer.as_str()), (200, "True"));
    let denied = form.replace("shop-example", "unverified-example");
    let (_, answer) = post(
        addr,
        "/openstack",
        "application/x-www-form-urlencoded",
        &denied,
    );
    assert_eq!(answer, "False");
}

"""oslo.policy's own `http:` / `https:` checks (an `Enforcer`) against `yungui serve`.

run.sh starts the servers and sets YUNGUI_HTTP_URL, YUNGUI_HTTPS_URL (…/openstack), their logs,
YUNGUI_PKI (ca.crt, client.crt, client.key) and YUNGUI_README. The rules are the policy.yaml
snippet of the README (between `<!-- policy.yaml -->` and `<!-- /policy.yaml -->`), with its
`yungui` rule pointed at the server under test.
"""

import os
import re
import uuid

import pytest
import requests
import yaml
from oslo_config import cfg
from oslo_policy import policy

HTTP_URL = os.environ["YUNGUI_HTTP_URL"]
HTTPS_URL = os.environ["YUNGUI_HTTPS_URL"]
PKI = os.environ["YUNGUI_PKI"]
LOGS = {"http": os.environ["YUNGUI_HTTP_LOG"], "https": os.environ["YUNGUI_HTTPS_LOG"]}

CONTENT_TYPES = ["application/x-www-form-urlencoded", "application/json"]
DENIED = {
    "ghost-project": "registry-missing",  # not in the registry
    "unverified-example": "art8-1-real-name",  # tenant not real-name verified
    "paused-example": "art8-5-unfit-user",  # tenant suspended
    "lapsed-tenant": "art2-licence",  # its operator's licence expired
}


def readme_rules():
    with open(os.environ["YUNGUI_README"], encoding="utf-8") as f:
        text = f.read()
    found = re.search(r"<!-- policy\.yaml -->\s*```yaml\n(.*?)```\s*<!-- /policy\.yaml -->", text, re.S)
    assert found, "README.md has no ```yaml block between <!-- policy.yaml --> markers"
    rules = yaml.safe_load(found.group(1))
    assert rules["yungui"].startswith("https://"), rules["yungui"]
    return rules


def enforcer(tmp_path, scheme, content_type, client_cert=True):
    rules = readme_rules()
    rules["yungui"] = HTTP_URL if scheme == "http" else HTTPS_URL
    path = tmp_path / f"policy-{uuid.uuid4().hex}.yaml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    conf = cfg.ConfigOpts()
    conf([], project="yungui-test")
    e = policy.Enforcer(conf, policy_file=str(path))
    conf.set_override("remote_content_type", content_type, group="oslo_policy")
    conf.set_override("remote_timeout", 10, group="oslo_policy")
    if scheme == "https":
        conf.set_override("remote_ssl_verify_server_crt", True, group="oslo_policy")
        conf.set_override("remote_ssl_ca_crt_file", f"{PKI}/ca.crt", group="oslo_policy")
        if client_cert:
            conf.set_override("remote_ssl_client_crt_file", f"{PKI}/client.crt", group="oslo_policy")
            conf.set_override("remote_ssl_client_key_file", f"{PKI}/client.key", group="oslo_policy")
    e.load_rules()
    return e


def creds(project):
    return {"project_id": project, "user_id": "u-1", "roles": ["member", "reader"]}


def server(project):
    return {"project_id": project, "user_id": "u-1", "availability_zone": "nova"}


def logged(scheme, needle):
    with open(LOGS[scheme], encoding="utf-8") as f:
        return needle in f.read()


@pytest.fixture(params=["http", "https"])
def scheme(request):
    return request.param


@pytest.fixture(params=CONTENT_TYPES, ids=["form", "json"])
def content_type(request):
    return request.param


def test_readme_snippet_is_https_and_maps_the_issue_rules():
    rules = readme_rules()
    for rule in [
        "os_compute_api:servers:create",
        "os_compute_api:servers:rebuild",
        "os_compute_api:servers:resize",
        "create_floatingip",
        "create_router:external_gateway_info",
        "create_vpnservice",
        "create_ipsec_site_connection",
        "volume:create",
        "backup:delete",
        "add_image",
        "upload_image",
    ]:
        assert "rule:yungui" in rules[rule], rule


def test_compliant_project_is_allowed(tmp_path, scheme, content_type):
    e = enforcer(tmp_path, scheme, content_type)
    assert e.enforce("os_compute_api:servers:create", server("shop-example"), creds("shop-example"))
    assert e.enforce("volume:create", {"project_id": "shop-example"}, creds("shop-example"))
    assert e.enforce(
        "create_floatingip",
        {"project_id": "shop-example", "tenant_id": "shop-example", "floating_network_id": "public"},
        creds("shop-example"),
    )


@pytest.mark.parametrize("project", sorted(DENIED))
def test_non_compliant_projects_are_denied_and_the_log_says_why(tmp_path, scheme, content_type, project):
    e = enforcer(tmp_path, scheme, content_type)
    assert not e.enforce("os_compute_api:servers:create", server(project), creds(project))
    assert logged(scheme, DENIED[project]), f"{DENIED[project]} not in the {scheme} server's log"


def test_other_projects_resources_are_refused_by_oslo_before_yungui(tmp_path):
    e = enforcer(tmp_path, "http", CONTENT_TYPES[0])
    assert not e.enforce("os_compute_api:servers:create", server("shop-example"), creds("shop-twin"))


def test_vpn_to_an_unknown_peer_is_denied_by_default(tmp_path, content_type):
    e = enforcer(tmp_path, "https", content_type)
    target = {"project_id": "shop-example", "peer_address": "198.51.100.7"}
    assert not e.enforce("create_ipsec_site_connection", target, creds("shop-example"))
    assert logged("https", "art7-no-private-international-link")


def test_https_without_a_client_certificate_is_refused(tmp_path):
    e = enforcer(tmp_path, "https", CONTENT_TYPES[0], client_cert=False)
    with pytest.raises(requests.exceptions.RequestException):
        e.enforce("os_compute_api:servers:create", server("shop-example"), creds("shop-example"))


def test_unknown_rule_answers_false():
    # Straight at the server, as oslo.policy would post it for a rule the map lacks.
    body = {"rule": '"os_compute_api:os-hypervisors:list"', "target": "{}", "credentials": '{"project_id": "shop-example"}'}
    r = requests.post(HTTP_URL, data=body, timeout=10)
    assert r.text == "False"
    assert logged("http", "os_compute_api:os-hypervisors:list")

"""The yungui check inside a real oslo.policy Enforcer: one project allowed, others denied."""

import pytest
from oslo_config import cfg
from oslo_policy import policy

import oslo_check  # registers the `yungui` check kind


@pytest.fixture(scope="module")
def enforcer():
    conf = cfg.ConfigOpts()
    conf([], project="yungui-example")
    enforcer = policy.Enforcer(conf)  # no policy file: the registered defaults are the rules
    enforcer.register_defaults([
        policy.RuleDefault("compute:create", "role:member and yungui:provision_workload"),
    ])
    enforcer.load_rules()
    return enforcer


def target(project):
    return {
        "resource": {
            "uid": {"type": "Cloud::Workload", "id": "web-1"},
            "attrs": {
                "region": {"type": "Cloud::Region", "id": "cn-north-1"},
                "purpose": "website",
                "owner": {"type": "Cloud::Tenant", "id": project},
                "privileged": False,
                "host_access": False,
            },
            "parents": [],
        },
        "context": {"now": "2026-11-30T08:00:00Z"},
    }


def creds(project, roles=("member",)):
    return {"project_id": project, "roles": list(roles)}


def denials():
    return {f["control"] for f in oslo_check.last_report()["denials"]}


def test_verified_project_is_allowed(enforcer):
    assert enforcer.authorize("compute:create", target("shop-example"), creds("shop-example"))
    assert oslo_check.last_report()["decision"] == "allow"


def test_unverified_project_is_denied_by_real_name_control(enforcer):
    assert not enforcer.authorize(
        "compute:create", target("unverified-example"), creds("unverified-example")
    )
    assert denials() == {"art8-1-real-name"}


def test_unknown_project_is_denied_as_missing_from_registry(enforcer):
    assert not enforcer.authorize("compute:create", target("ghost-tenant"), creds("ghost-tenant"))
    assert "registry-missing" in denials()


def test_privileged_workload_is_denied(enforcer):
    t = target("shop-example")
    t["resource"]["attrs"]["privileged"] = True
    assert not enforcer.authorize("compute:create", t, creds("shop-example"))
    assert "art12-host-security" in denials()


def test_oslo_rule_still_applies_before_the_component(enforcer):
    assert not enforcer.authorize(
        "compute:create", target("shop-example"), creds("shop-example", roles=("reader",))
    )


def test_fails_closed_without_project_or_resource(enforcer):
    assert not enforcer.authorize("compute:create", target("shop-example"), {"roles": ["member"]})
    assert not enforcer.authorize("compute:create", {}, creds("shop-example"))


def test_bad_request_denies(enforcer):
    t = target("shop-example")
    t["resource"]["attrs"]["privileged"] = "no"  # a string where the schema wants a Bool
    assert not enforcer.authorize("compute:create", t, creds("shop-example"))
    assert oslo_check.last_report()["error"]["kind"] == "bad_request"

"""An oslo.policy check that asks the yungui component, in process (no HTTP hop).

Importing this module registers the check kind `yungui`; a rule names the Cedar action:

    "compute:create": "role:member and yungui:provision_workload"

The request it decides:

- principal: the tenant `Cloud::Tenant` whose id is the credentials' `project_id`;
- action: the rule's match (`provision_workload`);
- resource: `target["resource"]`, a Cedar entity in the JSON request format
  (`{"uid": {"type": "Cloud::Workload", "id": …}, "attrs": {…}, "parents": []}`);
- context: `target.get("context", {})`, with `now` set to the current time when absent;
- entities: `target.get("entities", [])`.

Everything else (the tenant, its operator, regions, carriers…) comes from the registry file,
`$YUNGUI_REGISTRY` or examples/registry.json, read once per process. A deny, a bad request or any
fault returns False: the check fails closed. The last report of the current thread is kept in
`last_report()` so a service can tell the user which control denied.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import threading
from datetime import datetime, timezone
from typing import Any, Optional

from oslo_policy import policy

from yungui_host import DEFAULT_REGISTRY, Plugin, Registry

LOG = logging.getLogger(__name__)

_lock = threading.Lock()
_plugin: Optional[Plugin] = None
_registry: Optional[Registry] = None
_local = threading.local()


def configure(plugin: Optional[Plugin] = None, registry: Optional[Registry] = None) -> None:
    """Sets the component and the registry the check uses (default: loaded on first use)."""
    global _plugin, _registry
    with _lock:
        if plugin is not None:
            _plugin = plugin
        if registry is not None:
            _registry = registry


def _decide(request: dict) -> dict:
    global _plugin, _registry
    with _lock:  # one warm instance, one call at a time; a decision takes well under 1 ms
        if _plugin is None:
            _plugin = Plugin.load()
        if _registry is None:
            _registry = Registry.from_file(os.environ.get("YUNGUI_REGISTRY") or DEFAULT_REGISTRY)
        return _plugin.decide_json(json.dumps(request, ensure_ascii=False), _registry)


def last_report() -> Optional[dict]:
    """The report of this thread's last yungui check, or None."""
    return getattr(_local, "report", None)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@policy.register("yungui")
class YunguiCheck(policy.Check):
    """`yungui:<action>`: the component allows the credentials' project to do it on the target."""

    def __call__(self, target: Any, creds: Any, enforcer: Any, current_rule: Optional[str] = None) -> bool:
        _local.report = None
        project = creds.get("project_id") if creds else None
        resource = target.get("resource") if isinstance(target, dict) else None
        if not project or not isinstance(resource, dict):
            LOG.warning(
                "yungui:%s denied: %s", self.match,
                "no project_id in the credentials" if not project else "no `resource` in the target",
            )
            return False
        context = dict(target.get("context") or {})
        context.setdefault("now", _now())
        request = {
            "principal": {"type": "Cloud::Tenant", "id": project},
            "action": self.match,
            "resource": copy.deepcopy(resource),
            "context": context,
            "entities": list(target.get("entities") or []),
        }
        report = _decide(request)
        _local.report = report
        if report["decision"] == "allow":
            for w in report["warnings"]:
                LOG.info("yungui:%s for %s warns %s: %s", self.match, project, w["control"], w["reason"])
            return True
        if report["decision"] == "deny":
            LOG.info(
                "yungui:%s denied for %s by %s", self.match, project,
                ", ".join(f["control"] for f in report["denials"]),
            )
        else:
            LOG.warning("yungui:%s for %s reached no decision (%s): %s", self.match, project,
                        report["error"]["kind"], report["error"]["message"])
        return False

"""The yungui policy component in Python, through wasmtime-py's component model API.

    plugin = Plugin.load()                        # compile + instantiate once per process
    registry = Registry.from_file("examples/registry.json")
    report = plugin.decide_json(request_text, registry)
    # {"decision": "allow"|"deny"|"error", "denials": [...], "warnings": [...], "error"?: {...}}

The component imports `yungui:policy/registry@0.2.0` (`lookup`, `generation`, `changed-since`),
defined here over a Cedar entities JSON list, and a few WASI interfaces, which `Linker.add_wasip2()` provides.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Optional

from wasmtime import Engine, Store, WasiConfig
from wasmtime.component import Component, Linker, Record, Variant

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEFAULT_PLUGIN = ROOT / "target/yungui-policies.wasm"
DEFAULT_REGISTRY = ROOT / "examples/registry.json"

_generations = itertools.count(1)


def _key_of(uid: Any) -> tuple[str, str]:
    plain = uid.get("__entity", uid) if isinstance(uid, dict) else None
    if (
        not isinstance(plain, dict)
        or not isinstance(plain.get("type"), str)
        or not plain["type"]
        or not isinstance(plain.get("id"), str)
    ):
        raise ValueError('needs `"uid": {"type": …, "id": …}`')
    return plain["type"], plain["id"]


class Registry:
    """Cedar entities indexed by uid, each kept as the JSON text `lookup` hands over."""

    # Changes an overlay remembers; older ones are forgotten (the component then drops all).
    HISTORY = 64

    def __init__(self, entities: dict[tuple[str, str], str], history: tuple = ()):
        self.entities = entities
        # Unique per registry built in this process; `history` holds (generation before, uids
        # changed) per overlay step, so the component drops only the entities that changed.
        self.generation = next(_generations)
        self.history = history[-self.HISTORY :]

    @classmethod
    def from_list(cls, entities: Iterable[Any]) -> "Registry":
        return cls(cls._index({}, entities, replace=False))

    @classmethod
    def from_file(cls, path: os.PathLike | str) -> "Registry":
        with open(path, encoding="utf-8") as f:
            return cls.from_list(json.load(f))

    def overlay(self, entities: Iterable[Any]) -> "Registry":
        """This registry with `entities` added; one with a uid it holds replaces it."""
        index = self._index(dict(self.entities), entities, replace=True)
        changed = tuple(_key_of(e.get("uid")) for e in entities)
        return Registry(index, self.history + ((self.generation, changed),))

    def changed_since(self, generation: int) -> Optional[list[tuple[str, str]]]:
        """The uids changed since `generation`, or None when this registry does not descend
        from it (within the changes it remembers)."""
        if generation == self.generation:
            return []
        starts = [i for i, (before, _) in enumerate(self.history) if before == generation]
        if not starts:
            return None
        return sorted({key for _, keys in self.history[starts[-1] :] for key in keys})

    @staticmethod
    def _index(into: dict, entities: Iterable[Any], *, replace: bool) -> dict:
        if not isinstance(entities, list):
            raise ValueError("the registry is not a Cedar entities JSON list")
        for i, entity in enumerate(entities):
            try:
                key = _key_of(entity.get("uid") if isinstance(entity, dict) else None)
            except ValueError as err:
                raise ValueError(f"registry entity #{i}: {err}") from None
            if not replace and key in into:
                raise ValueError(f'the registry holds `{key[0]}::"{key[1]}"` twice: keep one')
            into[key] = json.dumps(entity, ensure_ascii=False)
        return into

    def get(self, type_name: str, id: str) -> Optional[str]:
        return self.entities.get((type_name, id))


_FAILURE_KINDS = {
    "bad-request": "bad_request",
    "bad-entity-data": "bad_entity_data",
    "plugin-fault": "plugin_fault",
}


def _finding(f: Record) -> dict:
    return {
        "control": f.control,
        "article": f.article,
        "reason": f.reason,
        "reason_zh": getattr(f, "reason-zh"),
        "obligations": list(f.obligations),
        "severity": f.severity,
    }


def _error(kind: str, message: str) -> dict:
    return {"decision": "error", "denials": [], "warnings": [], "error": {"kind": kind, "message": message}}


class Plugin:
    """One compiled component and one warm instance of it. Not thread-safe: one per thread."""

    def __init__(self, engine: Engine, component: Component):
        self.engine = engine
        self.component = component
        self.registry = Registry.from_list([])
        self._instantiate()

    @classmethod
    def load(
        cls, path: os.PathLike | str | None = None, cache_dir: os.PathLike | str | None = None
    ) -> "Plugin":
        """Compiles the component (`$YUNGUI_PLUGIN_WASM`, else `target/yungui-policies.wasm`, which
        `yungui build -o target/yungui-policies.wasm` writes).

        Compiling takes seconds; with `cache_dir` (or `$YUNGUI_CACHE_DIR`) the machine code is
        kept there, keyed by the component's hash and the wasmtime version, and later loads
        take milliseconds. Only point it at a folder no one else can write to.
        """
        path = Path(path or os.environ.get("YUNGUI_PLUGIN_WASM") or DEFAULT_PLUGIN)
        cache_dir = cache_dir or os.environ.get("YUNGUI_CACHE_DIR")
        engine = Engine()
        if not cache_dir:
            return cls(engine, Component.from_file(engine, str(path)))
        wasm = path.read_bytes()
        key = hashlib.sha256(wasm).hexdigest()[:32]
        cached = Path(cache_dir) / f"yungui-{key}-wasmtime-{metadata.version('wasmtime')}.cwasm"
        if cached.exists():
            try:
                return cls(engine, Component.deserialize_file(engine, str(cached)))
            except Exception:  # stale or torn: compile again
                pass
        component = Component(engine, wasm)
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(component.serialize())
        tmp.replace(cached)
        return cls(engine, component)

    def _instantiate(self) -> None:
        linker = Linker(self.engine)
        linker.add_wasip2()  # io, cli, random: the component reads none of it but imports it

        # Host functions get the store first, then the WIT parameters; a WIT record arrives as a
        # `Record` whose attributes keep the WIT field names (`type-name`).
        def lookup(_store: Any, uid: Record) -> Variant:
            # result<option<string>, string>: an in-memory registry never fails.
            return Variant("ok", self.registry.get(getattr(uid, "type-name"), uid.id))

        def generation(_store: Any) -> int:
            return self.registry.generation

        def changed_since(_store: Any, since: int) -> Optional[list[Record]]:
            changed = self.registry.changed_since(since)
            if changed is None:
                return None
            uids = []
            for type_name, id in changed:
                uid = Record()
                setattr(uid, "type-name", type_name)
                uid.id = id
                uids.append(uid)
            return uids

        with linker.root() as root:
            with root.add_instance("yungui:policy/registry@0.2.0") as registry:
                registry.add_func("lookup", lookup)
                registry.add_func("generation", generation)
                registry.add_func("changed-since", changed_since)

        self.store = Store(self.engine)
        self.store.set_wasi(WasiConfig())  # no args, no env, no stdio
        instance = linker.instantiate(self.store, self.component)
        iface = instance.get_export_index(self.store, "yungui:policy/decide@0.2.0")
        self._decide_json = instance.get_func(
            self.store, instance.get_export_index(self.store, "decide-json", iface)
        )
        self._controls = instance.get_func(
            self.store, instance.get_export_index(self.store, "controls", iface)
        )

    def decide_json(self, request: str, registry: Registry) -> dict:
        """Decides a JSON request against `registry`; a report as `yungui decide --format json`."""
        self.registry = registry
        try:
            out = self._decide_json(self.store, request)
        except Exception as err:  # a trap: the instance is done for, start a fresh one
            self._instantiate()
            return _error("trap", str(err))
        # `result<decision, failure>`: the ok and err types lift to different classes (a record,
        # a variant), so wasmtime-py hands back the bare `Record` for ok and the failure's
        # `Variant` for err, not a `Variant('ok'|'err', …)` wrapper.
        if isinstance(out, Variant):
            if out.tag in _FAILURE_KINDS:
                return _error(_FAILURE_KINDS[out.tag], out.payload)
            if out.tag == "ok":  # should a later wasmtime-py wrap the result
                out = out.payload
            else:
                return _error("plugin_fault", f"unexpected result {out.tag}: {out.payload}")
        return {
            "decision": "allow" if out.allowed else "deny",
            "denials": [_finding(f) for f in out.denials],
            "warnings": [_finding(f) for f in out.warnings],
        }

    def controls(self) -> list[dict]:
        return [
            {
                "control": c.control,
                "article": c.article,
                "reason": c.reason,
                "severity": c.severity,
                "file": c.file,
            }
            for c in self._controls(self.store)
        ]

"""Server-side apply and the field ownership behind it (metadata.managedFields).

Owns ``metadata.managedFields``: which manager owns which fields, in the real
FieldsV1 encoding — ``f:<field>``, ``k:{"name":"web"}`` for an item of a keyed
list, ``v:<json>`` for a member of a set, and ``.`` for "this node itself"
when the node also has children.

* ``server_side_apply``  application/apply-patch+yaml: merge the applied
  configuration, remove what the manager no longer declares (unless another
  manager owns it), refuse to change fields other managers own unless forced,
  and record the manager's "Apply" entry.
* ``record_update``      after any other write (create, update, patch): the
  writer owns ("Update" entry) what it changed, and other managers lose it, so
  a later apply that changes those fields reports a conflict.

Inside, a field set is a Python ``set`` of paths; a path is a tuple of encoded
elements such as ``("f:spec", "f:template", "f:spec", "f:containers",
'k:{"name":"web"}', "f:image")``.  List shapes come from ``patchmeta``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import jsonio
from .memo import Memo
from .meta import deep_copy
from .patch import PatchError, interleave, json_equal
from .patchmeta import FieldMeta, field_meta, is_atomic_type, root_type

Path = tuple[str, ...]
FieldsV1 = dict[str, Any]

_MISSING: Any = object()

# Fields the server owns; no manager ever owns them (upstream "stripMeta").
_SERVER_OWNED = frozenset(
    "f:" + name
    for name in ("name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                 "selfLink", "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds")
)


# --------------------------------------------------------------------------- entries and errors


@dataclass
class ManagedEntry:
    """One element of metadata.managedFields."""

    manager: str
    operation: str  # "Apply" or "Update"
    api_version: str
    time: str | None
    fields: set[Path] = field(default_factory=set)
    subresource: str = ""

    def identity(self) -> tuple[str, str, str, str]:
        # As upstream: an applier is one manager whatever apiVersion it used.
        return (self.manager, self.operation, self.subresource,
                "" if self.operation == "Apply" else self.api_version)

    def describe(self) -> str:
        """How upstream names a manager in conflict messages."""
        text = _quote(self.manager)
        if self.subresource:
            text += f" with subresource {_quote(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text

    def to_json(self, fields_v1: FieldsV1 | None = None) -> dict:
        """As it is stored; `fields_v1`: this entry's fields, already encoded."""
        entry = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version,
                 "time": self.time, "fieldsType": "FieldsV1",
                 "fieldsV1": to_fields_v1(self.fields) if fields_v1 is None else fields_v1}
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry

    @classmethod
    def from_json(cls, entry: Any) -> ManagedEntry | None:
        if not isinstance(entry, dict) or not entry.get("manager") or entry.get("fieldsType", "FieldsV1") != "FieldsV1":
            return None
        return cls(entry["manager"], entry.get("operation", "Update"), entry.get("apiVersion", ""),
                   entry.get("time"), _decoded(entry.get("fieldsV1") or {}), entry.get("subresource", ""))


@dataclass(frozen=True)
class Conflict:
    """Another manager owns ``field`` and the apply would change it."""

    manager: str
    api_version: str
    field: str  # e.g. ".spec.replicas"
    operation: str = "Update"
    subresource: str = ""

    def owner(self) -> str:
        return ManagedEntry(self.manager, self.operation, self.api_version, None, set(), self.subresource).describe()


class ApplyConflict(Exception):
    """Server-side apply refused: other managers own fields it would change (HTTP 409)."""

    def __init__(self, conflicts: list[Conflict]):
        self.conflicts = conflicts
        super().__init__(self.message())

    def message(self) -> str:
        """The Status message kube-apiserver sends, which kubectl prints."""
        if len(self.conflicts) == 1:
            only = self.conflicts[0]
            return f"Apply failed with 1 conflict: conflict with {only.owner()}: {only.field}"
        lines: list[str] = []
        for owner in sorted({c.owner() for c in self.conflicts}):
            lines.append(f"conflicts with {owner}:")
            lines += [f"- {c.field}" for c in self.conflicts if c.owner() == owner]
        return f"Apply failed with {len(self.conflicts)} conflicts: " + "\n".join(lines)

    def causes(self) -> list[dict]:
        """``details.causes`` of the Status."""
        return [{"reason": "FieldManagerConflict", "message": f"conflict with {c.owner()}", "field": c.field}
                for c in self.conflicts]

    def status(self) -> dict:
        """The whole metav1.Status body for the 409 response."""
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message(), "reason": "Conflict", "details": {"causes": self.causes()},
                "code": 409}


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


# --------------------------------------------------------------------------- FieldsV1 encoding


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


# Encodings already made, both ways: the objects of one template (a Deployment's pods) own
# the same fields, and every write reads the managedFields it rewrites. Kept as JSON text so
# each caller gets a tree of its own from C (loads), not from a copy made in Python.
_ENCODED: Memo[frozenset[Path], bytes] = Memo()
_DECODED: Memo[bytes, frozenset[Path]] = Memo()


def to_fields_v1(paths: Iterable[Path]) -> FieldsV1:
    """Encode a set of paths as FieldsV1 (children sorted, ``.`` first)."""
    return jsonio.loads(_fields_v1_text(frozenset(paths)))  # the caller's to keep


def _fields_v1_text(members: frozenset[Path]) -> bytes:
    """The JSON text of `members` as FieldsV1, remembered."""
    return _ENCODED.get(members, lambda: jsonio.dumps(_encode_paths(members)))


def _decoded(tree: FieldsV1) -> set[Path]:
    """from_fields_v1(tree), remembered by the tree's JSON text (the caller may change the set)."""
    return set(_DECODED.get(jsonio.dumps(tree), lambda: frozenset(from_fields_v1(tree))))


def _encode_paths(members: frozenset[Path]) -> FieldsV1:
    tree: dict = {}
    for path in members:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in members:
        node = tree
        for element in path:
            node = node[element]
        if node and path:
            node["."] = {}
    return _sorted_tree(tree)


def _sorted_tree(node: dict) -> dict:
    return {k: _sorted_tree(node[k]) for k in sorted(node, key=lambda k: (k != ".", k))}


def from_fields_v1(tree: FieldsV1, prefix: Path = ()) -> set[Path]:
    """Decode FieldsV1 into a set of paths."""
    paths: set[Path] = set()
    for element, child in tree.items():
        if element == ".":
            paths.add(prefix)
        elif not child:
            paths.add(prefix + (element,))
        else:
            paths |= from_fields_v1(child, prefix + (element,))
    return paths


def path_string(path: Path) -> str:
    """Upstream's text for a path: ``.spec.containers[name="web"].image``."""
    parts = []
    for element in path:
        tag, text = element[:2], element[2:]
        if tag == "f:":
            parts.append("." + text)
        elif tag == "k:":
            parts.append("[" + ",".join(f"{k}={_json(v)}" for k, v in json.loads(text).items()) + "]")
        elif tag == "v:":
            parts.append(f"[={text}]")
        else:
            parts.append(f"[{text}]")
    return "".join(parts)


# --------------------------------------------------------------------------- shapes


def _is_struct(meta: FieldMeta | None) -> bool:
    return meta is not None and meta.shape == "struct"


def _child_type(meta: FieldMeta | None) -> str | None:
    return meta.type if meta is not None and meta.shape == "struct" else None


def _item_meta(meta: FieldMeta) -> FieldMeta:
    return FieldMeta("struct", type=meta.type)


def _element(item: Any, meta: FieldMeta) -> str | None:
    """``k:{...}`` for a keyed-list item, or None if it lacks a key field."""
    if not isinstance(item, dict):
        return None
    defaults = dict(meta.key_defaults)
    key = {}
    for name in meta.keys:
        value = item.get(name, defaults.get(name, _MISSING))
        if value is _MISSING or value is None:
            return None
        key[name] = value
    return "k:" + _json(key)


def _keyed_items(items: list, meta: FieldMeta) -> dict[str, dict] | None:
    """Items by element, or None when an item has no key or a key repeats."""
    by_element: dict[str, dict] = {}
    for item in items:
        element = _element(item, meta)
        if element is None or element in by_element:
            return None
        by_element[element] = item
    return by_element


def _shape(value: Any, meta: FieldMeta | None) -> str:
    """leaf | map | keyed | set — how ownership is tracked for this value."""
    if meta is not None and meta.shape == "atomic":
        return "leaf"
    if isinstance(value, dict):
        return "leaf" if is_atomic_type(_child_type(meta)) else "map"
    if isinstance(value, list) and meta is not None:
        if meta.shape == "keyed" and _keyed_items(value, meta) is not None:
            return "keyed"
        if meta.shape == "set":
            return "set"
    return "leaf"


# --------------------------------------------------------------------------- field sets


def _map_paths(obj: dict, type_name: str | None, prefix: Path, out: set[Path], containers: bool) -> None:
    for key, value in obj.items():
        _value_paths(value, field_meta(type_name, key), prefix + ("f:" + key,), out, containers)


def _value_paths(value: Any, meta: FieldMeta | None, path: Path, out: set[Path], containers: bool) -> None:
    """Every path in ``value``.  ``containers``: also the map/list nodes themselves
    (what an Update that created them owns), except known structs."""
    shape = _shape(value, meta)
    if shape == "leaf":
        out.add(path)
    elif shape == "map":
        if not value or (containers and not _is_struct(meta)):
            out.add(path)
        _map_paths(value, _child_type(meta), path, out, containers)
    elif shape == "keyed":
        assert meta is not None
        if containers:
            out.add(path)
        for element, item in (_keyed_items(value, meta) or {}).items():
            out.add(path + (element,))
            _value_paths(item, _item_meta(meta), path + (element,), out, containers)
    else:
        if containers:
            out.add(path)
        out.update(path + ("v:" + _json(v),) for v in value)


def _server_owned(path: Path) -> bool:
    if not path or path[0] in ("f:apiVersion", "f:kind"):
        return True
    return path[0] == "f:metadata" and (len(path) == 1 or path[1] in _SERVER_OWNED)


def _tracked(path: Path, subresource: str | None) -> bool:
    """Whether a manager can own ``path`` in a write to this (sub)resource:
    status only through /status, and nothing else through it."""
    return not _server_owned(path) and (path[0] == "f:status") == (subresource == "status")


def fieldset_of(obj: dict, kind: str) -> FieldsV1:
    """The FieldsV1 an applier of ``obj`` owns (server-owned metadata excluded)."""
    paths: set[Path] = set()
    _map_paths(obj, root_type(kind, str(obj.get("apiVersion") or "")), (), paths, containers=False)
    return to_fields_v1(p for p in paths if not _server_owned(p))


@dataclass
class _Diff:
    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)


def _compare_maps(old: dict, new: dict, type_name: str | None, prefix: Path, diff: _Diff,
                  skip: Callable[[str], bool] | None = None) -> None:
    for key in {**old, **new}:
        if skip is not None and skip(key):
            continue
        _compare(old.get(key, _MISSING), new.get(key, _MISSING), field_meta(type_name, key),
                 prefix + ("f:" + key,), diff)


def _unchanged(old: Any, new: Any) -> bool:
    """A quick, sure "no difference" for a subtree, so most of an object is not walked.

    C-speed == first; the JSON text then tells apart what == blurs (true vs 1, 1 vs 1.0).
    False only means "walk it" (dumps also differs when only the key order does)."""
    if old is new:
        return True
    if type(old) is not type(new) or type(old) not in (dict, list) or old != new:
        return False
    try:
        return jsonio.dumps(old) == jsonio.dumps(new)
    except (TypeError, ValueError):
        return False


_ADDED: Memo[tuple, frozenset[Path]] = Memo()


def _added_paths(value: Any, meta: FieldMeta | None, path: Path, out: set[Path]) -> None:
    """_value_paths(value, meta, path, out, containers=True), remembered by the value's JSON text.

    Objects made from one template (a workload's pods, a client's creates) add the same subtrees
    (the spec) again and again, and walking one typed costs ~70 µs for a small pod. Equal JSON
    text is the same structure, so the same paths. Metadata differs in every object: not kept."""
    if not isinstance(value, (dict, list)) or path[:1] == ("f:metadata",):
        _value_paths(value, meta, path, out, containers=True)
        return
    try:
        key = (path, meta, jsonio.dumps(value))
    except (TypeError, ValueError):
        _value_paths(value, meta, path, out, containers=True)
        return

    def walk() -> frozenset[Path]:
        paths: set[Path] = set()
        _value_paths(value, meta, path, paths, containers=True)
        return frozenset(paths)
    out |= _ADDED.get(key, walk)


def _compare(old: Any, new: Any, meta: FieldMeta | None, path: Path, diff: _Diff) -> None:
    if _unchanged(old, new):
        return
    if old is _MISSING:
        _added_paths(new, meta, path, diff.added)
        return
    if new is _MISSING:
        _value_paths(old, meta, path, diff.removed, containers=True)
        return
    shape = _shape(new, meta)
    if shape != _shape(old, meta) or shape == "leaf":
        if not json_equal(old, new):
            diff.modified.add(path)
    elif shape == "map":
        _compare_maps(old, new, _child_type(meta), path, diff)
    elif shape == "keyed":
        assert meta is not None
        before, after = _keyed_items(old, meta) or {}, _keyed_items(new, meta) or {}
        for element in {**before, **after}:
            was, now = before.get(element, _MISSING), after.get(element, _MISSING)
            if was is _MISSING:
                diff.added.add(path + (element,))
            elif now is _MISSING:
                diff.removed.add(path + (element,))
            _compare(was, now, _item_meta(meta), path + (element,), diff)
    else:
        diff.added.update(path + ("v:" + _json(v),) for v in new if not any(json_equal(v, o) for o in old))
        diff.removed.update(path + ("v:" + _json(v),) for v in old if not any(json_equal(v, n) for n in new))


def _object_diff(old: dict, new: dict, kind: str, api_version: str, subresource: str | None) -> _Diff:
    diff = _Diff()

    def untracked(key: str) -> bool:
        # Nobody owns anything under it through this write (status, say, outside /status):
        # not worth comparing. Metadata is owned in parts.
        return key != "metadata" and not _tracked(("f:" + key,), subresource)

    _compare_maps(old, new, root_type(kind, api_version), (), diff, skip=untracked)

    def tracked(paths: set[Path]) -> set[Path]:
        # Outside metadata a path is tracked as its top-level field is: those were skipped above.
        return {p for p in paths if p[0] != "f:metadata" or _tracked(p, subresource)}

    return _Diff(tracked(diff.added), tracked(diff.modified), tracked(diff.removed))


# A create's fields, remembered by the JSON text of what it can own: the objects made from one
# template (a workload's pods, a client's creates) differ only in server-owned metadata (name,
# uid, creationTimestamp), which owns nothing. Same text, same paths; b"" when none.
_CREATED: Memo[tuple, bytes] = Memo()


def _created_fields(new: dict, kind: str, api_version: str, subresource: str | None) -> FieldsV1 | None:
    """The FieldsV1 a create of `new` (no managedFields sent) gives its manager; None: nothing."""
    view = dict(new)
    if isinstance(new.get("metadata"), dict):
        view["metadata"] = {k: v for k, v in new["metadata"].items() if "f:" + k not in _SERVER_OWNED}

    def walk() -> bytes:
        diff = _object_diff({}, view, kind, api_version, subresource)
        paths = diff.added | diff.modified
        return _fields_v1_text(frozenset(paths)) if paths else b""
    try:
        key = (kind, api_version, subresource, jsonio.dumps(view))
    except (TypeError, ValueError):
        text = walk()
    else:
        text = _CREATED.get(key, walk)
    return jsonio.loads(text) if text else None


# --------------------------------------------------------------------------- managedFields I/O


def _without_managed(obj: dict | None) -> dict:
    if not obj:
        return {}
    view = dict(obj)
    if isinstance(obj.get("metadata"), dict):
        view["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return view


def read_managed_fields(obj: dict | None) -> list[ManagedEntry]:
    raw = ((obj or {}).get("metadata") or {}).get("managedFields") or []
    return [e for e in map(ManagedEntry.from_json, raw if isinstance(raw, list) else []) if e is not None]


def _ownership(entries: list[ManagedEntry]) -> set[tuple]:
    """What the entries say, ignoring timestamps (clients re-format them)."""
    return {(e.identity(), frozenset(e.fields)) for e in entries}


def _managed_fields_json(entries: list[ManagedEntry]) -> list[dict]:
    entries = sorted((e for e in entries if e.fields),
                     key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    return [e.to_json() for e in entries]


def _write_managed_fields(obj: dict, entries: list[ManagedEntry]) -> None:
    _set_managed_fields(obj, _managed_fields_json(entries))


def _set_managed_fields(obj: dict, managed: list[dict]) -> None:
    metadata = obj.setdefault("metadata", {})
    if managed:
        metadata["managedFields"] = managed
    else:
        metadata.pop("managedFields", None)


# --------------------------------------------------------------------------- record_update


def record_update(old: dict | None, new: dict, manager: str, *, kind: str, api_version: str, now: str,
                  subresource: str | None = None) -> dict:
    """``new`` with managedFields updated after a non-apply write by ``manager``.

    ``old`` is the stored object before the write (None for a create).  The
    writer gains what it added or changed; every manager loses what changed
    or was removed.  If the client sent non-empty managedFields of its own,
    those are the starting point (upstream lets clients reset them that way).
    """
    result = deep_copy(new)
    managed = managed_fields_after_update(old, new, manager, kind=kind, api_version=api_version, now=now,
                                          subresource=subresource)
    _set_managed_fields(result, managed)
    return result


def managed_fields_after_update(old: dict | None, new: dict, manager: str, *, kind: str, api_version: str,
                                now: str, subresource: str | None = None) -> list[dict]:
    """What ``record_update`` sets as ``new``'s managedFields (``[]``: none), leaving ``new`` as it is:
    the write path needs only this, not a copy of the object."""
    sent_json = (new.get("metadata") or {}).get("managedFields")
    if old is None and not sent_json:
        fields = _created_fields(new, kind, api_version, subresource)
        if fields is None:
            return []
        return [ManagedEntry(manager, "Update", api_version, now, set(), subresource or "").to_json(fields)]
    entries = read_managed_fields(old)
    # Usually the client sent back what it read: the same ownership, not worth decoding again.
    if sent_json and not _unchanged(sent_json, ((old or {}).get("metadata") or {}).get("managedFields")):
        sent = read_managed_fields(new)
        if _ownership(sent) != _ownership(entries):
            entries = sent
    diff = _object_diff(_without_managed(old), _without_managed(new), kind, api_version, subresource)
    changed, removed = diff.added | diff.modified, diff.removed
    me = ManagedEntry(manager, "Update", api_version, now, set(), subresource or "")
    mine = next((e for e in entries if e.identity() == me.identity()), None)
    for entry in entries:
        if entry is not mine:
            entry.fields -= changed | removed
    if mine is None:
        mine = me
        entries.append(me)
    elif changed or removed:
        mine.time = now
    mine.fields = (mine.fields - removed) | changed
    return _managed_fields_json(entries)


# --------------------------------------------------------------------------- server_side_apply


def server_side_apply(live: dict | None, applied: dict, manager: str, *, force: bool, kind: str,
                      api_version: str, now: str, subresource: str | None = None) -> dict:
    """The object after ``manager`` applies ``applied`` to ``live`` (None: create).

    ``null`` values and ``$`` directives in ``applied`` are ignored.  Raises
    ``ApplyConflict`` (unless ``force``) and ``PatchError`` for a malformed
    configuration.
    """
    if not isinstance(applied, dict):
        raise PatchError("an apply configuration must be an object")
    if not manager:
        raise PatchError("server-side apply needs a fieldManager")
    type_name = root_type(kind, api_version)
    config = _scope(_clean(applied), subresource)
    _check_keys(config, type_name, "")
    declared: set[Path] = set()
    _map_paths(config, type_name, (), declared, containers=False)
    declared = {p for p in declared if _tracked(p, subresource)}

    base = _without_managed(live)
    entries = read_managed_fields(live)
    me = ManagedEntry(manager, "Apply", api_version, now, set(), subresource or "")
    mine = next((e for e in entries if e.identity() == me.identity()), None)
    others = [e for e in entries if e is not mine]

    merged = _merge_applied(deep_copy(base), config, type_name)
    kept = declared.union(*(e.fields for e in others))
    dropped = (mine.fields if mine else set()) - kept
    _prune_map(merged, to_fields_v1(dropped), to_fields_v1(kept), type_name)

    diff = _object_diff(base, merged, kind, api_version, subresource)
    changed = diff.added | diff.modified
    conflicts = [Conflict(e.manager, e.api_version, path_string(p), e.operation, e.subresource)
                 for e in sorted(others, key=lambda e: e.identity()) for p in sorted(e.fields & changed)]
    if conflicts and not force:
        raise ApplyConflict(conflicts)
    for entry in others:
        entry.fields -= changed | diff.removed
    entry = mine or me
    if mine is None or mine.fields != declared or changed or diff.removed:
        entry.time = now
    entry.fields, entry.api_version = declared, api_version
    _write_managed_fields(merged, others + [entry])
    return merged


def _clean(value: Any) -> Any:
    """Deep copy without nulls and "$" directives (they mean nothing in apply)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None and not k.startswith("$")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _scope(config: dict, subresource: str | None) -> dict:
    """What this apply may set: status only through /status, never server-owned metadata."""
    if subresource == "status":
        return {"status": config["status"]} if "status" in config else {}
    config.pop("status", None)
    metadata = config.get("metadata")
    if isinstance(metadata, dict):  # the server sets these; name and namespace stay
        for name in _SERVER_OWNED - {"f:name", "f:namespace"}:
            metadata.pop(name[2:], None)
    return config


def _check_keys(obj: dict, type_name: str | None, where: str) -> None:
    """Every item of a keyed list needs its key fields, and keys must be unique."""
    for key, value in obj.items():
        meta, path = field_meta(type_name, key), f"{where}.{key}"
        if isinstance(value, dict):
            _check_keys(value, _child_type(meta), path)
        elif isinstance(value, list) and meta is not None and meta.shape == "keyed":
            seen: set[str] = set()
            for item in value:
                element = _element(item, meta)
                if element is None:
                    raise PatchError(f"{path}: list item {_json(item)} needs the key field(s) "
                                     + ", ".join(f'"{k}"' for k in meta.keys))
                if element in seen:
                    raise PatchError(f"{path}: duplicate entries for key {path_string((element,))}")
                seen.add(element)
                _check_keys(item, meta.type, path + path_string((element,)))


def _merge_applied(live: dict, config: dict, type_name: str | None) -> dict:
    """Merge an apply configuration into ``live`` (owned, mutated): maps merge,
    keyed lists merge item by item, sets union, everything else is replaced."""
    for key, value in config.items():
        meta, current = field_meta(type_name, key), live.get(key, _MISSING)
        shape = _shape(value, meta)
        if shape == "map" and isinstance(current, dict):
            live[key] = _merge_applied(current, value, _child_type(meta))
        elif shape == "keyed" and meta is not None and isinstance(current, list) \
                and _keyed_items(current, meta) is not None:
            live[key] = _merge_items(current, value, meta)
        elif shape == "set" and isinstance(current, list):
            live[key] = current + [deep_copy(v) for v in value if not any(json_equal(v, c) for c in current)]
        else:
            live[key] = deep_copy(value)
    return live


def _merge_items(current: list, config: list, meta: FieldMeta) -> list:
    on_server = _keyed_items(current, meta) or {}
    wanted = _keyed_items(config, meta) or {}
    merged = []
    for element, item in wanted.items():
        existing = on_server.get(element)
        if existing is None or is_atomic_type(meta.type):
            merged.append(deep_copy(item))
        else:
            merged.append(_merge_applied(existing, item, meta.type))
    server_only = [item for element, item in on_server.items() if element not in wanted]
    return interleave(server_only, merged, list(on_server), lambda item: _element(item, meta))


# --------------------------------------------------------------------------- pruning


def _is_member(node: dict) -> bool:
    return not node or "." in node


def _prune_map(obj: dict, dropped: FieldsV1, kept: FieldsV1, type_name: str | None) -> None:
    """Remove from ``obj`` the fields in ``dropped`` that nobody in ``kept`` owns."""
    for element, sub in dropped.items():
        name = element[2:]
        if not element.startswith("f:") or name not in obj:
            continue
        if _is_member(sub) and element not in kept:
            del obj[name]
            continue
        child = obj[name]
        had_content = bool(child)
        _prune_value(child, sub, kept.get(element, {}), field_meta(type_name, name))
        if had_content and isinstance(child, (dict, list)) and not child:
            del obj[name]  # emptied by pruning: gone, as an omitempty field would be


def _prune_value(value: Any, dropped: FieldsV1, kept: FieldsV1, meta: FieldMeta | None) -> None:
    shape = _shape(value, meta)
    if shape == "map":
        _prune_map(value, dropped, kept, _child_type(meta))
    elif shape == "keyed":
        assert meta is not None
        items = _keyed_items(value, meta) or {}
        key_fields = {"f:" + k for k in meta.keys}
        doomed = set()
        for element, sub in dropped.items():
            if element not in items:
                continue
            if _is_member(sub) and element not in kept:
                doomed.add(element)
            elif not is_atomic_type(meta.type):  # a kept item keeps its key fields
                inner = {k: v for k, v in sub.items() if k not in key_fields}
                _prune_map(items[element], inner, kept.get(element, {}), meta.type)
        value[:] = [item for element, item in items.items() if element not in doomed]
    elif shape == "set":
        doomed = {e for e in dropped if e.startswith("v:") and e not in kept}
        value[:] = [v for v in value if "v:" + _json(v) not in doomed]

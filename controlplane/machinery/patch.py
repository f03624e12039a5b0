"""The patch formats the API server accepts, and the three-way patch apply builds.

Owns:
* ``json_merge_patch``       application/merge-patch+json (RFC 7386)
* ``json_patch``             application/json-patch+json (RFC 6902)
* ``strategic_merge_patch``  application/strategic-merge-patch+json, with the
  list-merge rules of ``patchmeta`` (the same table kubectl compiles in)
* ``create_three_way_patch`` the strategic patch ``kubectl apply`` sends:
  deletions from last-applied → new manifest, changes from live → new manifest

All functions are pure: inputs are never mutated and results share no
structure with them.  Bad patches raise ``PatchError`` naming the operation,
the path and the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from .meta import deep_copy
from .patchmeta import FieldMeta, field_meta, root_type


class PatchError(Exception):
    """A patch is malformed or cannot be applied; the message says where and why."""


_MISSING: Any = object()
_DELETE: Any = object()  # a map carried "$patch: delete"

PATCH = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER = "$setElementOrder/"
DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true != 1 (Python's == says otherwise)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(json_equal, a, b))
    return type(a) is type(b) and a == b


def _index_of(values: Sequence[Any], value: Any) -> int:
    for i, candidate in enumerate(values):
        if json_equal(candidate, value):
            return i
    return -1


# --------------------------------------------------------------------------- RFC 7386


def json_merge_patch(target: dict, patch: Any, *, in_place: bool = False) -> dict:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces.

    ``in_place``: the caller owns ``target`` (a private copy) and lets it be changed."""
    if not isinstance(patch, dict):
        raise PatchError(f"a merge patch for an object must be a JSON object, got {_json_type(patch)}")
    if not isinstance(target, dict):
        return _merge_into({}, patch)
    return _merge_into(target if in_place else deep_copy(target), patch)


def _merge_into(target: dict, patch: dict) -> dict:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            target[key] = _merge_into(current if isinstance(current, dict) else {}, value)
        else:
            target[key] = deep_copy(value)
    return target


# --------------------------------------------------------------------------- RFC 6902


class _OpFailed(Exception):
    """Internal: one JSON-patch operation failed; wrapped into PatchError with its index."""


_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_BAD_ESCAPE = re.compile(r"~(?![01])")


def json_patch(target: dict, ops: list, *, in_place: bool = False) -> dict:
    """RFC 6902: apply add/remove/replace/move/copy/test in order; all or nothing (with
    ``in_place``, a failure leaves ``target`` half-patched: its owner throws it away)."""
    if not isinstance(ops, list):
        raise PatchError(f"a JSON patch must be an array of operations, got {_json_type(ops)}")
    doc: Any = target if in_place else deep_copy(target)
    for number, op in enumerate(ops):
        try:
            doc = _apply_op(doc, op)
        except _OpFailed as exc:
            raise PatchError(f"JSON patch operation {number} ({_describe(op)}) failed: {exc}") from None
    if not isinstance(doc, dict):
        raise PatchError(f"the JSON patch turned the object into {_json_type(doc)}; it must stay an object")
    return doc


def _describe(op: Any) -> str:
    if not isinstance(op, dict):
        return repr(op)
    text = f'{op.get("op", "?")} {op.get("path", "")!s}'.strip()
    return f'{text} from {op["from"]}' if "from" in op else text


def _member(op: dict, name: str) -> Any:
    if name not in op:
        raise _OpFailed(f'missing "{name}"')
    return op[name]


def _apply_op(doc: Any, op: Any) -> Any:
    if not isinstance(op, dict):
        raise _OpFailed(f"an operation must be an object, got {_json_type(op)}")
    kind = _member(op, "op")
    path = _pointer(_member(op, "path"))
    if kind == "add":
        return _add(doc, path, deep_copy(_member(op, "value")))
    if kind == "remove":
        return _remove(doc, path)[0]
    if kind == "replace":
        return _replace(doc, path, deep_copy(_member(op, "value")))
    if kind in ("move", "copy"):
        source = _pointer(_member(op, "from"))
        if kind == "copy":
            return _add(doc, path, deep_copy(_get(doc, source)))
        if path[: len(source)] == source and len(path) > len(source):
            raise _OpFailed("cannot move a value into one of its own children")
        doc, value = _remove(doc, source)
        return _add(doc, path, value)
    if kind == "test":
        actual, expected = _get(doc, path), _member(op, "value")
        if not json_equal(actual, expected):
            raise _OpFailed(f"value is {json.dumps(actual)}, expected {json.dumps(expected)}")
        return doc
    raise _OpFailed(f'unknown op "{kind}" (expected add, remove, replace, move, copy or test)')


def _pointer(pointer: Any) -> list[str]:
    if not isinstance(pointer, str):
        raise _OpFailed(f"a JSON pointer must be a string, got {_json_type(pointer)}")
    if pointer == "":
        return []
    if not pointer.startswith("/") or _BAD_ESCAPE.search(pointer):
        raise _OpFailed(f'"{pointer}" is not a valid JSON pointer')
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


def _render(tokens: Sequence[str]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def _array_index(token: str, length: int, tokens: Sequence[str], *, insert: bool) -> int:
    if token == "-" and insert:
        return length
    if not _ARRAY_INDEX.fullmatch(token):
        raise _OpFailed(f'"{_render(tokens)}": "{token}" is not an array index')
    index = int(token)
    if index > length or (index == length and not insert):
        raise _OpFailed(f'"{_render(tokens)}": index {index} is out of range (array has {length} items)')
    return index


def _get(doc: Any, path: Sequence[str]) -> Any:
    node = doc
    for depth, token in enumerate(path):
        where = path[: depth + 1]
        if isinstance(node, dict):
            if token not in node:
                raise _OpFailed(f'"{_render(where)}" does not exist')
            node = node[token]
        elif isinstance(node, list):
            node = node[_array_index(token, len(node), where, insert=False)]
        else:
            raise _OpFailed(f'"{_render(path[:depth])}" is a {_json_type(node)}, not an object or array')
    return node


def _add(doc: Any, path: Sequence[str], value: Any) -> Any:
    if not path:
        return value
    parent = _get(doc, path[:-1])
    if isinstance(parent, dict):
        parent[path[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_array_index(path[-1], len(parent), path, insert=True), value)
    else:
        raise _OpFailed(f'"{_render(path[:-1])}" is a {_json_type(parent)}, not an object or array')
    return doc


def _replace(doc: Any, path: Sequence[str], value: Any) -> Any:
    if not path:
        return value
    parent = _get(doc, path[:-1])
    if isinstance(parent, dict) and path[-1] in parent:
        parent[path[-1]] = value  # in place, so the field keeps its position
    elif isinstance(parent, list):
        parent[_array_index(path[-1], len(parent), path, insert=False)] = value
    else:
        _get(doc, path)  # raises the precise error
    return doc


def _remove(doc: Any, path: Sequence[str]) -> tuple[Any, Any]:
    if not path:
        raise _OpFailed("cannot remove the whole document")
    parent = _get(doc, path[:-1])
    if isinstance(parent, dict):
        if path[-1] not in parent:
            raise _OpFailed(f'"{_render(path)}" does not exist')
        return doc, parent.pop(path[-1])
    if isinstance(parent, list):
        return doc, parent.pop(_array_index(path[-1], len(parent), path, insert=False))
    raise _OpFailed(f'"{_render(path[:-1])}" is a {_json_type(parent)}, not an object or array')


# --------------------------------------------------------------------------- strategic merge patch


def strategic_merge_patch(live: dict, patch: dict, kind: str, *, in_place: bool = False) -> dict:
    """Apply a strategic merge patch to ``live`` using the merge rules for ``kind``.

    Kinds without patch metadata merge maps and replace lists (JSON-merge-like).
    ``in_place``: the caller owns ``live`` (a private copy) and lets it be changed.
    """
    if not isinstance(patch, dict):
        raise PatchError(f"a strategic merge patch must be a JSON object, got {_json_type(patch)}")
    if not isinstance(live, dict):
        base = {}
    else:
        base = live if in_place else deep_copy(live)
    result = _smp_map(base, patch, root_type(kind), "")
    if result is _DELETE:
        raise PatchError('"$patch": "delete" at the top level would delete the whole object')
    return result


def _where(path: str) -> str:
    return path or "the object"


def _smp_map(orig: dict, patch: dict, type_name: str | None, path: str) -> Any:
    """Merge ``patch`` into ``orig`` (owned by the caller, mutated and returned)."""
    orig = _map_directives(orig, patch, path)
    if orig is _DELETE:
        return _DELETE
    fields = [k for k in patch if not k.startswith("$")]
    fields += [k[len(SET_ORDER):] for k in patch if k.startswith(SET_ORDER) and k[len(SET_ORDER):] not in patch]
    for key in fields:
        meta = field_meta(type_name, key)
        value = patch.get(key, _MISSING)
        order = patch.get(SET_ORDER + key)
        if value is None:
            orig.pop(key, None)
            continue
        if value is _MISSING:  # only "$setElementOrder/<key>": reorder what is there
            value = orig.get(key)
            if isinstance(value, list) and meta is not None and meta.smp_merges_list:
                orig[key] = _reorder(value, order, value, meta, f"{path}.{key}")
            continue
        merged = _smp_value(orig.get(key, _MISSING), value, meta, f"{path}.{key}", order)
        if merged is _DELETE:
            orig.pop(key, None)
        else:
            orig[key] = merged
    return orig


def _map_directives(orig: dict, patch: dict, path: str) -> Any:
    """Apply ``$patch``, ``$retainKeys`` and ``$deleteFromPrimitiveList/*`` of one map."""
    directive = patch.get(PATCH)
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        orig = {}
    elif directive not in (None, "merge"):
        raise PatchError(f'{_where(path)}: unknown "$patch": {json.dumps(directive)} '
                         "(expected replace, delete or merge)")
    if RETAIN_KEYS in patch:
        retain = patch[RETAIN_KEYS]
        if not isinstance(retain, list) or not all(isinstance(k, str) for k in retain):
            raise PatchError(f"{_where(path)}: $retainKeys must be a list of field names")
        orig = {k: v for k, v in orig.items() if k in retain}
    for key, doomed in patch.items():
        if key.startswith(DELETE_PRIMITIVE):
            field = key[len(DELETE_PRIMITIVE):]
            if not isinstance(doomed, list):
                raise PatchError(f"{path}.{field}: {key} must be a list")
            if isinstance(orig.get(field), list):
                orig[field] = [v for v in orig[field] if _index_of(doomed, v) < 0]
    return orig


def _smp_value(current: Any, value: Any, meta: FieldMeta | None, path: str, order: Any) -> Any:
    if isinstance(value, dict):
        type_name = meta.type if meta is not None and meta.shape == "struct" else None
        return _smp_map(current if isinstance(current, dict) else {}, value, type_name, path)
    if isinstance(value, list):
        return _smp_list(current if isinstance(current, list) else [], value, meta, path, order)
    return value


def _smp_list(orig: list, patch: list, meta: FieldMeta | None, path: str, order: Any) -> list:
    if meta is None or not meta.smp_merges_list:
        return _strip_directives(patch)  # atomic list: the patch replaces it
    if meta.merge_key is None:  # a set of scalars: union
        merged = list(orig)
        for value in patch:
            if _index_of(merged, value) < 0:
                merged.append(value)
        result = _reorder(merged, patch, orig, meta, path)
    else:
        result = _merge_keyed(orig, patch, meta, path)
    return result if order is None else _reorder(result, order, orig, meta, path)


def _merge_keyed(orig: list, patch: list, meta: FieldMeta, path: str) -> list:
    key = meta.merge_key
    assert key is not None
    updates: list[dict] = []
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f'{path}: items must be objects merged by "{key}", got {_json_type(item)}')
        directive = item.get(PATCH)
        if directive == "replace":  # {"$patch": "replace"} anywhere: the list is replaced
            orig = []
            continue
        if key not in item:
            raise PatchError(f'{path}: item {json.dumps(item, sort_keys=True)} has no merge key "{key}"')
        if directive == "delete":
            orig = [x for x in orig if not (isinstance(x, dict) and json_equal(x.get(key, _MISSING), item[key]))]
        elif directive not in (None, "merge"):
            raise PatchError(f"{path}[{key}={json.dumps(item[key])}]: unknown \"$patch\": {json.dumps(directive)}")
        else:
            updates.append(item)
    result = list(orig)
    for item in updates:
        at = _find(result, key, item[key])
        item_path = f"{path}[{key}={json.dumps(item[key])}]"
        if at < 0:
            result.append(_smp_map({}, item, meta.type, item_path))
        else:
            result[at] = _smp_map(result[at], item, meta.type, item_path)
    return _reorder(result, updates, orig, meta, path)


def _find(items: Sequence[Any], key: str, value: Any) -> int:
    for i, item in enumerate(items):
        if isinstance(item, dict) and key in item and json_equal(item[key], value):
            return i
    return -1


def _item_key(meta: FieldMeta) -> Callable[[Any], Any]:
    if meta.merge_key is None:
        return lambda item: item
    key = meta.merge_key
    return lambda item: item.get(key, _MISSING) if isinstance(item, dict) else _MISSING


def _reorder(items: list, order: Any, server: list, meta: FieldMeta, path: str) -> list:
    """Order merged ``items`` the way Go's SMP does.

    Items named in ``order`` (the patch list or ``$setElementOrder``) come in that
    order; the others keep the order they had on the server and are slotted in
    before the first ordered item that followed them there.
    """
    if not isinstance(order, list):
        raise PatchError(f"{path}: $setElementOrder must be a list")
    key_of = _item_key(meta)
    wanted = [key_of(x) for x in order]
    ordered = [x for x in items if _index_of(wanted, key_of(x)) >= 0]
    ordered.sort(key=lambda x: _index_of(wanted, key_of(x)))
    rest = [x for x in items if _index_of(wanted, key_of(x)) < 0]
    return interleave(rest, ordered, [key_of(x) for x in server], key_of)


def interleave(server_only: list, ordered: list, server_order: list, key_of: Callable[[Any], Any]) -> list:
    """Merge two lists keeping each one's order; a server-only item goes first
    only when both items were on the server and it came first there."""
    out: list = []
    i = j = 0
    while i < len(server_only) or j < len(ordered):
        if j >= len(ordered):
            out.append(server_only[i])
            i += 1
            continue
        if i < len(server_only):
            left = _index_of(server_order, key_of(server_only[i]))
            right = _index_of(server_order, key_of(ordered[j]))
            if 0 <= left < right:
                out.append(server_only[i])
                i += 1
                continue
        out.append(ordered[j])
        j += 1
    return out


def _strip_directives(value: Any) -> Any:
    """Deep copy without "$..." keys: directives must never be stored."""
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


# --------------------------------------------------------------------------- three-way patch


def create_three_way_patch(original: dict | None, modified: dict, current: dict, kind: str) -> dict:
    """The strategic patch that turns ``current`` into ``modified`` (like kubectl apply).

    Fields present in ``original`` (the last-applied configuration) but gone
    from ``modified`` become ``null`` / ``$patch: delete`` /
    ``$deleteFromPrimitiveList``; fields that differ between ``current`` and
    ``modified`` are set.  Fields only in ``current`` (set by someone else) are
    left alone.  An empty dict means nothing to do.
    """
    type_name = root_type(kind)
    deletions = _diff_maps(original or {}, modified, type_name, changes=False, deletions=True)
    changes = _diff_maps(current or {}, modified, type_name, changes=True, deletions=False)
    return _merge_patches(deletions, changes, type_name)


def _diff_maps(old: dict, new: dict, type_name: str | None, *, changes: bool, deletions: bool,
               retain_keys: bool = False) -> dict:
    patch: dict = {}
    for key, new_value in new.items():
        if key not in old:
            if changes:
                patch[key] = deep_copy(new_value)
            continue
        old_value, meta = old[key], field_meta(type_name, key)
        if isinstance(old_value, dict) and isinstance(new_value, dict):
            struct = meta if meta is not None and meta.shape == "struct" else None
            sub = _diff_maps(old_value, new_value, struct.type if struct else None, changes=changes,
                             deletions=deletions, retain_keys=bool(struct and struct.retain_keys))
            if sub:
                patch[key] = sub
        elif isinstance(old_value, list) and isinstance(new_value, list):
            _diff_lists(patch, key, old_value, new_value, meta, changes=changes, deletions=deletions)
        elif changes and not json_equal(old_value, new_value):
            patch[key] = deep_copy(new_value)
    if deletions:
        patch.update({key: None for key in old if key not in new})
    # $retainKeys lists every field the new map keeps, so fields set by the
    # server under a different union member (rollingUpdate vs Recreate) go away.
    dropped = any(v is not None and k not in new for k, v in old.items())
    keep = sorted(k for k, v in new.items() if v is not None)
    if retain_keys and keep and (patch or dropped):
        patch[RETAIN_KEYS] = keep
    return patch


def _diff_lists(patch: dict, key: str, old: list, new: list, meta: FieldMeta | None, *,
                changes: bool, deletions: bool) -> None:
    if meta is None or not meta.smp_merges_list:
        if changes and not json_equal(old, new):
            patch[key] = deep_copy(new)
        return
    if not old:
        if changes and new:
            patch[key] = deep_copy(new)
        return
    if meta.merge_key is None:
        added = [v for v in new if _index_of(old, v) < 0] if changes else []
        removed = sorted((v for v in old if _index_of(new, v) < 0), key=str) if deletions else []
        if added:
            patch[key] = deep_copy(added)
        if removed:
            patch[DELETE_PRIMITIVE + key] = removed
        if new and (removed or (changes and not json_equal(old, new))):
            patch[SET_ORDER + key] = deep_copy(new)
        return
    mk = meta.merge_key
    items: list = []
    for item in new:
        if not isinstance(item, dict) or mk not in item:
            raise PatchError(f'{key}: item {json.dumps(item, sort_keys=True)} has no merge key "{mk}"')
        at = _find(old, mk, item[mk])
        if at < 0:
            if changes:
                items.append(deep_copy(item))
            continue
        sub = _diff_maps(old[at], item, meta.type, changes=changes, deletions=deletions,
                         retain_keys=meta.retain_keys)
        if sub:
            items.append({**sub, mk: deep_copy(item[mk])})
    gone = [x[mk] for x in old if isinstance(x, dict) and mk in x and _find(new, mk, x[mk]) < 0]
    if deletions:
        items += [{PATCH: "delete", mk: v} for v in sorted(gone, key=str)]
    same_order = [x.get(mk) for x in old if isinstance(x, dict)] == [x[mk] for x in new]
    if items:
        patch[key] = items
    if new and (items or (changes and not same_order)):
        patch[SET_ORDER + key] = [{mk: deep_copy(x[mk])} for x in new]


def _merge_patches(base: dict, extra: dict, type_name: str | None) -> dict:
    """Combine two patches (deletions first, then changes) into one, as kubectl does."""
    for key, value in extra.items():
        mine = base.get(key, _MISSING)
        meta = None if key.startswith("$") else field_meta(type_name, key)
        if isinstance(mine, dict) and isinstance(value, dict):
            base[key] = _merge_patches(mine, value, meta.type if meta and meta.shape == "struct" else None)
        elif (isinstance(mine, list) and isinstance(value, list) and meta is not None
              and meta.merge_key is not None):
            base[key] = _merge_patch_items(mine, value, meta, base.get(SET_ORDER + key) or extra.get(SET_ORDER + key))
        else:
            base[key] = value
    return base


def _merge_patch_items(base: list, extra: list, meta: FieldMeta, order: list | None) -> list:
    mk = meta.merge_key
    assert mk is not None
    merged = list(base)
    for item in extra:
        at = _find(merged, mk, item[mk])
        if at >= 0 and merged[at].get(PATCH) != "delete":
            merged[at] = _merge_patches(merged[at], item, meta.type)
        else:
            merged.append(item)
    wanted = [x.get(mk) for x in order or []]
    kept = [x for x in merged if x.get(PATCH) != "delete"]
    kept.sort(key=lambda x: _index_of(wanted, x[mk]) if _index_of(wanted, x[mk]) >= 0 else len(wanted))
    return kept + [x for x in merged if x.get(PATCH) == "delete"]

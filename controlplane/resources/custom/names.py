"""Which names each CRD may use: status.acceptedNames and the NamesAccepted condition.

As kube's naming controller decides, with one difference that makes the answer the same on
every API server: the CRDs of a group are taken oldest first (creationTimestamp, then name),
and a CRD's names conflict with the names the CRDs before it were just given, the names the
others already hold (status.acceptedNames), and the group's built-in resources. A name a CRD
already holds stays its own; a requested name someone else holds is refused with
`"foo" is already in use`, and the rest of its names are still accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ...machinery.types import Obj
from ..fields import as_dict, as_list, as_str
from ..info import ResourceInfo

NAME_FIELDS = ("plural", "singular", "shortNames", "kind", "listKind", "categories")


@dataclass(frozen=True)
class Verdict:
    names: Obj  # the accepted names
    accepted: bool
    reason: str  # NoConflicts, PluralConflict, SingularConflict, ShortNamesConflict, ...
    message: str


def _held(names: Obj) -> tuple[set[str], set[str]]:
    resources = {as_str(names.get("plural")), as_str(names.get("singular"))}
    resources |= {as_str(s) for s in as_list(names.get("shortNames"))}
    kinds = {as_str(names.get("kind")), as_str(names.get("listKind"))}
    return resources - {""}, kinds - {""}


def _in_use(name: str) -> str:
    return f'"{name}" is already in use'


def decide(requested: Obj, accepted: Obj, resources: set[str], kinds: set[str]) -> Verdict:
    """The names a CRD gets, given the names others in its group hold."""
    new: Obj = {k: accepted[k] for k in NAME_FIELDS if k in accepted}
    problem: tuple[str, str] | None = None

    def take(field: str, used: set[str], reason: str) -> None:
        nonlocal problem
        want, have = as_str(requested.get(field)), as_str(accepted.get(field))
        if want != have and want in used:
            problem = (reason, _in_use(want))
        elif want:
            new[field] = want

    take("plural", resources, "PluralConflict")
    take("singular", resources, "SingularConflict")
    wanted = [as_str(s) for s in as_list(requested.get("shortNames"))]
    had = [as_str(s) for s in as_list(accepted.get("shortNames"))]
    if wanted != had:
        clash = [s for s in wanted if s not in had and s not in (new.get("plural"), new.get("singular"))
                 and s in resources]
        if clash:
            problem = ("ShortNamesConflict", ", ".join(_in_use(s) for s in clash))
        elif wanted:
            new["shortNames"] = wanted
        else:
            new.pop("shortNames", None)
    take("kind", kinds, "KindConflict")
    take("listKind", kinds, "ListKindConflict")
    if requested.get("categories"):
        new["categories"] = list(as_list(requested.get("categories")))
    else:
        new.pop("categories", None)
    new.setdefault("plural", "")
    new.setdefault("kind", "")
    if problem is None:
        return Verdict(new, True, "NoConflicts", "no conflicts found")
    return Verdict(new, False, problem[0], problem[1])


def _order(crd: Obj) -> tuple[str, str]:
    md = as_dict(crd.get("metadata"))
    return as_str(md.get("creationTimestamp")), as_str(md.get("name"))


def decide_all(crds: Iterable[Obj], builtin: Iterable[ResourceInfo]) -> dict[str, Verdict]:
    """The verdict for every CRD, by CRD name."""
    by_group: dict[str, list[Obj]] = {}
    for crd in crds:
        by_group.setdefault(as_str(as_dict(crd.get("spec")).get("group")), []).append(crd)
    fixed: dict[str, tuple[set[str], set[str]]] = {}
    for info in builtin:
        res, kinds = fixed.setdefault(info.group, (set(), set()))
        res.update({info.resource, info.singular, *info.short_names})
        kinds.update({info.kind, info.kind + "List"})
    out: dict[str, Verdict] = {}
    for group, members in by_group.items():
        members.sort(key=_order)
        holding = {as_str(as_dict(c.get("metadata")).get("name")):
                   _held(as_dict(as_dict(c.get("status")).get("acceptedNames"))) for c in members}
        for crd in members:
            name = as_str(as_dict(crd.get("metadata")).get("name"))
            resources, kinds = set(fixed.get(group, (set(), set()))[0]), set(fixed.get(group, (set(), set()))[1])
            for other, (res, kin) in holding.items():
                if other != name:
                    resources |= res
                    kinds |= kin
            verdict = decide(as_dict(as_dict(crd.get("spec")).get("names")),
                             as_dict(as_dict(crd.get("status")).get("acceptedNames")), resources, kinds)
            holding[name] = _held(verdict.names)
            out[name] = verdict
    return out

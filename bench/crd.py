"""Creating custom objects beside ConfigMaps, through the real API server process.

The cost a CRD adds to a write is its schema: defaulting, pruning, validation and CEL rules,
compiled once per CRD version. Measured here as create throughput of a custom kind with a
structural schema (no rules), of one with the same schema and two CEL rules, and of ConfigMaps
(built-in kind, compiled JSON schema) of about the same size, in the same run, at concurrency
1 and 16. The ratio custom/ConfigMap is what to watch.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass

import aiohttp

from .cluster import Etcd, start_controlplane, stop_all, wait_for
from .procstat import cpu_seconds
from .report import Section, Table
from .stats import Samples, ms, ratio, run_load

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
CONFIG_MAPS = "/api/v1/namespaces/default/configmaps"

_SPEC = {
    "type": "object", "required": ["size"],
    "properties": {
        "size": {"type": "string", "enum": ["small", "large"]},
        "replicas": {"type": "integer", "minimum": 0, "default": 1},
        "maxReplicas": {"type": "integer", "default": 10},
        "image": {"type": "string", "pattern": "^[a-z0-9./:-]+$"},
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "required": ["name"],
                            "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}},
    },
}
_RULES = [{"rule": "self.replicas <= self.maxReplicas", "message": "replicas must not exceed maxReplicas"},
          {"rule": "self.ports.all(p, p.port > 0 && p.port < 65536)"}]


@dataclass(frozen=True)
class Kind:
    label: str
    path: str
    body: dict


def _crd(plural: str, kind: str, rules: bool) -> dict:
    spec = copy.deepcopy(_SPEC)
    if rules:
        spec["x-kubernetes-validations"] = copy.deepcopy(_RULES)
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.bench.example.com"},
            "spec": {"group": "bench.example.com", "scope": "Namespaced",
                     "names": {"plural": plural, "kind": kind},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec}}}}]}}


def _custom(kind: str) -> dict:
    return {"apiVersion": "bench.example.com/v1", "kind": kind, "metadata": {"labels": {"app": "bench"}},
            "spec": {"size": "small", "replicas": 3, "image": "pyctl/demo:1.0",
                     "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]}}


def _config_map() -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"labels": {"app": "bench"}},
            "data": {"size": "small", "replicas": "3", "image": "pyctl/demo:1.0", "ports": "http:80,https:443"}}


KINDS = (Kind("ConfigMap", CONFIG_MAPS, _config_map()),
         Kind("custom, schema", "/apis/bench.example.com/v1/namespaces/default/plainwidgets", _custom("PlainWidget")),
         Kind("custom, schema + 2 CEL rules", "/apis/bench.example.com/v1/namespaces/default/celwidgets",
              _custom("CelWidget")))


async def run(quick: bool, workdir: str, facts: dict) -> Section:
    ops, limit, levels = (150, 6.0, (1, 16)) if quick else (1500, 30.0, (1, 16))
    etcd = Etcd().start()
    cp = None
    rows: dict[tuple[str, int], Samples] = {}
    try:
        cp, url, _ = await start_controlplane(etcd, "apiserver", log=os.path.join(workdir, "crd-controlplane.log"))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            async def post(path: str, body: dict) -> None:
                async with s.post(url + path, json=body) as r:
                    if r.status != 201:
                        raise RuntimeError(f"POST {path}: {r.status} {await r.text()}")
                    await r.read()

            for plural, kind, rules in (("plainwidgets", "PlainWidget", False), ("celwidgets", "CelWidget", True)):
                await post(CRDS, _crd(plural, kind, rules))

            async def served() -> bool:
                async with s.get(url + "/apis/bench.example.com/v1") as r:
                    return r.status == 200 and len((await r.json())["resources"]) == 2
            await wait_for(served, 30, "the benchmark CRDs to be served")
            for c in levels:
                for k in KINDS:
                    def create(i: int, k=k, c=c) -> object:
                        body = copy.deepcopy(k.body)
                        body["metadata"]["name"] = f"c{c}-{i}"
                        return post(k.path, body)
                    before = cpu_seconds(cp.pid)
                    samples = await run_load(create, ops, c, limit)
                    samples.busy = {"api": (cpu_seconds(cp.pid) - before) / samples.wall}
                    rows[k.label, c] = samples
    finally:
        stop_all(cp, etcd)
    return section(rows, levels)


def section(rows: dict[tuple[str, int], Samples], levels: tuple[int, ...]) -> Section:
    table = Table("Creates: custom kinds beside ConfigMaps (same API server, same etcd, same run)",
                  ["kind", "c", "creates/s", "p50 ms", "p99 ms", "throughput vs ConfigMap",
                   "API server CPU ms per create", "n (errors)"])
    for (label, c), s in rows.items():
        base = rows["ConfigMap", c]
        cpu_ms = s.busy["api"] * s.wall / max(s.count, 1) * 1000
        table.rows.append([label, c, f"{s.throughput:.0f}", ms(s.p50), ms(s.p99),
                           "—" if label == "ConfigMap" else ratio(s.throughput, base.throughput),
                           f"{cpu_ms:.2f}", f"{s.count} ({s.errors})"])
    sec = Section("crd", "Custom resources vs ConfigMaps",
                  "Creates of a custom kind whose CRD has a structural schema (enum, pattern, bounds, "
                  "defaults, a map list), of one with the same schema and two CEL rules, and of ConfigMaps "
                  "of about the same size, through the API server process (`--components apiserver`) on a "
                  "real etcd, at concurrency `c`. Each CRD version's schema and rules are compiled once.",
                  [table])
    top = max(levels)
    sec.facts["custom/configmap"] = rows["custom, schema", top].throughput / rows["ConfigMap", top].throughput
    return sec

"""`schedule_many` decides replicas exactly as `schedule` + `assume` one by one would: on
random clusters (big enough that only part of the nodes is looked at per pod), the same
nodes, the same scores, the same failures, from the same random seed."""

from __future__ import annotations

import random

import pytest

from controlplane.scheduler import DEFAULT_PROFILE, PodInfo, Snapshot, schedule
from controlplane.scheduler.framework import schedule_many

from .test_scheduler_plugins import make_node, make_pod


def anti(app: str) -> dict:
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": "kubernetes.io/hostname"}]}}


def cluster(r: random.Random, nodes: int) -> tuple[list[dict], list[dict]]:
    made = []
    for i in range(nodes):
        taints = [{"key": "dedicated", "value": "gpu", "effect": r.choice(["NoSchedule", "PreferNoSchedule"])}] \
            if r.random() < 0.1 else None
        made.append(make_node(f"n{i:03}", cpu=r.choice(["2", "4", "8"]), memory=r.choice(["4Gi", "8Gi", "16Gi"]),
                              labels={"zone": r.choice("abc")}, taints=taints, unschedulable=r.random() < 0.05,
                              ready="True" if r.random() < 0.95 else "False"))
    pods = [make_pod(f"e{i}", cpu=f"{r.randint(1, 20) * 100}m", memory=f"{r.randint(1, 40) * 64}Mi",
                     node=f"n{r.randrange(nodes):03}", owner=r.choice(["rs1", "rs2", None]),
                     host_port=r.choice([None, None, 8080]), labels={"app": r.choice(["x", "db"])},
                     affinity=anti("web") if r.random() < 0.02 else None)
            for i in range(nodes * 2)]
    return made, pods


def template(r: random.Random) -> dict:
    return make_pod("web", cpu=f"{r.randint(1, 15) * 100}m", memory=f"{r.randint(1, 30) * 64}Mi", owner="rs1",
                    labels={"app": "web"}, host_port=r.choice([None, None, 9090]),
                    node_selector=r.choice([None, {"zone": "a"}]),
                    tolerations=r.choice([None, [{"key": "dedicated", "operator": "Exists"}]]),
                    affinity=r.choice([None, None, anti("web"), anti("db")]))


def one_by_one(pods: list[PodInfo], s: Snapshot, seed: int, start: int) -> list[tuple]:
    rng, out = random.Random(seed), []
    for p in pods:
        d = schedule(p, s, DEFAULT_PROFILE, rng, start)
        start += d.examined
        if d.node is not None:
            s.assume(p, d.node)
        out.append((d.node, d.examined, d.feasible, d.scores, d.message if d.node is None else ""))
    return out


@pytest.mark.parametrize("seed", range(16))
def test_the_same_decisions_as_one_by_one(seed):
    r = random.Random(seed)
    nodes, existing = cluster(r, r.choice([7, 60, 250]))
    pod = PodInfo.from_pod(template(r))
    replicas = [pod.__class__(**{**{f: getattr(pod, f) for f in pod.__slots__}, "key": f"default/web-{i}",
                                 "name": f"web-{i}", "uid": f"u{i}"}) for i in range(r.choice([5, 80, 400]))]
    start = r.randrange(100)
    expected = one_by_one(replicas, Snapshot.build(nodes, existing), seed, start)
    s = Snapshot.build(nodes, existing)
    got = [(d.node, d.examined, d.feasible, d.scores, d.message if d.node is None else "")
           for d in schedule_many(replicas, s, DEFAULT_PROFILE, random.Random(seed), start)]
    assert got == expected
    assert any(node is None for node, *_ in got) or len(s.assumed) == len(replicas)


def test_pods_with_anti_affinity_are_decided_one_at_a_time():
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    s = Snapshot.build([make_node(n) for n in "abc"])
    pods = [PodInfo.from_pod(make_pod(f"db-{i}", labels={"app": "db"}, affinity=anti)) for i in range(4)]
    decisions = schedule_many(pods, s, DEFAULT_PROFILE, random.Random(1))
    assert sorted(d.node for d in decisions[:3]) == ["a", "b", "c"] and decisions[3].node is None

"""The benchmark report's goals table (bench/goals.py) decides met / not met / not measured from
the figures it is given, and the pods/s timeline (bench/timeline.py) bins watch timestamps."""

from __future__ import annotations

import math

from bench import goals
from bench.timeline import bin_width, per_second, pods_per_second


def full_run(**override) -> dict:
    """Figures as a full run leaves them, every goal just met."""
    facts = {
        "scheduler.bound_rate": 1000.0, "scheduler.cpu_ms_per_pod": 1.5, "scheduler.nodes": 500,
        "scheduler.pods": 5000, "scheduler.all_bound": True, "scheduler.controlplane_rss_loaded": 500.0,
        "api.top_c": 64, "api.create_ratio": 0.40, "api.get_ratio": 2.0, "api.list_ratio": 2.0,
        "scaleup.up_s": {50: 2.0, 100: 3.0}, "scaleup.swarm_up_s": {"20→50": 3.0, "0→50": 4.0, "0→100": 9.0},
        "scaleup.swarm_error": "",
        "podstart.p50_s": 0.125, "podstart.raw_p50_s": 0.100,
        "memory.agent_rss_idle": 50.0,
    }
    return facts | override


def met(facts: dict) -> dict[str, str]:
    return {r.figure: r.met for r in goals.rows(facts)}


def row(facts: dict, start: str) -> goals.Row:
    found = [r for r in goals.rows(facts) if r.figure.startswith(start)]
    assert len(found) == 1, start
    return found[0]


def test_every_goal_of_issue_20_has_a_row_and_the_boundary_is_met() -> None:
    verdicts = met(full_run())
    assert len(verdicts) == 9
    assert set(verdicts.values()) == {"yes"}, verdicts


def test_each_goal_is_not_met_just_past_its_bound() -> None:
    past = {"pods created → bound": {"scheduler.bound_rate": 999.0},
            "API creates": {"api.create_ratio": 0.39},
            "API get": {"api.get_ratio": 1.99},
            "API list": {"api.list_ratio": 1.42},
            "0→50 real pods": {"scaleup.up_s": {50: 2.01, 100: 3.0}},
            "0→100 real pods": {"scaleup.up_s": {50: 2.0, 100: 3.01}},
            "one pod create": {"podstart.raw_p50_s": 0.099},
            "control-plane RSS": {"scheduler.controlplane_rss_loaded": 892.0},
            "agent RSS idle": {"memory.agent_rss_idle": 61.6}}
    for start, change in past.items():
        facts = full_run(**change)
        assert row(facts, start).met == "no", start
        others = [r.met for r in goals.rows(facts) if not r.figure.startswith(start)]
        assert set(others) == {"yes"}, (start, others)


def test_measured_cells_carry_the_figures_and_ratios() -> None:
    facts = full_run(**{"scheduler.bound_rate": 116.4, "scheduler.cpu_ms_per_pod": 11.1,
                        "podstart.p50_s": 0.163, "podstart.raw_p50_s": 0.093})
    assert row(facts, "pods created → bound").measured == "116 pods/s (11.1 ms control-plane CPU per pod)"
    assert row(facts, "0→50 real pods").measured == "2.00 s / 4.00 s = 0.50×"
    assert row(facts, "one pod create").measured == "163 / 93 ms = 1.75×"
    assert row(facts, "0→100 real pods").measured == "3.00 s (Swarm 0→100: 9.00 s)"
    budget = full_run(**{"scheduler.bound_rate": 423.0, "scheduler.cpu_ms_per_pod": 2.7,
                         "scheduler.cpu_budget_ms_at_goal": 0.37})
    assert row(budget, "pods created → bound").measured == \
        "423 pods/s (2.7 ms control-plane CPU per pod; 1,000 pods/s would leave it 0.37 ms)"
    with_floor = full_run(**{"scaleup.raw_up_s": {50: 1.5, 100: 3.16}})
    assert row(with_floor, "0→100 real pods").measured == "3.00 s (raw floor 0→100: 3.16 s; Swarm 0→100: 9.00 s)"
    assert row(with_floor, "0→100 real pods").met == "yes"  # the floor is shown, never judged
    bare = full_run(**{"api.get_ratio": 1.28, "api.get_bare_ratio": 1.15})
    assert row(bare, "API get").measured == "1.28× (c=64; bare aiohttp server, same client: 1.15×)"
    assert row(bare, "API get").met == "no"


def test_swarm_not_measurable_says_the_daemons_error_and_never_a_quoted_figure() -> None:
    error = "Swarm not measurable on this machine: failed to start daemon: Devices cgroup isn't mounted"
    facts = full_run(**{"scaleup.swarm_up_s": {}, "scaleup.swarm_error": error})
    r = row(facts, "0→50 real pods")
    assert r.met == "not measured: " + error
    assert r.measured == "pyctl 2.00 s; Swarm —"
    assert row(facts, "0→100 real pods").met == "yes"  # its goal is absolute: Swarm is only shown beside it


def test_figures_of_other_sizes_or_absent_benchmarks_are_not_measured() -> None:
    quick = full_run(**{"scheduler.nodes": 20, "scheduler.pods": 200, "api.top_c": 16,
                        "scaleup.up_s": {10: 1.0, 20: 2.0}, "scaleup.swarm_up_s": {"0→10": 1.0, "0→20": 2.0}})
    for start in ("pods created → bound", "control-plane RSS", "API creates", "0→50 real pods", "0→100 real pods"):
        assert row(quick, start).met.startswith("not measured: "), start
    assert row(quick, "pods created → bound").met == "not measured: this run placed 200 pods on 20 nodes"
    assert row(quick, "0→100 real pods").met == "not measured: this run scaled to 10, 20 only"

    only_api = {k: v for k, v in full_run().items() if k.startswith("api.")}
    verdicts = met(only_api)
    assert [v for f, v in verdicts.items() if f.startswith("API")] == ["yes", "yes", "yes"]
    assert row(only_api, "agent RSS idle").met == "not measured: `memory` did not run"
    assert row(only_api, "one pod create").met == "not measured: `podstart` did not run"


def test_unfinished_scheduler_run_is_not_met() -> None:
    assert row(full_run(**{"scheduler.all_bound": False}), "pods created → bound").met.startswith("no ")


def test_section_counts_the_verdicts() -> None:
    sec = goals.section(full_run(**{"api.get_ratio": 1.0, "podstart.p50_s": math.nan}))
    assert sec.title == "Goals (issue 20)"
    assert sec.notes == ["7 of 9 goals met, 1 not met, 1 not measured in this run."]
    assert len(sec.tables[0].rows) == 9


def test_timeline_bins_each_stamp_once_as_a_rate() -> None:
    points = per_second([0.1, 0.2, 0.6, 1.4, 1.5, 5.0], t0=0.0, width=0.5, end=1.5)
    assert points == [(0.5, 4.0), (1.0, 2.0), (1.5, 4.0)]  # 5.0 is past the end; 1.5 falls in the last bin
    assert sum(rate * 0.5 for _, rate in points) == 5
    assert bin_width(3.0) == 0.25 and bin_width(55.0) == 1.0 and bin_width(100.0) == 2.0

    series = pods_per_second({"created": [10.0, 10.5, 11.0], "bound": [10.2, 12.0]}, t0=10.0)
    assert list(series) == ["pods created per second (0.25 s bins)", "pods bound per second (0.25 s bins)"]
    assert all(len(points) == 8 for points in series.values())  # the same bins, up to the last stamp
    assert sum(r for _, r in series["pods bound per second (0.25 s bins)"]) * 0.25 == 2


def test_control_plane_budget_at_the_goal_rate_is_what_the_others_leave() -> None:
    from bench.scheduler import budget_at
    # 2 cores; etcd, hollow agents and the watch take 1.6 ms a pod: at 1,000 pods/s they take
    # 1.6 cores, leaving 0.4 ms a pod; at 500 pods/s, 0.8 cores left = 2.4 ms a pod.
    assert math.isclose(budget_at(1000, 2.0, 1.6), 0.4)
    assert math.isclose(budget_at(500, 2.0, 1.6), 2.4)
    assert budget_at(1000, 2.0, 2.5) < 0  # the others alone would need more than the machine

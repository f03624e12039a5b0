"""What the API workers share: the revisions they answered writes at (one memfd, a slot each)
and one /metrics of all their registries, each series labelled with its worker."""

from __future__ import annotations

import os

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from controlplane.api import written
from controlplane.api.peers import labelled


def test_each_worker_publishes_in_its_slot_and_all_see_the_highest():
    fd = written.create(3)
    try:
        views = [written.WrittenRevisions(fd, 3, i) for i in range(3)]
        assert [v.highest() for v in views] == [0, 0, 0]
        views[1].publish(17)
        views[2].publish(9)
        assert [v.highest() for v in views] == [17, 17, 17]
        views[1].publish(5)  # a slot never goes back: an older write answered late changes nothing
        assert views[0].highest() == 17
        # A restarted worker maps the same memory again and finds its slot as it was.
        assert written.WrittenRevisions(fd, 3, 1).highest() == 17
        with pytest.raises(ValueError):
            written.WrittenRevisions(fd, 3, 3)
    finally:
        os.close(fd)


def _exposition(n: int) -> bytes:
    registry = CollectorRegistry()
    Counter("apiserver_request", "Requests.", ["verb"], registry=registry).labels("GET").inc(n)
    return generate_latest(registry)


def test_metrics_of_several_workers_are_one_exposition_labelled_by_worker():
    text = labelled([(0, _exposition(3)), (1, _exposition(5))]).decode()
    assert text.count("# TYPE apiserver_request_total counter") == 1
    assert 'apiserver_request_total{verb="GET",worker="0"} 3.0' in text
    assert 'apiserver_request_total{verb="GET",worker="1"} 5.0' in text

"""A node's allocatable is its capacity minus --system-reserved, as the kubelet computes it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent.nodeinfo import allocatable, local_registration, parse_reserved


def test_allocatable_is_capacity_minus_the_reservation_never_below_zero():
    cap = {"cpu": "2", "memory": "4Gi", "pods": "110"}
    got = allocatable(cap, parse_reserved("cpu=100m,memory=256Mi"))
    assert got == {"cpu": "1900m", "memory": str(4 * 2**30 - 256 * 2**20), "pods": "110"}
    assert allocatable(cap, {"cpu": "3"})["cpu"] == "0m"
    assert allocatable(cap, {}) == cap


def test_the_real_machine_reports_a_smaller_allocatable():
    reg = local_registration("n", "runc://1", "127.0.0.1", reserved={"memory": "256Mi"})
    assert reg.allocatable["cpu"] == reg.capacity["cpu"]
    from agent.runtime.bundle import quantity
    assert quantity(reg.capacity["memory"]) - quantity(reg.allocatable["memory"]) == 256 * 2**20


@pytest.mark.parametrize("bad", ["cpu", "gpu=1", "cpu=lots", "memory=1Qi"])
def test_bad_reservations_are_refused_by_name(bad):
    with pytest.raises(ValueError):
        parse_reserved(bad)
    done = subprocess.run([sys.executable, "-m", "agent", "--server", "127.0.0.1:1", "--system-reserved", bad],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--system-reserved" in done.stderr

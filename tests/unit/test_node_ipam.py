"""Carving node podCIDRs out of the cluster CIDR, and which routes an agent may program."""

from __future__ import annotations

import ipaddress

import pytest

from agent.network.routes import desired_routes
from controlplane.controllers.node_ipam import CidrAllocator, RangeExhausted, overlaps, pod_cidrs
from controlplane.gateway.routes import routable


def test_allocates_distinct_subnets_in_order():
    a = CidrAllocator("10.244.0.0/16", 24)
    got = [a.allocate() for _ in range(3)]
    assert got == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]


def test_occupied_subnets_are_skipped():
    a = CidrAllocator("10.244.0.0/16", 24)
    a.occupy("10.244.0.0/24")
    a.occupy("10.244.1.0/24")
    assert a.allocate() == "10.244.2.0/24"


def test_a_wider_claim_occupies_every_subnet_it_covers():
    a = CidrAllocator("10.244.0.0/22", 24)
    a.occupy("10.244.0.0/23")
    assert a.used("10.244.1.0/24")
    assert a.allocate() == "10.244.2.0/24"


def test_claims_outside_the_range_are_ignored():
    a = CidrAllocator("10.244.0.0/23", 24)
    a.occupy("192.168.0.0/24")
    a.occupy("fd00::/64")
    assert [a.allocate(), a.allocate()] == ["10.244.0.0/24", "10.244.1.0/24"]


def test_exhausted_range_raises_with_a_reason():
    a = CidrAllocator("10.244.0.0/23", 24)
    a.allocate(), a.allocate()
    with pytest.raises(RangeExhausted, match="no free /24 left in the cluster CIDR 10.244.0.0/23"):
        a.allocate()


def test_released_subnet_is_reused_only_after_the_others():
    a = CidrAllocator("10.244.0.0/22", 24)
    first = a.allocate()
    a.allocate()
    a.release(first)
    assert a.allocate() == "10.244.2.0/24"  # the cursor moves on before coming back
    assert a.allocate() == "10.244.3.0/24"
    assert a.allocate() == first


def test_a_subnet_claimed_twice_stays_used_until_both_release():
    a = CidrAllocator("10.244.0.0/24", 24)
    a.occupy("10.244.0.0/24")
    a.occupy("10.244.0.0/24")
    assert a.shared("10.244.0.0/24")
    a.release("10.244.0.0/24")
    assert not a.shared("10.244.0.0/24")
    with pytest.raises(RangeExhausted):
        a.allocate()
    a.release("10.244.0.0/24")
    assert a.allocate() == "10.244.0.0/24"


def test_configurable_mask():
    a = CidrAllocator("10.244.0.0/16", 26)
    assert [a.allocate(), a.allocate()] == ["10.244.0.0/26", "10.244.0.64/26"]


@pytest.mark.parametrize("cidr,mask", [("10.244.0.0/16", 8), ("10.244.0.0/16", 33), ("nonsense", 24)])
def test_bad_configuration_is_refused(cidr, mask):
    with pytest.raises(ValueError):
        CidrAllocator(cidr, mask)


def test_overlaps():
    assert overlaps("10.244.0.0/23", "10.244.1.0/24") and overlaps("10.244.1.5/24", "10.244.1.0/24")
    assert not overlaps("10.244.0.0/24", "10.244.1.0/24") and not overlaps("10.244.0.0/24", "fd00::/64")


def test_pod_cidrs_of_a_node():
    assert pod_cidrs({"spec": {}}) == []
    assert pod_cidrs({"spec": {"podCIDR": "10.244.3.0/24"}}) == ["10.244.3.0/24"]
    assert pod_cidrs({"spec": {"podCIDR": "10.244.3.0/24", "podCIDRs": ["10.244.3.0/24", "fd00::/64"]}}) == \
        ["10.244.3.0/24", "fd00::/64"]


def test_routes_stay_inside_the_cluster_cidr_and_skip_this_node():
    routes = [("10.244.1.0/24", "10.250.0.2"), ("10.244.0.0/24", "10.250.0.1"),
              ("192.168.0.0/24", "10.250.0.3"), ("10.244.4.0/24", "10.250.0.9"),
              ("0.0.0.0/0", "10.250.0.2"), ("garbage", "10.250.0.2"), ("10.244.5.0/24", "fd00::1"),
              ("10.244.6.0/24", "127.0.0.1")]
    got = desired_routes(routes, "10.244.0.0/16", own_cidr="10.244.0.0/24", own_ip="10.250.0.9")
    assert got == {"10.244.1.0/24": "10.250.0.2"}


def test_the_gateway_offers_only_routes_inside_the_cluster_via_a_usable_next_hop():
    cluster = ipaddress.ip_network("10.244.0.0/16")
    assert routable("10.244.1.0/24", "10.250.0.2", cluster)
    assert not routable("10.244.1.0/24", "127.0.0.1", cluster)  # a hollow node
    assert not routable("198.18.0.0/24", "10.250.0.2", cluster)
    assert not routable("", "10.250.0.2", cluster) and not routable("10.244.1.0/24", "", cluster)

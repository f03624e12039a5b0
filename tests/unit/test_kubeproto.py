"""The protobuf body decoder, fed messages built by the `protobuf` package from a .proto written
here (an encoder independent of the decoder under test), compiled with grpc_tools' protoc."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from controlplane.api.protobuf import ProtoError, UnsupportedKind, decode_object
from controlplane.api.protobuf.wire import unwrap

PROTO = """
syntax = "proto2";
package t;
message TypeMeta { optional string apiVersion = 1; optional string kind = 2; }
message Unknown { optional TypeMeta typeMeta = 1; optional bytes raw = 2;
                  optional string contentEncoding = 3; optional string contentType = 4; }
message Time { optional int64 seconds = 1; optional int32 nanos = 2; }
message Quantity { optional string string = 1; }
message IntOrString { optional int64 type = 1; optional int32 intVal = 2; optional string strVal = 3; }
message ObjectMeta { optional string name = 1; optional string namespace = 3; optional int64 generation = 7;
                     optional Time creationTimestamp = 8; map<string, string> labels = 11;
                     repeated string finalizers = 14; }
message ConfigMap { optional ObjectMeta metadata = 1; map<string, string> data = 2;
                    map<string, bytes> binaryData = 3; optional bool immutable = 4; optional string extra = 99; }
message Secret { optional ObjectMeta metadata = 1; map<string, bytes> data = 2; optional string type = 3; }
message LabelSelector { map<string, string> matchLabels = 1; }
message ContainerPort { optional int32 containerPort = 3; optional string protocol = 4; }
message ResourceRequirements { map<string, Quantity> limits = 1; }
message LocalObjectReference { optional string name = 1; }
message KeySelector { optional LocalObjectReference localObjectReference = 1; optional string key = 2; }
message EnvVarSource { optional KeySelector secretKeyRef = 4; }
message EnvVar { optional string name = 1; optional string value = 2; optional EnvVarSource valueFrom = 3; }
message Container { optional string name = 1; optional string image = 2; repeated string command = 3;
                    repeated ContainerPort ports = 6; repeated EnvVar env = 7;
                    optional ResourceRequirements resources = 8; }
message PodSecurityContext { optional int64 runAsUser = 2; repeated int64 supplementalGroups = 4 [packed = true]; }
message PodSpec { repeated Container containers = 2; optional int64 terminationGracePeriodSeconds = 4;
                  optional PodSecurityContext securityContext = 14; }
message PodTemplateSpec { optional ObjectMeta metadata = 1; optional PodSpec spec = 2; }
message RollingUpdateDeployment { optional IntOrString maxUnavailable = 1; optional IntOrString maxSurge = 2; }
message DeploymentStrategy { optional string type = 1; optional RollingUpdateDeployment rollingUpdate = 2; }
message DeploymentSpec { optional int32 replicas = 1; optional LabelSelector selector = 2;
                         optional PodTemplateSpec template = 3; optional DeploymentStrategy strategy = 4;
                         optional int32 minReadySeconds = 5; }
message Deployment { optional ObjectMeta metadata = 1; optional DeploymentSpec spec = 2; }
message DeleteOptions { optional int64 gracePeriodSeconds = 1; optional string propagationPolicy = 4;
                        repeated string dryRun = 5; }
message Eviction { optional ObjectMeta metadata = 1; optional DeleteOptions deleteOptions = 2; }
"""


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    """Message classes by name, from the .proto above."""
    tmp = tmp_path_factory.mktemp("proto")
    (tmp / "t.proto").write_text(PROTO)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{tmp}", f"--descriptor_set_out={tmp / 'set'}",
                    str(tmp / "t.proto")], check=True)
    files = descriptor_pb2.FileDescriptorSet.FromString((tmp / "set").read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return lambda name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"t.{name}"))


def envelope(pb, api_version: str, kind: str, obj) -> bytes:
    unknown = pb("Unknown")(typeMeta=pb("TypeMeta")(apiVersion=api_version, kind=kind),
                            raw=obj.SerializeToString())
    return b"k8s\x00" + unknown.SerializeToString()


def test_configmap_maps_bytes_time_and_zero_values(pb):
    cm = pb("ConfigMap")()
    cm.metadata.name = "c"
    cm.metadata.namespace = ""  # Go always writes non-pointer strings; empty means unset
    cm.metadata.creationTimestamp.seconds = 1_700_000_000
    cm.metadata.labels["app"] = "web"
    cm.metadata.finalizers.extend(["a", "b"])
    cm.data["k"] = "v"
    cm.data["empty"] = ""
    cm.binaryData["blob"] = b"\x00\xff"
    cm.immutable = False  # a Go pointer: false is a value
    assert decode_object(envelope(pb, "v1", "ConfigMap", cm)) == {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "creationTimestamp": "2023-11-14T22:13:20Z", "labels": {"app": "web"},
                     "finalizers": ["a", "b"]},
        "data": {"k": "v", "empty": ""}, "binaryData": {"blob": base64.b64encode(b"\x00\xff").decode()},
        "immutable": False}


def test_secret_data_is_base64_as_in_json(pb):
    secret = pb("Secret")(type="Opaque")
    secret.metadata.name = "s"
    secret.data["password"] = "s3cr:t".encode()
    body = decode_object(envelope(pb, "v1", "Secret", secret))
    assert body["data"] == {"password": base64.b64encode(b"s3cr:t").decode()} and body["type"] == "Opaque"


def test_deployment_nested_repeated_embedded_intorstring_quantity(pb):
    dep = pb("Deployment")()
    dep.metadata.name = "d"
    dep.spec.replicas = 0  # pointer in Go: kept
    dep.spec.minReadySeconds = 0  # plain int in Go: dropped, as JSON's omitempty does
    dep.spec.selector.matchLabels["app"] = "d"
    dep.spec.strategy.type = "RollingUpdate"
    dep.spec.strategy.rollingUpdate.maxUnavailable.type = 1
    dep.spec.strategy.rollingUpdate.maxUnavailable.strVal = "25%"
    dep.spec.strategy.rollingUpdate.maxSurge.intVal = 2
    spec = dep.spec.template.spec
    spec.terminationGracePeriodSeconds = 30
    spec.securityContext.runAsUser = -1  # ten bytes on the wire
    spec.securityContext.supplementalGroups.extend([1000, 2000, 70000])  # packed
    c = spec.containers.add(name="main", image="busybox", command=["sleep", "3600"])
    c.ports.add(containerPort=8080, protocol="TCP")
    c.resources.limits["memory"].string = "64Mi"
    env = c.env.add(name="PW")
    env.valueFrom.secretKeyRef.localObjectReference.name = "s"
    env.valueFrom.secretKeyRef.key = "password"
    body = decode_object(envelope(pb, "apps/v1", "Deployment", dep))
    assert body["spec"]["replicas"] == 0 and "minReadySeconds" not in body["spec"]
    assert body["spec"]["strategy"] == {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 2}}
    pod = body["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["securityContext"] == {"runAsUser": -1, "supplementalGroups": [1000, 2000, 70000]}
    assert pod["containers"] == [{
        "name": "main", "image": "busybox", "command": ["sleep", "3600"],
        "ports": [{"containerPort": 8080, "protocol": "TCP"}], "resources": {"limits": {"memory": "64Mi"}},
        "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}}]}]


def test_unknown_field_is_named_not_dropped(pb):
    cm = pb("ConfigMap")(extra="surprise")
    cm.metadata.name = "c"
    with pytest.raises(ProtoError, match=r"ConfigMap .* no field number 99"):
        decode_object(envelope(pb, "v1", "ConfigMap", cm))


def test_unknown_kind_and_bad_envelopes(pb):
    cm = pb("ConfigMap")()
    with pytest.raises(UnsupportedKind, match="Widget in example.com/v1"):
        decode_object(envelope(pb, "example.com/v1", "Widget", cm))
    with pytest.raises(ProtoError, match="magic"):
        decode_object(b"{}")
    with pytest.raises(ProtoError, match="truncated"):
        decode_object(b"k8s\x00" + bytes([2 << 3 | 2, 50]))
    with pytest.raises(ProtoError, match="truncated varint"):
        decode_object(b"k8s\x00\x08\xff")
    gzipped = pb("Unknown")(typeMeta=pb("TypeMeta")(apiVersion="v1", kind="ConfigMap"), contentEncoding="gzip")
    with pytest.raises(ProtoError, match="gzip"):
        unwrap(b"k8s\x00" + gzipped.SerializeToString())


def test_wrong_wire_type_is_an_error(pb):
    # ConfigMap.metadata (1) sent as a varint.
    unknown = pb("Unknown")(typeMeta=pb("TypeMeta")(apiVersion="v1", kind="ConfigMap"), raw=b"\x08\x01")
    with pytest.raises(ProtoError, match="metadata: expected a length-delimited value"):
        decode_object(b"k8s\x00" + unknown.SerializeToString())


def test_delete_options_in_any_version_and_eviction(pb):
    options = pb("DeleteOptions")(gracePeriodSeconds=0, propagationPolicy="Foreground", dryRun=["All"])
    assert decode_object(envelope(pb, "apps/v1", "DeleteOptions", options)) == {
        "apiVersion": "apps/v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
        "propagationPolicy": "Foreground", "dryRun": ["All"]}
    eviction = pb("Eviction")(deleteOptions=pb("DeleteOptions")(gracePeriodSeconds=5))
    eviction.metadata.name = "p"
    assert decode_object(envelope(pb, "policy/v1", "Eviction", eviction))["deleteOptions"] == {
        "gracePeriodSeconds": 5}

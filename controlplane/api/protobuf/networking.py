"""Tables for networking.k8s.io/v1 Ingress and IngressClass (numbers from k8s.io/api networking/v1
generated.proto): `kubectl create ingress` sends them."""

from __future__ import annotations

from .schema import I32, Table, embed, f, rep

KINDS = {"Ingress": "Ingress", "IngressClass": "IngressClass"}

MESSAGES: dict[str, Table] = {
    "Ingress": {1: f("metadata", "ObjectMeta"), 2: f("spec", "IngressSpec"), 3: f("status", "IngressStatus")},
    "IngressSpec": {1: f("defaultBackend", "IngressBackend"), 2: rep("tls", "IngressTLS"),
                    3: rep("rules", "IngressRule"), 4: f("ingressClassName")},
    "IngressBackend": {3: f("resource", "IngressTypedLocalObjectReference"),
                       4: f("service", "IngressServiceBackend")},
    "IngressTypedLocalObjectReference": {1: f("apiGroup"), 2: f("kind"), 3: f("name")},
    "IngressServiceBackend": {1: f("name"), 2: f("port", "ServiceBackendPort")},
    "ServiceBackendPort": {1: f("name"), 2: f("number", I32)},
    "IngressTLS": {1: rep("hosts"), 2: f("secretName")},
    # IngressRuleValue is embedded in Go (json:",inline"): its `http` sits beside `host`.
    "IngressRule": {1: f("host"), 2: embed("IngressRuleValue")},
    "IngressRuleValue": {1: f("http", "HTTPIngressRuleValue")},
    "HTTPIngressRuleValue": {1: rep("paths", "HTTPIngressPath")},
    "HTTPIngressPath": {1: f("path"), 2: f("backend", "IngressBackend"), 3: f("pathType")},
    "IngressStatus": {1: f("loadBalancer", "IngressLoadBalancerStatus")},
    "IngressLoadBalancerStatus": {1: rep("ingress", "IngressLoadBalancerIngress")},
    "IngressLoadBalancerIngress": {1: f("ip"), 2: f("hostname"), 4: rep("ports", "IngressPortStatus")},
    "IngressPortStatus": {1: f("port", I32), 2: f("protocol"), 3: f("error")},
    "IngressClass": {1: f("metadata", "ObjectMeta"), 2: f("spec", "IngressClassSpec")},
    "IngressClassSpec": {1: f("controller"), 2: f("parameters", "IngressClassParametersReference")},
    "IngressClassParametersReference": {1: f("apiGroup"), 2: f("kind"), 3: f("name"), 4: f("scope"),
                                        5: f("namespace")},
}

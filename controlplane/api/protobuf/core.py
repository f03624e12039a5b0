"""Tables for the core/v1 messages of the kinds kubectl's typed commands send: Namespace,
ConfigMap, Secret, ServiceAccount, Service and Pod (and the PodSpec workloads embed).
Field numbers are the protocol's, from k8s.io/api core/v1 generated.proto."""

from __future__ import annotations

from .meta import INT_OR_STRING, QUANTITY, TIME
from .schema import BOOL, BYTES, I32, I64, Table, embed, f, mp, rep

KINDS = {"Namespace": "Namespace", "ConfigMap": "ConfigMap", "Secret": "Secret",
         "ServiceAccount": "ServiceAccount", "Service": "Service", "Pod": "Pod"}

_OBJECTS: dict[str, Table] = {
    "Namespace": {1: f("metadata", "ObjectMeta"), 2: f("spec", "NamespaceSpec"), 3: f("status", "NamespaceStatus")},
    "NamespaceSpec": {1: rep("finalizers")},
    "NamespaceStatus": {1: f("phase"), 2: rep("conditions", "NamespaceCondition")},
    "NamespaceCondition": {1: f("type"), 2: f("status"), 4: f("lastTransitionTime", TIME), 5: f("reason"),
                           6: f("message")},
    "ConfigMap": {1: f("metadata", "ObjectMeta"), 2: mp("data"), 3: mp("binaryData", BYTES),
                  4: f("immutable", BOOL, keep=True)},
    "Secret": {1: f("metadata", "ObjectMeta"), 2: mp("data", BYTES), 3: f("type"), 4: mp("stringData"),
               5: f("immutable", BOOL, keep=True)},
    "ServiceAccount": {1: f("metadata", "ObjectMeta"), 2: rep("secrets", "ObjectReference"),
                       3: rep("imagePullSecrets", "LocalObjectReference"),
                       4: f("automountServiceAccountToken", BOOL, keep=True)},
    "ObjectReference": {1: f("kind"), 2: f("namespace"), 3: f("name"), 4: f("uid"), 5: f("apiVersion"),
                        6: f("resourceVersion"), 7: f("fieldPath")},
    "LocalObjectReference": {1: f("name")},
}

_SERVICE: dict[str, Table] = {
    "Service": {1: f("metadata", "ObjectMeta"), 2: f("spec", "ServiceSpec"), 3: f("status", "ServiceStatus")},
    "ServiceSpec": {
        1: rep("ports", "ServicePort"), 2: mp("selector"), 3: f("clusterIP"), 4: f("type"), 5: rep("externalIPs"),
        7: f("sessionAffinity"), 8: f("loadBalancerIP"), 9: rep("loadBalancerSourceRanges"),
        10: f("externalName"), 11: f("externalTrafficPolicy"), 12: f("healthCheckNodePort", I32),
        13: f("publishNotReadyAddresses", BOOL), 14: f("sessionAffinityConfig", "SessionAffinityConfig"),
        17: f("ipFamilyPolicy"), 18: rep("clusterIPs"), 19: rep("ipFamilies"),
        20: f("allocateLoadBalancerNodePorts", BOOL, keep=True), 21: f("loadBalancerClass"),
        22: f("internalTrafficPolicy"), 23: f("trafficDistribution"),
    },
    "ServicePort": {1: f("name"), 2: f("protocol"), 3: f("port", I32), 4: f("targetPort", INT_OR_STRING),
                    5: f("nodePort", I32), 6: f("appProtocol")},
    "SessionAffinityConfig": {1: f("clientIP", "ClientIPConfig")},
    "ClientIPConfig": {1: f("timeoutSeconds", I32, keep=True)},
    "ServiceStatus": {1: f("loadBalancer", "LoadBalancerStatus"), 2: rep("conditions", "Condition")},
    "LoadBalancerStatus": {1: rep("ingress", "LoadBalancerIngress")},
    "LoadBalancerIngress": {1: f("ip"), 2: f("hostname"), 3: f("ipMode"), 4: rep("ports", "PortStatus")},
    "PortStatus": {1: f("port", I32), 2: f("protocol"), 3: f("error")},
}

_POD: dict[str, Table] = {
    "Pod": {1: f("metadata", "ObjectMeta"), 2: f("spec", "PodSpec"), 3: f("status", "PodStatus")},
    "PodTemplateSpec": {1: f("metadata", "ObjectMeta"), 2: f("spec", "PodSpec")},
    "PodSpec": {
        1: rep("volumes", "Volume"), 2: rep("containers", "Container"), 3: f("restartPolicy"),
        4: f("terminationGracePeriodSeconds", I64, keep=True), 5: f("activeDeadlineSeconds", I64, keep=True),
        6: f("dnsPolicy"), 7: mp("nodeSelector"), 8: f("serviceAccountName"), 9: f("serviceAccount"),
        10: f("nodeName"), 11: f("hostNetwork", BOOL), 12: f("hostPID", BOOL), 13: f("hostIPC", BOOL),
        14: f("securityContext", "PodSecurityContext"), 15: rep("imagePullSecrets", "LocalObjectReference"),
        16: f("hostname"), 17: f("subdomain"), 19: f("schedulerName"), 20: rep("initContainers", "Container"),
        21: f("automountServiceAccountToken", BOOL, keep=True), 22: rep("tolerations", "Toleration"),
        23: rep("hostAliases", "HostAlias"), 24: f("priorityClassName"), 25: f("priority", I32, keep=True),
        27: f("shareProcessNamespace", BOOL, keep=True), 29: f("runtimeClassName"),
        30: f("enableServiceLinks", BOOL, keep=True), 31: f("preemptionPolicy"),
        35: f("setHostnameAsFQDN", BOOL, keep=True), 37: f("hostUsers", BOOL, keep=True),
    },
    "PodStatus": {1: f("phase"), 3: f("message"), 4: f("reason"), 5: f("hostIP"), 6: f("podIP"),
                  7: f("startTime", TIME), 9: f("qosClass"), 11: f("nominatedNodeName")},
    "HostAlias": {1: f("ip"), 2: rep("hostnames")},
    "Toleration": {1: f("key"), 2: f("operator"), 3: f("value"), 4: f("effect"),
                   5: f("tolerationSeconds", I64, keep=True)},
    "PodSecurityContext": {
        2: f("runAsUser", I64, keep=True), 3: f("runAsNonRoot", BOOL, keep=True),
        4: rep("supplementalGroups", I64), 5: f("fsGroup", I64, keep=True), 6: f("runAsGroup", I64, keep=True),
        7: rep("sysctls", "Sysctl"), 9: f("fsGroupChangePolicy"), 10: f("seccompProfile", "SeccompProfile"),
    },
    "Sysctl": {1: f("name"), 2: f("value")},
    "SeccompProfile": {1: f("type"), 2: f("localhostProfile")},
}

_CONTAINER: dict[str, Table] = {
    "Container": {
        1: f("name"), 2: f("image"), 3: rep("command"), 4: rep("args"), 5: f("workingDir"),
        6: rep("ports", "ContainerPort"), 7: rep("env", "EnvVar"), 8: f("resources", "ResourceRequirements"),
        9: rep("volumeMounts", "VolumeMount"), 10: f("livenessProbe", "Probe"), 11: f("readinessProbe", "Probe"),
        13: f("terminationMessagePath"), 14: f("imagePullPolicy"),
        15: f("securityContext", "SecurityContext"), 16: f("stdin", BOOL), 17: f("stdinOnce", BOOL),
        18: f("tty", BOOL), 19: rep("envFrom", "EnvFromSource"), 20: f("terminationMessagePolicy"),
        22: f("startupProbe", "Probe"), 24: f("restartPolicy"),
    },
    "ContainerPort": {1: f("name"), 2: f("hostPort", I32), 3: f("containerPort", I32), 4: f("protocol"),
                      5: f("hostIP")},
    "EnvVar": {1: f("name"), 2: f("value"), 3: f("valueFrom", "EnvVarSource")},
    "EnvVarSource": {1: f("fieldRef", "ObjectFieldSelector"), 2: f("resourceFieldRef", "ResourceFieldSelector"),
                     3: f("configMapKeyRef", "KeySelector"), 4: f("secretKeyRef", "KeySelector")},
    "ObjectFieldSelector": {1: f("apiVersion"), 2: f("fieldPath")},
    "ResourceFieldSelector": {1: f("containerName"), 2: f("resource"), 3: f("divisor", QUANTITY)},
    # ConfigMapKeySelector and SecretKeySelector share one layout.
    "KeySelector": {1: embed("LocalObjectReference"), 2: f("key"), 3: f("optional", BOOL, keep=True)},
    "EnvFromSource": {1: f("prefix"), 2: f("configMapRef", "EnvSource"), 3: f("secretRef", "EnvSource")},
    "EnvSource": {1: embed("LocalObjectReference"), 2: f("optional", BOOL, keep=True)},
    "ResourceRequirements": {1: mp("limits", QUANTITY), 2: mp("requests", QUANTITY)},
    "VolumeMount": {1: f("name"), 2: f("readOnly", BOOL), 3: f("mountPath"), 4: f("subPath"),
                    5: f("mountPropagation"), 6: f("subPathExpr")},
    "Probe": {1: embed("ProbeHandler"), 2: f("initialDelaySeconds", I32), 3: f("timeoutSeconds", I32),
              4: f("periodSeconds", I32), 5: f("successThreshold", I32), 6: f("failureThreshold", I32),
              7: f("terminationGracePeriodSeconds", I64, keep=True)},
    "ProbeHandler": {1: f("exec", "ExecAction"), 2: f("httpGet", "HTTPGetAction"),
                     3: f("tcpSocket", "TCPSocketAction")},
    "ExecAction": {1: rep("command")},
    "HTTPGetAction": {1: f("path"), 2: f("port", INT_OR_STRING), 3: f("host"), 4: f("scheme"),
                      5: rep("httpHeaders", "HTTPHeader")},
    "HTTPHeader": {1: f("name"), 2: f("value")},
    "TCPSocketAction": {1: f("port", INT_OR_STRING), 2: f("host")},
    "SecurityContext": {
        1: f("capabilities", "Capabilities"), 2: f("privileged", BOOL, keep=True),
        4: f("runAsUser", I64, keep=True), 5: f("runAsNonRoot", BOOL, keep=True),
        6: f("readOnlyRootFilesystem", BOOL, keep=True), 7: f("allowPrivilegeEscalation", BOOL, keep=True),
        8: f("runAsGroup", I64, keep=True), 9: f("procMount"), 11: f("seccompProfile", "SeccompProfile"),
    },
    "Capabilities": {1: rep("add"), 2: rep("drop")},
}

_VOLUMES: dict[str, Table] = {
    "Volume": {1: f("name"), 2: embed("VolumeSource")},
    "VolumeSource": {1: f("hostPath", "HostPathVolumeSource"), 2: f("emptyDir", "EmptyDirVolumeSource"),
                     6: f("secret", "SecretVolumeSource"),
                     10: f("persistentVolumeClaim", "PersistentVolumeClaimVolumeSource"),
                     19: f("configMap", "ConfigMapVolumeSource")},
    "HostPathVolumeSource": {1: f("path"), 2: f("type")},
    "EmptyDirVolumeSource": {1: f("medium"), 2: f("sizeLimit", QUANTITY)},
    "SecretVolumeSource": {1: f("secretName"), 2: rep("items", "KeyToPath"), 3: f("defaultMode", I32, keep=True),
                           4: f("optional", BOOL, keep=True)},
    "ConfigMapVolumeSource": {1: embed("LocalObjectReference"), 2: rep("items", "KeyToPath"),
                              3: f("defaultMode", I32, keep=True), 4: f("optional", BOOL, keep=True)},
    "KeyToPath": {1: f("key"), 2: f("path"), 3: f("mode", I32, keep=True)},
    "PersistentVolumeClaimVolumeSource": {1: f("claimName"), 2: f("readOnly", BOOL)},
}

MESSAGES: dict[str, Table] = {**_OBJECTS, **_SERVICE, **_POD, **_CONTAINER, **_VOLUMES}

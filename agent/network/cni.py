"""CNI invocation for pods: the node's conflist (bridge + host-local [+ portmap]); the pod's `lo` is
up already (agent.network.netns.create).

The agent is its own tiny libcni: it runs each plugin of the chain with CNI_COMMAND /
CNI_CONTAINERID / CNI_NETNS / CNI_IFNAME / CNI_PATH in the environment and the plugin's
config (plus `prevResult`) on stdin, in order for ADD and CHECK and in reverse for DEL.
The ADD result is kept by the caller (pod state on disk) so DEL and CHECK get their
`prevResult` after an agent restart. DEL is idempotent: plugins tolerate a missing netns
or an unknown container, and an absent netns is passed as empty.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CNI_VERSION = "1.0.0"
DEFAULT_CNI_PATH = "/usr/lib/cni:/opt/cni/bin"
POD_IFNAME = "eth0"


class CniError(RuntimeError):
    """A plugin failed; `code` and `msg` come from its error JSON when it printed one."""

    def __init__(self, plugin: str, command: str, code: int, msg: str) -> None:
        super().__init__(f"CNI {command} {plugin}: {msg} (code {code})")
        self.plugin, self.command, self.code, self.msg = plugin, command, code, msg


@dataclass(frozen=True)
class NetworkConfig:
    """The node's pod network."""

    pod_cidr: str
    """This node's podCIDR: host-local allocates pod IPs from it."""
    bridge: str
    """Linux bridge name (<= 15 chars), per node, e.g. "pyctl0"."""
    data_dir: Path
    """host-local's allocation store (under the agent's state dir)."""
    routes: tuple[str, ...] = ()
    """Destinations routed via the bridge gateway inside pods (e.g. the cluster CIDR).
    No default route: a pod's traffic must never be able to leave the machine."""
    ip_masq: bool = False
    """Masquerade pod traffic (not needed on loopback-only nodes; doubles CNI time)."""
    mtu: int = 1500
    cni_path: str = DEFAULT_CNI_PATH
    name: str = "pyctl"

    def conflist(self, host_ports: bool) -> dict[str, Any]:
        """The chain; portmap only when the pod asks for hostPorts (it writes host iptables)."""
        net = ipaddress.ip_network(self.pod_cidr)
        plugins: list[dict[str, Any]] = [{
            "type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": self.ip_masq,
            "hairpinMode": True, "mtu": self.mtu,
            "ipam": {
                "type": "host-local", "dataDir": str(self.data_dir),
                "ranges": [[{"subnet": str(net)}]],
                "routes": [{"dst": r} for r in self.routes],
            },
        }]
        if host_ports:
            plugins.append({"type": "portmap", "capabilities": {"portMappings": True},
                            "snat": False})
        return {"cniVersion": CNI_VERSION, "name": self.name, "plugins": plugins}


@dataclass
class Attachment:
    """What one pod's ADD produced, saved with the pod so DEL/CHECK can replay the chain."""

    container_id: str
    netns: str
    conflist: dict[str, Any]
    result: dict[str, Any] = field(default_factory=dict)
    port_mappings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def pod_ip(self) -> str:
        return pod_ip(self.result)

    def to_json(self) -> dict[str, Any]:
        return {"container_id": self.container_id, "netns": self.netns, "conflist": self.conflist,
                "result": self.result, "port_mappings": self.port_mappings}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Attachment":
        return cls(d["container_id"], d["netns"], d["conflist"], d.get("result") or {},
                   d.get("port_mappings") or [])


def pod_ip(result: dict[str, Any]) -> str:
    """The first IPv4 address of the result, preferring one on the sandbox interface."""
    ifaces = result.get("interfaces") or []
    ips = result.get("ips") or []
    for ip in ips:
        idx = ip.get("interface")
        if idx is not None and idx < len(ifaces) and ifaces[idx].get("sandbox"):
            return ip["address"].split("/")[0]
    return ips[0]["address"].split("/")[0] if ips else ""


def host_port_mappings(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """spec.containers[].ports[].hostPort as portmap's runtimeConfig.portMappings."""
    out = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                out.append({"hostPort": p["hostPort"], "containerPort": p["containerPort"],
                            "protocol": (p.get("protocol") or "TCP").lower()})
    return out


class Cni:
    """Runs the node's chain against pod network namespaces."""

    def __init__(self, config: NetworkConfig) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)

    async def add(self, container_id: str, netns: Path,
                  port_mappings: list[dict[str, Any]] | None = None) -> Attachment:
        att = Attachment(container_id, str(netns), self.config.conflist(bool(port_mappings)),
                         port_mappings=port_mappings or [])
        try:
            prev: dict[str, Any] | None = None
            for plugin in att.conflist["plugins"]:
                prev = await self._exec("ADD", att, plugin, prev)
            att.result = prev or {}
        except BaseException:
            await self.delete(att)  # undo a half-made chain (releases the IP)
            raise
        return att

    async def check(self, att: Attachment) -> None:
        for plugin in att.conflist["plugins"]:
            await self._exec("CHECK", att, plugin, att.result)

    async def delete(self, att: Attachment) -> None:
        """Tear down in reverse order; safe to repeat and after the netns is gone."""
        errors: list[CniError] = []
        for plugin in reversed(att.conflist["plugins"]):
            try:
                await self._exec("DEL", att, plugin, att.result or None)
            except CniError as e:
                errors.append(e)
        if errors:
            raise errors[0]

    async def _exec(self, command: str, att: Attachment, plugin: dict[str, Any],
                    prev: dict[str, Any] | None) -> dict[str, Any]:
        conf = copy.deepcopy(plugin)
        conf.update(cniVersion=att.conflist["cniVersion"], name=att.conflist["name"])
        caps = conf.pop("capabilities", {})
        if caps.get("portMappings"):
            conf["runtimeConfig"] = {"portMappings": att.port_mappings}
        if prev:
            conf["prevResult"] = prev
        return await self._run(command, att, conf, ifname=POD_IFNAME)

    async def _run(self, command: str, att: Attachment, conf: dict[str, Any],
                   ifname: str) -> dict[str, Any]:
        plugin = conf["type"]
        binary = next((Path(d) / plugin for d in self.config.cni_path.split(":")
                       if (Path(d) / plugin).is_file()), None)
        if binary is None:
            raise CniError(plugin, command, 1, "plugin binary not found in " + self.config.cni_path)
        netns = att.netns if (command != "DEL" or os.path.exists(att.netns)) else ""
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "CNI_COMMAND": command, "CNI_CONTAINERID": att.container_id,
               "CNI_NETNS": netns, "CNI_IFNAME": ifname, "CNI_PATH": self.config.cni_path}
        proc = await asyncio.create_subprocess_exec(
            str(binary), env=env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(json.dumps(conf).encode()), 60)
        if proc.returncode != 0:
            try:
                e = json.loads(out)
                raise CniError(plugin, command, int(e.get("code", 1)),
                               f"{e.get('msg', '')} {e.get('details', '')}".strip())
            except (ValueError, AttributeError):
                raise CniError(plugin, command, proc.returncode or 1,
                               (out + err).decode(errors="replace").strip()) from None
        if command != "ADD" or not out.strip():
            return {}
        return json.loads(out)

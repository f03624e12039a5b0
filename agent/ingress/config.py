"""HAProxy's configuration for an IngressTable (pure: text in, text out; no I/O).

One frontend binds the HTTP and HTTPS ports on every address of the node's network namespace.
HTTPS terminates TLS with a crt-list: the default certificate first (served when no SNI name
matches), then each Ingress TLS Secret with the SNI names it serves. Routing follows the
table's order, which already encodes the Ingress precedence (machinery/ingress.py): host
groups in match order, each with its paths in match order, then that host's default
backend; then the table's default backend, else a 404 answered by HAProxy itself.

  Exact      path -m str /a
  Prefix     path -m str /a  or  path -m beg /a/      (whole path elements; "/" matches all)
  ImplementationSpecific   path -m beg /a             (a plain string prefix)
  host a.example   the Host header without its port, lowercased, equal to it
  host *.example   one label, then .example

A backend is the Service port's ready endpoints, balanced round robin; with none, HAProxy
answers 503. A connection refused by an endpoint that went away (a rolling update, before
this node heard of it) is retried on another endpoint (`retry-on conn-failure`,
`option redispatch`), so a request is not lost to the moment between a pod stopping and the
new configuration arriving.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pyctl_proto import node_pb2 as pb

NOT_FOUND = "be_not_found"
# What a path may hold to be written into the configuration unquoted-safe (inside single quotes).
_SAFE_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&()*+,;=:@%/]*")


@dataclass(frozen=True)
class Settings:
    http_port: int = 80
    https_port: int = 443
    address: str = ""
    """Where to listen; "" = every address of the node (its network namespace)."""
    hard_stop_after: str = "60s"
    """How long the workers of an older configuration may finish their connections after a reload."""


@dataclass(frozen=True)
class Layout:
    """Where the proxy's files live: under `root` (the agent's state dir / ingress, 0700), one
    directory per configuration generation (its haproxy.cfg, crt-list and certificates), and
    `current`, a symlink to the generation in force, which HAProxy's command line names."""

    root: Path
    generation: str = "current"

    def of(self, generation: str) -> "Layout":
        return Layout(self.root, generation)

    @property
    def dir(self) -> Path:
        return self.root / self.generation

    @property
    def config(self) -> Path:
        return self.dir / "haproxy.cfg"

    @property
    def crt_list(self) -> Path:
        return self.dir / "certs.list"

    @property
    def certs(self) -> Path:
        return self.dir / "certs"

    @property
    def default_cert(self) -> Path:
        return self.root / "default.pem"

    @property
    def pidfile(self) -> Path:
        return self.root / "haproxy.pid"

    @property
    def socket(self) -> Path:
        return self.root / "admin.sock"


def cert_file(index: int) -> str:
    return f"{index}.pem"


def _path_condition(host_acl: str, path: pb.IngressPath) -> str | None:
    p = path.path
    if not _SAFE_PATH.fullmatch(p):
        return None
    h = f"{host_acl} " if host_acl else ""
    if path.path_type == "Exact":
        return f"{h}{{ path -m str '{p}' }}"
    if path.path_type == "Prefix":
        if p == "/":
            return host_acl or "TRUE"
        return f"{h}{{ path -m str '{p}' }} || {h}{{ path -m beg '{p}/' }}"
    return host_acl or "TRUE" if p == "/" else f"{h}{{ path -m beg '{p}' }}"


def _host_acl(name: str, host: str) -> str:
    if host.startswith("*."):
        suffix = re.escape(host[2:])
        return f"acl {name} var(txn.host) -m reg '^[^.]+\\.{suffix}$'"
    return f"acl {name} var(txn.host) -m str '{host}'"


def render(table: pb.IngressTable, layout: Layout, settings: Settings = Settings(),
           certificates: list[tuple[int, pb.IngressCertificate]] | None = None,
           user: str = "") -> tuple[str, str, list[str]]:
    """(haproxy.cfg, certs.list, problems): `certificates` are the usable ones with the index
    of their file under layout.certs; `problems` says what was left out and why. `user`:
    the account the workers run as once their ports are bound ("" = stay root)."""
    problems: list[str] = []
    names = {b.name: f"be_{i}" for i, b in enumerate(table.backends)}

    def backend(name: str) -> str:
        return names.get(name, NOT_FOUND) if name else NOT_FOUND

    lines = [
        "# Written by pyctl-agent from the cluster's Ingresses; every change replaces it.",
        "global",
        f"    stats socket {layout.socket} mode 600 level admin expose-fd listeners",
        f"    hard-stop-after {settings.hard_stop_after}",
        "    ssl-default-bind-options ssl-min-ver TLSv1.2",
        *([f"    user {user}", f"    group {user}"] if user else []),  # workers drop root once bound
        "",
        "defaults",
        "    mode http",
        "    option forwardfor",
        "    option redispatch 1",
        "    retries 3",
        "    retry-on conn-failure empty-response",
        "    timeout connect 3s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-request 10s",
        "    timeout http-keep-alive 10s",
        "",
        "frontend ingress",
        f"    bind {settings.address}:{settings.http_port}",
        f"    bind {settings.address}:{settings.https_port} ssl crt-list {layout.crt_list} alpn h2,http/1.1",
        "    http-request set-var(txn.host) req.hdr(host),field(1,:),lower",
        "    http-request set-header X-Forwarded-Proto https if { ssl_fc }",
        "    http-request set-header X-Forwarded-Proto http if !{ ssl_fc }",
    ]
    for i, h in enumerate(table.hosts):
        acl = f"host_{i}" if h.host else ""
        if acl:
            lines.append(f"    {_host_acl(acl, h.host)}")
        for p in h.paths:
            cond = _path_condition(acl, p)
            if cond is None:
                problems.append(f"path {p.path!r} of host {h.host or '*'} has characters the proxy does not take")
                continue
            lines.append(f"    use_backend {backend(p.backend)} if {cond}")
        if acl:  # this host, no path matched: its default backend (or 404), never another host's rules
            lines.append(f"    use_backend {backend(h.default_backend)} if {acl}")
        else:
            lines.append(f"    use_backend {backend(h.default_backend)}")
    lines.append(f"    default_backend {backend(table.default_backend)}")
    lines += ["", f"backend {NOT_FOUND}",
              '    http-request return status 404 content-type text/plain string "404 page not found"']
    for b in table.backends:
        lines += ["", f"backend {names[b.name]}  # {b.name}", "    balance roundrobin"]
        lines += [f"    server e{j} {e.ip}:{e.port}" for j, e in enumerate(b.endpoints)]
    crt_list = [str(layout.default_cert)]
    for index, c in certificates or []:
        crt_list.append(" ".join([str(layout.certs / cert_file(index)), *c.hosts]))
    return "\n".join(lines) + "\n", "\n".join(crt_list) + "\n", problems

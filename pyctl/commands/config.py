"""`pyctl config`: read and edit the client configuration file (kubeconfig format)."""

from __future__ import annotations

import argparse
import base64
import copy
from typing import Any

from .. import printers
from ..errors import CommandError, UsageError
from ..session import Session
from ..tabwriter import TabWriter
from . import Command, add_subcommand, register

EXAMPLES = """\
# Show the merged configuration (secrets redacted)
pyctl config view

# Point a cluster entry at an API server, and make a context for it
pyctl config set-cluster local --server=http://127.0.0.1:6443
pyctl config set-context local --cluster=local --namespace=default
pyctl config use-context local

# Work in another namespace from now on
pyctl config set-context --current --namespace=staging
"""


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="config_verb", metavar="SUBCOMMAND", prog=p.prog)
    view = add_subcommand(sub, "view", summary="Display the configuration",
                          examples_text="pyctl config view\npyctl config view --minify --raw")
    view.add_argument("--raw", action="store_true", help="show secrets instead of redacting them")
    view.add_argument("--minify", action="store_true", help="only what the current context uses")
    view.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml")
    add_subcommand(sub, "current-context", summary="Display the current context")
    add_subcommand(sub, "get-contexts", summary="Describe the contexts of the configuration")
    use = add_subcommand(sub, "use-context", summary="Set the current context",
                         examples_text="pyctl config use-context local")
    use.add_argument("name")
    ctx = add_subcommand(sub, "set-context", summary="Create or change a context", resolve=True,
                         examples_text="pyctl config set-context --current --namespace=staging\n"
                                       "pyctl config set-context dev --cluster=local --user=admin")
    ctx.add_argument("name", nargs="?")
    ctx.add_argument("--current", action="store_true", help="change the current context")
    ctx.add_argument("--cluster")
    ctx.add_argument("--user")
    # Here --namespace (and --server below) edit the entry instead of choosing the target.
    ctx.add_argument("--namespace", dest="context_namespace")
    cluster = add_subcommand(sub, "set-cluster", summary="Create or change a cluster entry", resolve=True,
                             examples_text="pyctl config set-cluster local --server=https://10.0.0.1:6443 "
                                           "--certificate-authority=ca.crt --embed-certs")
    cluster.add_argument("name")
    cluster.add_argument("--server", dest="cluster_server", metavar="URL")
    cluster.add_argument("--certificate-authority", metavar="FILE")
    cluster.add_argument("--insecure-skip-tls-verify", choices=("true", "false"))
    cluster.add_argument("--embed-certs", action="store_true",
                         help="store the certificate's content instead of its path")
    creds = add_subcommand(sub, "set-credentials", summary="Create or change a user entry",
                           examples_text="pyctl config set-credentials admin --token=abc123")
    creds.add_argument("name")
    creds.add_argument("--token")
    creds.add_argument("--username")
    creds.add_argument("--password")
    creds.add_argument("--client-certificate", metavar="FILE")
    creds.add_argument("--client-key", metavar="FILE")
    creds.add_argument("--embed-certs", action="store_true")
    delete = add_subcommand(sub, "delete-context", summary="Delete a context")
    delete.add_argument("name")


def _redacted(data: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for entry in out.get("clusters") or []:
        body = entry.get("cluster") or {}
        if "certificate-authority-data" in body:
            body["certificate-authority-data"] = "DATA+OMITTED"
    for entry in out.get("users") or []:
        body = entry.get("user") or {}
        for key in ("client-certificate-data", "client-key-data"):
            if key in body:
                body[key] = "DATA+OMITTED"
        for key in ("token", "password"):
            if key in body:
                body[key] = "REDACTED"
    return out


def _view(s: Session, a: argparse.Namespace) -> int:
    data = copy.deepcopy(s.config.data)
    if a.minify:
        name = s.config.current_context
        if not name:
            raise CommandError("current-context must exist in order to minify")
        ctx = s.config.context(name) or {}
        keep = {"contexts": name, "clusters": ctx.get("cluster"), "users": ctx.get("user")}
        for section, wanted in keep.items():
            data[section] = [e for e in data.get(section) or [] if e.get("name") == wanted]
    if not a.raw:
        data = _redacted(data)
    view = {"apiVersion": "v1", "kind": "Config", "preferences": {}, **data,
            "current-context": data.get("current-context") or ""}
    for section in ("clusters", "contexts", "users"):
        view[section] = view.get(section) or None  # kubectl shows empty sections as null
    s.write(printers.to_json(view) if a.output == "json" else printers.to_yaml(view))
    return 0


def _embedded(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            return base64.b64encode(f.read()).decode()
    except OSError as exc:
        raise CommandError(f"could not read {path}: {exc.strerror}") from None


def run(s: Session, a: argparse.Namespace) -> int:
    verb = a.config_verb
    cfg = s.config
    if verb is None:
        raise UsageError("a sub-command is required: view, current-context, get-contexts, "
                         "use-context, set-context, set-cluster, set-credentials, delete-context",
                         "config")
    if verb == "view":
        return _view(s, a)
    if verb == "current-context":
        if not cfg.current_context:
            raise CommandError("current-context is not set")
        s.print(cfg.current_context)
        return 0
    if verb == "get-contexts":
        w = TabWriter(minwidth=6, padding=3)
        w.write("CURRENT\tNAME\tCLUSTER\tAUTHINFO\tNAMESPACE\n")
        for entry in cfg.data["contexts"]:
            ctx = entry.get("context") or {}
            mark = "*" if entry.get("name") == cfg.current_context else ""
            w.write(f"{mark}\t{entry.get('name', '')}\t{ctx.get('cluster', '')}\t"
                    f"{ctx.get('user', '')}\t{ctx.get('namespace', '')}\n")
        s.write(w.flush())
        return 0
    if verb == "use-context":
        cfg.use_context(a.name)
        cfg.save()
        s.print(f'Switched to context "{a.name}".')
        return 0
    if verb == "set-context":
        name = a.name
        if a.current:
            if name:
                raise CommandError("you cannot specify both a context name and --current")
            name = cfg.current_context
            if not name:
                raise CommandError("no current context is set")
        if not name:
            raise UsageError("a context name (or --current) is required", "config set-context")
        created = cfg.set_context(name, cluster=a.cluster, user=a.user, namespace=a.context_namespace)
        cfg.save()
        s.print(f'Context "{name}" {"created" if created else "modified"}.')
        return 0
    if verb == "set-cluster":
        ca_data = _embedded(a.certificate_authority) if a.embed_certs else None
        # "" removes the field (see KubeConfig._upsert): `--insecure-skip-tls-verify=false`.
        insecure = {"true": True, "false": "", None: None}[a.insecure_skip_tls_verify]
        cfg.set_cluster(a.name, server=a.cluster_server,
                        **{"certificate-authority": None if a.embed_certs else a.certificate_authority,
                           "certificate-authority-data": ca_data,
                           "insecure-skip-tls-verify": insecure})
        cfg.save()
        s.print(f'Cluster "{a.name}" set.')
        return 0
    if verb == "set-credentials":
        embed = a.embed_certs
        cfg.set_user(a.name, token=a.token, username=a.username, password=a.password,
                     **{"client-certificate": None if embed else a.client_certificate,
                        "client-key": None if embed else a.client_key,
                        "client-certificate-data": _embedded(a.client_certificate) if embed else None,
                        "client-key-data": _embedded(a.client_key) if embed else None})
        cfg.save()
        s.print(f'User "{a.name}" set.')
        return 0
    if verb == "delete-context":
        before = len(cfg.data["contexts"])
        cfg.data["contexts"] = [e for e in cfg.data["contexts"] if e.get("name") != a.name]
        if len(cfg.data["contexts"]) == before:
            raise CommandError(f"cannot delete context {a.name}, not in {cfg.path}")
        if cfg.current_context == a.name:
            s.warn("this removed your active context, use \"pyctl config use-context\" to select "
                   "a different one")
        cfg.save()
        s.print(f"deleted context {a.name} from {cfg.path}")
        return 0
    raise UsageError(f"unknown config sub-command {verb!r}", "config")


register(Command("config", "Modify config files", configure, run, EXAMPLES,
                 group="Settings Commands",
                 description="Modify the pyctl configuration file (kubeconfig format).\n\n"
                             "The file is --kubeconfig, else $PYCTL_CONFIG, else ~/.pyctl/config; "
                             "kubectl --kubeconfig FILE reads the same file.",
                 usage="pyctl config SUBCOMMAND"))

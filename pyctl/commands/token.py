"""`pyctl token create | list | delete`: bootstrap tokens that let new nodes join, as `kubeadm token`.

A token is a Secret `kube-system/bootstrap-token-<id>` (controlplane.auth.bootstrap_token owns
the format). `create` prints the token and the agent command that joins with it, pinning the
cluster CA (from the kubeconfig) by its public-key hash; `list` never shows a token's secret.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
from pathlib import Path
from urllib.parse import urlsplit

from controlplane.auth import bootstrap_token as bt

from ..bootstraptokens import SECRETS, create_token
from ..errors import ApiError, CommandError, UsageError
from ..humanize import human_duration
from ..session import Session
from ..tabwriter import align
from . import Command, add_subcommand, duration, register

GATEWAY_PORT = 7443
VERBS = ("create", "list", "delete")
EXAMPLES = """\
# a token valid for 24 hours, and the command that joins a node with it
pyctl token create

# a token for the next hour, with a note
pyctl token create --ttl 1h --description "rack 4 workers"

pyctl token list
pyctl token delete abcdef"""


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="token_verb", metavar="SUBCOMMAND", prog=p.prog)
    c = add_subcommand(sub, "create", summary="Create a bootstrap token and print the join command",
                       examples_text="pyctl token create --ttl 2h")
    c.add_argument("--ttl", type=duration, default=24 * 3600.0, metavar="DURATION",
                   help="how long the token stays valid, e.g. 30m or 24h (0: forever; default 24h)")
    c.add_argument("--description", default="", help="a note shown by `pyctl token list`")
    add_subcommand(sub, "list", summary="List bootstrap tokens (never their secrets)")
    d = add_subcommand(sub, "delete", summary="Delete bootstrap tokens: nodes can no longer join with them",
                       examples_text="pyctl token delete abcdef")
    d.add_argument("ids", nargs="+", metavar="ID", help="a token's id (or the whole token)")


def _ca_pem(s: Session) -> bytes | None:
    conn = s.connection
    if conn.ca_data:
        return base64.b64decode(conn.ca_data)
    if conn.ca_file:
        return Path(conn.ca_file).read_bytes()
    return None


def _create(s: Session, a: argparse.Namespace) -> int:
    token = create_token(s.client, a.ttl, a.description)
    s.print(token)
    ca = _ca_pem(s)
    host = urlsplit(s.connection.server).hostname or "CONTROL-PLANE"
    server = f"[{host}]:{GATEWAY_PORT}" if ":" in host else f"{host}:{GATEWAY_PORT}"
    if ca is None:
        s.warn("the kubeconfig names no cluster CA: pin it with --ca-file on the node")
        trust = "--ca-file /path/to/ca.crt"
    else:
        trust = f"--ca-cert-hash {bt.ca_cert_hash(ca)}"
    s.print(f"\nJoin a node with:\n  pyctl-agent --server {server} --token {token} {trust}")
    return 0


def _row(secret: dict, now: dt.datetime) -> str:
    values = bt.fields(secret)
    expires = bt.expiration(values)
    ttl = "<forever>" if expires is None else (
        "<expired>" if expires <= now else human_duration((expires - now).total_seconds()))
    return "\t".join((values.get("token-id", "?"), ttl, values.get("expiration") or "<never>",
                      values.get("description") or "<none>"))


def _list(s: Session) -> int:
    items = s.client.get(SECRETS)["items"]
    now = dt.datetime.now(dt.timezone.utc)
    rows = [_row(x, now) for x in items if x.get("type") == bt.SECRET_TYPE]
    if not rows:
        s.error(f"No bootstrap tokens found in {bt.NAMESPACE} namespace.")
        return 0
    s.write(align("\n".join(["ID\tTTL\tEXPIRES\tDESCRIPTION", *sorted(rows)]) + "\n", padding=3))
    return 0


def _delete(s: Session, a: argparse.Namespace) -> int:
    code = 0
    for given in a.ids:
        token_id = given.partition(".")[0]
        try:
            if not bt.TOKEN_RE.match(f"{token_id}.{'0' * 16}"):
                raise CommandError(f"token id {given!r} is malformed: expected [a-z0-9]{{6}}")
            s.client.request("DELETE", f"{SECRETS}/{bt.secret_name(token_id)}")
            s.print(f"bootstrap token \"{token_id}\" deleted")
        except ApiError as exc:
            if exc.status.get("reason") != "NotFound":
                raise
            s.error(f"error: bootstrap token \"{token_id}\" not found")
            code = 1
        except CommandError as exc:
            s.error(exc.render())
            code = 1
    return code


def run(s: Session, a: argparse.Namespace) -> int:
    if a.token_verb is None:
        raise UsageError(f"a sub-command is required: {', '.join(VERBS)}", "token")
    if a.token_verb == "create":
        return _create(s, a)
    if a.token_verb == "list":
        return _list(s)
    return _delete(s, a)


register(Command("token", "Manage bootstrap tokens for joining nodes", configure, run, EXAMPLES,
                 group="Cluster Management Commands",
                 description="Create, list and delete bootstrap tokens: a new node trades one for its "
                             "certificate (pyctl-agent --token) when the control plane has a PKI.",
                 usage="pyctl token SUBCOMMAND [flags]"))

"""Bootstrap tokens through the API: make one and revoke it. A token is a Secret
`kube-system/bootstrap-token-<id>` (controlplane.auth.bootstrap_token owns the format);
`pyctl token` and `pyctl cluster up` (which joins its nodes with one) both use these."""

from __future__ import annotations

from controlplane.auth import bootstrap_token as bt

from .client import ApiClient

SECRETS = f"/api/v1/namespaces/{bt.NAMESPACE}/secrets"


def create_token(client: ApiClient, ttl: float, description: str = "") -> str:
    """A new bootstrap token, made valid for `ttl` seconds by its Secret (created through `client`)."""
    token = bt.generate()
    client.request("POST", SECRETS, body=bt.secret_for(token, ttl, description))
    return token


def delete_token(client: ApiClient, token: str) -> None:
    """Revoke `token` (its Secret); nodes that already joined keep their certificates."""
    client.request("DELETE", f"{SECRETS}/{bt.secret_name(bt.parse(token)[0])}")

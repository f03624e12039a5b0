"""What a new cluster gets beyond its processes: the default IngressClass `pyctl`, served by the
ingress proxy every agent runs. `pyctl cluster up` installs it, and so does
`deploy/install.sh --role server` (`python -m pyctl.addons --kubeconfig FILE`). Created once:
an operator's later change (say, no longer the default) is left as it is on the next run."""

from __future__ import annotations

import argparse
import sys

from controlplane.machinery.ingress import default_class_object

from .client import ApiClient
from .config import KubeConfig
from .errors import ApiError, PyctlError

INGRESS_CLASSES = "/apis/networking.k8s.io/v1/ingressclasses"


def install(client: ApiClient) -> list[str]:
    """Create what is missing; the names of what was created."""
    made = []
    obj = default_class_object()
    try:
        client.request("POST", INGRESS_CLASSES, body=obj)
        made.append(f"ingressclass/{obj['metadata']['name']}")
    except ApiError as exc:
        if exc.status.get("code") != 409:
            raise
    return made


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pyctl.addons", description=__doc__)
    p.add_argument("--kubeconfig", required=True, help="an admin's kubeconfig")
    args = p.parse_args(argv)
    try:
        client = ApiClient(KubeConfig.load(args.kubeconfig).connection())
        try:
            made = install(client)
        finally:
            client.close()
    except PyctlError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    print("\n".join(f"created {m}" for m in made) or "addons: nothing to create")
    return 0


if __name__ == "__main__":
    sys.exit(main())

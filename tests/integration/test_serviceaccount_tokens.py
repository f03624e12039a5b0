"""ServiceAccount tokens against the real secured API server: TokenRequest (`kubectl create
token`), bearer JWT authentication with kube's bound-token checks, RBAC for
system:serviceaccount:NS:NAME, and TokenReview."""

from __future__ import annotations

import base64
import json

from .kubectl import Kubectl
from .secure_api import admin, call, secure_api  # noqa: F401  (fixtures)

SA = "/api/v1/namespaces/default/serviceaccounts"
PODS = "/api/v1/namespaces/default/pods"


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def request_token(admin, name: str = "robot", **spec) -> tuple[int, dict]:
    return await call(admin, "POST", f"{SA}/{name}/token",
                      {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})


async def as_token(secure_api, token: str, method: str, path: str, body=None) -> tuple[int, dict]:
    async with secure_api.session(token=token) as s:
        return await call(s, method, path, body)


async def make_account(admin, name: str = "robot") -> dict:
    status, sa = await call(admin, "POST", SA, {"apiVersion": "v1", "kind": "ServiceAccount",
                                                "metadata": {"name": name}})
    assert status == 201, sa
    return sa


async def grant_pod_reader(admin, name: str = "robot") -> None:
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "pod-reader"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
               "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "default"}]}
    base = "/apis/rbac.authorization.k8s.io/v1/namespaces/default"
    assert (await call(admin, "POST", f"{base}/roles", role))[0] == 201
    assert (await call(admin, "POST", f"{base}/rolebindings", binding))[0] == 201


async def test_a_token_request_authenticates_as_the_service_account_and_rbac_applies(secure_api, admin):
    sa = await make_account(admin)
    status, tr = await request_token(admin, expirationSeconds=1200)
    assert status == 201, tr
    token = tr["status"]["token"]
    c = claims(token)
    assert c["sub"] == "system:serviceaccount:default:robot"
    assert c["iss"] == "https://kubernetes.default.svc.cluster.local" and c["aud"] == [c["iss"]]
    assert c["exp"] - c["iat"] == 1200
    assert c["kubernetes.io"]["serviceaccount"] == {"name": "robot", "uid": sa["metadata"]["uid"]}
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "ES256" and header["kid"]

    status, body = await as_token(secure_api, token, "GET", PODS)
    assert status == 403
    assert body["message"] == ('pods is forbidden: User "system:serviceaccount:default:robot" cannot list '
                               'resource "pods" in API group "" in the namespace "default"')
    await grant_pod_reader(admin)
    status, body = await as_token(secure_api, token, "GET", PODS)
    assert status == 200 and body["kind"] == "PodList"
    status, body = await as_token(secure_api, token, "GET", "/api/v1/namespaces/kube-system/pods")
    assert status == 403

    status, who = await as_token(secure_api, token, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                 {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert who["status"]["userInfo"]["groups"] == ["system:serviceaccounts", "system:serviceaccounts:default",
                                                   "system:authenticated"]

    # Deleting the ServiceAccount ends its tokens at once.
    assert (await call(admin, "DELETE", f"{SA}/robot"))[0] == 200
    assert (await as_token(secure_api, token, "GET", PODS))[0] == 401


async def test_a_token_bound_to_a_pod_dies_with_the_pod(secure_api, admin):
    await make_account(admin)
    await grant_pod_reader(admin)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"serviceAccountName": "robot", "containers": [{"name": "c", "image": "busybox"}]}}
    status, created = await call(admin, "POST", PODS, pod)
    assert status == 201, created
    status, tr = await request_token(admin, boundObjectRef={"kind": "Pod", "apiVersion": "v1", "name": "p"})
    assert status == 201, tr
    assert tr["spec"]["boundObjectRef"]["uid"] == created["metadata"]["uid"]
    assert claims(tr["status"]["token"])["kubernetes.io"]["pod"] == {"name": "p", "uid": created["metadata"]["uid"]}
    assert (await as_token(secure_api, tr["status"]["token"], "GET", PODS))[0] == 200
    assert (await call(admin, "DELETE", f"{PODS}/p?gracePeriodSeconds=0"))[0] == 200
    assert (await as_token(secure_api, tr["status"]["token"], "GET", PODS))[0] == 401

    # A uid that is not the pod's now, and a pod of another ServiceAccount, are refused.
    assert (await call(admin, "POST", PODS, pod))[0] == 201
    status, body = await request_token(admin, boundObjectRef={"kind": "Pod", "name": "p", "uid": "old"})
    assert status == 409 and "does not match the UID in record" in body["message"]
    other = {**pod, "metadata": {"name": "q"}, "spec": {**pod["spec"], "serviceAccountName": "default"}}
    assert (await call(admin, "POST", PODS, other))[0] == 201
    status, body = await request_token(admin, boundObjectRef={"kind": "Pod", "name": "q"})
    assert status == 400 and "different serviceaccount" in body["message"]


async def test_token_requests_are_validated_as_kubernetes_does(secure_api, admin):
    await make_account(admin)
    status, body = await request_token(admin, expirationSeconds=60)
    assert status == 422
    assert body["message"] == ('TokenRequest.authentication.k8s.io "robot" is invalid: spec.expirationSeconds: '
                               'Invalid value: 60: may not specify a duration less than 10 minutes')
    status, body = await request_token(admin, boundObjectRef={"kind": "Deployment", "name": "x"})
    assert status == 422 and 'spec.boundObjectRef.kind: Unsupported value: "Deployment"' in body["message"]
    status, body = await request_token(admin, "nosuch")
    assert status == 404 and body["message"] == 'serviceaccounts "nosuch" not found'


async def test_audiences_and_token_review(secure_api, admin):
    await make_account(admin)
    status, tr = await request_token(admin, audiences=["vault"])
    assert status == 201
    token = tr["status"]["token"]
    # Not for the API: refused there, but a review for "vault" accepts it.
    assert (await as_token(secure_api, token, "GET", PODS))[0] == 401
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
              "spec": {"token": token, "audiences": ["vault"]}}
    status, body = await call(admin, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", review)
    assert status == 201, body
    assert body["status"]["authenticated"] is True
    assert body["status"]["user"]["username"] == "system:serviceaccount:default:robot"
    assert body["status"]["audiences"] == ["vault"]
    review["spec"]["audiences"] = []
    status, body = await call(admin, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", review)
    assert body["status"]["authenticated"] is False and "audiences" in body["status"]["error"]
    status, body = await call(admin, "GET", "/apis/authentication.k8s.io/v1/tokenreviews")
    assert status == 405
    # Without the right, a user may not review tokens.
    async with secure_api.session("bob") as bob:
        assert (await call(bob, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", review))[0] == 403


async def test_kubectl_create_token(secure_api, admin, tmp_path):
    await make_account(admin)
    await grant_pod_reader(admin)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"serviceAccountName": "robot", "containers": [{"name": "c", "image": "busybox"}]}}
    assert (await call(admin, "POST", PODS, pod))[0] == 201
    kubectl = Kubectl(secure_api.url, tmp_path)
    kubectl.config = secure_api.kubeconfig("admin", tmp_path / "admin.kubeconfig")
    token = (await kubectl.ok("create", "token", "robot", "--duration", "20m", "--audience", "api",
                              "--audience", "https://kubernetes.default.svc.cluster.local",
                              "--bound-object-kind", "Pod", "--bound-object-name", "p")).strip()
    c = claims(token)
    assert c["aud"] == ["api", "https://kubernetes.default.svc.cluster.local"] and c["exp"] - c["iat"] == 1200
    assert c["kubernetes.io"]["pod"]["name"] == "p"
    assert (await as_token(secure_api, token, "GET", PODS))[0] == 200
    rc, _, err = await kubectl.run("create", "token", "nosuch")
    assert rc == 1 and 'serviceaccounts "nosuch" not found' in err


async def test_a_forged_or_foreign_token_is_refused(secure_api, admin):
    from controlplane.auth import satokens
    from controlplane.auth.pki import _key_pem, _new_key

    sa = await make_account(admin)
    forged, _ = satokens.Signer(_key_pem(_new_key())).mint(
        "default", satokens.Ref("robot", sa["metadata"]["uid"]), [satokens.DEFAULT_ISSUER], 3600)
    assert (await as_token(secure_api, forged, "GET", PODS))[0] == 401
    status, tr = await request_token(admin)
    tampered = tr["status"]["token"].split(".")
    body = claims(tr["status"]["token"])
    body["sub"] = "system:serviceaccount:kube-system:default"
    tampered[1] = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    assert (await as_token(secure_api, ".".join(tampered), "GET", PODS))[0] == 401

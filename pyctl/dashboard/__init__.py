"""`pyctl dashboard`: a live web console for the cluster, served on the user's own machine.

The dashboard is a client like `pyctl` itself: a small aiohttp server on loopback that
reaches the API server with the user's kubeconfig credentials (as `kubectl proxy` does), so
RBAC applies unchanged and the API server gains no new surface. Its parts:

    server.py     the aiohttp app: the page and its assets, who may use it (a per-run token,
                  Host and Origin checks), the read-only API proxy
    upstream.py   the connection to the API server: TLS and credentials from the kubeconfig
    streams.py    one WebSocket per browser tab carrying many API watches and log streams
    execs.py      exec sessions on that WebSocket: pods/exec without a terminal
    actions.py    the changes the page may ask for, each run as the pyctl command that does it
    static/       the page: hand-written HTML, CSS and JavaScript modules (no build step)
"""

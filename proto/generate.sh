#!/usr/bin/env bash
# Regenerate the Python stubs for proto/pyctl/*.proto into the pyctl_proto package.
#
#   proto/generate.sh            # writes pyctl_proto/ in the repository
#   proto/generate.sh OUTDIR     # writes OUTDIR/ instead (the stub test compares the two)
#
# grpcio-tools is a test dependency, installed in the project's .venv, not in the machine's
# python3: the script runs $PYTHON if set (the tests pass their own interpreter), else .venv's.
#
# protoc names imports after the .proto's directory ("from pyctl import node_pb2");
# `pyctl` is the CLI's package, so the imports are rewritten to `pyctl_proto`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/../pyctl_proto}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
py="${PYTHON:-$here/../.venv/bin/python}"
if ! "$py" -c 'import grpc_tools' 2>/dev/null; then
    echo "generate.sh: $py has no grpc_tools; run 'bash deploy/install-deps.sh test' first" >&2
    exit 1
fi
"$py" -m grpc_tools.protoc -I "$here" \
    --python_out="$tmp" --pyi_out="$tmp" --grpc_python_out="$tmp" \
    "$here"/pyctl/*.proto
for f in "$tmp"/pyctl/*; do
    sed -e 's/^from pyctl import /from pyctl_proto import /' "$f" > "$out/$(basename "$f")"
done
[ -f "$out/__init__.py" ] || printf '"""Generated gRPC stubs for proto/pyctl/*.proto (run proto/generate.sh; do not edit)."""\n' > "$out/__init__.py"

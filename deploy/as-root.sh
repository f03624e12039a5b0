# Sourced first by deploy/up.sh, test.sh and down.sh, which need root (network namespaces,
# mounts, cgroups, iptables): run by another user, the script runs itself again through sudo;
# run as root it goes on (a fresh Debian as root often has no sudo at all).
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "error: $0 needs root: run it as root, or install sudo and run it again" >&2
    exit 1
  fi
  exec sudo bash "$0" "$@"
fi

#!/usr/bin/env bash
# Installs the Debian packages the local stack needs, if what they provide is missing.
# Usage: scripts/ensure-debian-packages.sh CHECK=PACKAGE [CHECK=PACKAGE ...]
# CHECK is a command looked up on PATH, or a path glob (it contains a /) that must match a file.
set -euo pipefail
present() {
  if [[ $1 == */* ]]; then
    compgen -G "$1" >/dev/null
  else
    command -v "$1" >/dev/null 2>&1
  fi
}
missing=()
for pair in "$@"; do
  check=${pair%%=*}; pkg=${pair#*=}
  present "$check" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

# The project needs only promtool from `prometheus`, but Debian enables and starts its server,
# which listens on :9090 on every address: stop it and keep it from starting at boot.
for pkg in "${missing[@]}"; do
  [ "$pkg" = prometheus ] || continue
  if [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now prometheus.service || true
  elif [ -x /etc/init.d/prometheus ]; then
    $sudo /etc/init.d/prometheus stop || true
    $sudo update-rc.d prometheus disable || true
  fi
done

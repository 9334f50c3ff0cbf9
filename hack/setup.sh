#!/usr/bin/env bash
# Sets up everything `make test`, `make demo` and `make bench` need on a fresh machine:
# the Debian packages of the lab servers (as root), the Python venv with pinned tooling,
# the target-Python venvs (hack/setup-targets.sh) and ansible-test's offline pip bootstrap.
# Idempotent: a second run only checks.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/.venv"
py=${PYTHON:-python3.11}

need_pkgs=()
# the lab servers (and nginx's stream module, a load balancer's TCP proxy); promtool (Prometheus rule tests);
# headless Chromium and a font (the HTML report as a person sees it); Pebble, the ACME test server.
for p in nginx libnginx-mod-stream apache2 haproxy openssl prometheus chromium fonts-dejavu-core pebble; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to apt-get install ${need_pkgs[*]}" >&2; exit 1
  fi
  echo "setup: apt-get install ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # policy-rc.d keeps the packages from trying to start services (there is no init system).
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi
# Nothing is stopped here: the project stops only the processes it started, by their pid files
# (tests/testlib/servers.py, tests/lab/lab.py). policy-rc.d above keeps the packages from starting any.

stamp="$venv/.installed"
if [ ! -f "$stamp" ] || [ "$here/requirements-dev.txt" -nt "$stamp" ] || [ "$here/requirements.txt" -nt "$stamp" ] \
   || [ "$here/requirements-acme.txt" -nt "$stamp" ]; then
  echo "setup: python venv in $venv"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -r "$here/requirements-dev.txt"
  touch "$stamp"
fi

"$here/hack/ansible-test-pip-bootstrap.sh" "$venv"
# Optional parts, each its own idempotent script: target-interpreter venvs, the loopback OpenSSH server.
for part in setup-targets.sh setup-ssh.sh; do
  if [ -f "$here/hack/$part" ]; then bash "$here/hack/$part"; fi
done
echo "setup: ok"

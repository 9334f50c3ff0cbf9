#!/usr/bin/env bash
# What the SSH transport test (tests/integration/test_ssh_transport.py) needs on this machine:
# the OpenSSH server binary and sudo (Debian packages, as root), a target Python with cryptography
# that any user can run, and an unprivileged login user that may `sudo` to root without a password
# (Ansible's `become`). Nothing is started here and no system sshd is configured: the test starts its
# own sshd on a free loopback port with its own config file (tests/testlib/sshd.py).
# Idempotent: a second run only checks. Without root it only reports what is missing.
set -euo pipefail
user=certops-ssh  # tests/testlib/sshd.py USER
home=/var/lib/$user
sudoers=/etc/sudoers.d/$user

missing=()
need_pkgs=()
for p in openssh-server openssh-client sudo python3 python3-cryptography; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
[ ${#need_pkgs[@]} -eq 0 ] || missing+=("packages: ${need_pkgs[*]}")
getent passwd "$user" >/dev/null || missing+=("user $user")
[ "$(id -u)" -ne 0 ] || [ -f "$sudoers" ] || missing+=("$sudoers")  # /etc/sudoers.d is root-only
[ -d /run/sshd ] || missing+=("/run/sshd")
if [ "$(id -u)" -ne 0 ]; then  # only root can check the rest (shadow, sudoers) or fix anything
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup-ssh: need root for: ${missing[*]} (the SSH transport test skips without them)" >&2
  fi
  exit 0
fi

if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup-ssh: apt-get install ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # policy-rc.d keeps the packages from starting services (sshd must not start on port 22).
  # A policy-rc.d that was already there (container images ship one) is left as it was.
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

if ! getent passwd "$user" >/dev/null; then
  echo "setup-ssh: user $user"
  useradd --system --create-home --home-dir "$home" --shell /bin/sh --comment "certops SSH transport test" "$user"
fi
# No password, but not locked: '!' (useradd's default) is "locked" for an sshd run with `UsePAM no`,
# which then refuses even key authentication; '*' matches no password and is not a lock.
if [ "$(getent shadow "$user" | cut -d: -f2)" != "*" ]; then
  usermod -p '*' "$user"
fi

# become: sudo to root without a password, nothing else.
want="$user ALL=(root) NOPASSWD: ALL"
if [ ! -f "$sudoers" ] || [ "$(cat "$sudoers")" != "$want" ]; then
  echo "setup-ssh: $sudoers"
  tmp=$(mktemp)
  printf '%s\n' "$want" > "$tmp"
  visudo -cqf "$tmp"
  install -m 0440 -o root -g root "$tmp" "$sudoers"
  rm -f "$tmp"
fi

# sshd's privilege separation directory (compiled in; normally made by the init system, absent in containers).
install -d -m 0755 -o root -g root /run/sshd

# The target Python the test uses must be runnable by the login user and have cryptography.
runuser -u "$user" -- /usr/bin/python3 -c 'import cryptography' \
  || { echo "setup-ssh: $user cannot run /usr/bin/python3 with cryptography" >&2; exit 1; }

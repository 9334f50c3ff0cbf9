#!/usr/bin/env bash
# Target-interpreter venvs: for each target Python and each requirements-target-<label>.txt, a venv at
# .venv-targets/<X.Y>-<label>/ with exactly those pins, installed from wheels only (no compiler on the
# path). tests/integration/test_target_pythons.py runs both modules in each one through
# ansible-playbook; a target Python that is not installed here is reported and its test is skipped.
#
# Matrix (keep TARGET_PYTHONS in step with the test's TARGET_PYTHONS):
#   info-floor   cryptography 3.3.2  backend_cert_info's floor; cert_chain_verify must refuse it
#   verify-floor cryptography 42.0.0 cert_chain_verify's floor (both modules work)
#
# .venv-targets/bin/pythonX.Y links to each real interpreter found: put that directory first on PATH
# for `ansible-test sanity` (it looks up pythonX.Y on PATH, and a pyenv shim there may not run).
#
# Idempotent: a venv is rebuilt only when its stamp (interpreter + requirements digest) changes.
# Called by hack/setup.sh; can run alone. TARGET_PYTHONS="3.9 3.13" limits the Pythons.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root="$here/.venv-targets"
read -r -a pythons <<< "${TARGET_PYTHONS:-3.8 3.9 3.10 3.12 3.13}"

find_python() {  # the real binary of Python X.Y (never a pyenv shim), or nothing
  local ver=$1 cand
  for cand in $(ls -d "$HOME"/.pyenv/versions/"$ver".[0-9]*/bin/python"$ver" 2>/dev/null | sort -rV) \
      /usr/local/bin/python"$ver" /usr/bin/python"$ver"; do
    if [ -x "$cand" ] && "$cand" -c 'import ssl, venv, ensurepip' >/dev/null 2>&1; then
      echo "$cand"; return 0
    fi
  done
  return 0
}

mkdir -p "$root/bin"
# Nothing in here is tracked (also keeps it out of `git ls-files --others`, which `make sanity` copies).
printf '# Built by hack/setup-targets.sh; nothing here is tracked.\n*\n' > "$root/.gitignore"
status=0
for ver in "${pythons[@]}"; do
  py=$(find_python "$ver")
  if [ -z "$py" ]; then
    echo "setup-targets: no working python$ver found; its target venvs are not built (tests skip them)"
    rm -f "$root/bin/python$ver"
    continue
  fi
  ln -sfn "$py" "$root/bin/python$ver"
  for req in "$here"/requirements-target-*.txt; do
    label=$(basename "$req" .txt); label=${label#requirements-target-}
    venv="$root/$ver-$label"
    want="$py $(sha256sum "$req" | cut -d' ' -f1)"
    if [ -f "$venv/.installed" ] && [ "$(cat "$venv/.installed")" = "$want" ]; then
      continue
    fi
    echo "setup-targets: $venv ($py, $(basename "$req"))"
    rm -rf "$venv"
    "$py" -m venv "$venv"
    if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: -r "$req" \
        > "$venv/.pip.log" 2>&1; then
      echo "setup-targets: pip failed for $venv:" >&2
      grep -v "^WARNING: Location" "$venv/.pip.log" | tail -n 20 >&2
      status=1
      continue
    fi
    echo "$want" > "$venv/.installed"
  done
done
exit "$status"

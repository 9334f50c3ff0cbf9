#!/usr/bin/env bash
# ansible-test bootstraps pip in its sanity venvs with a get-pip script it downloads from
# ci-files.testing.ansible.com, which is unreachable on offline/registry-only machines. It first
# looks in ~/.ansible/test/cache/get_pip_<version>.py; when the download fails, this puts a
# stand-in there that runs ensurepip and then `pip install` with the arguments it is given.
# ansible-test runs pip with PIP_CONFIG_FILE=/dev/null, so the stand-in also drops a
# sitecustomize.py into the new venv that points pip at the system CA bundle (PIP_CERT).
set -euo pipefail
venv=$1
ver=$("$venv/bin/python" - <<'PY'
import re, ansible_test, pathlib
src = (pathlib.Path(ansible_test.__file__).parent / "_internal/python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
cache="$HOME/.ansible/test/cache/get_pip_${ver//./_}.py"
[ -f "$cache" ] && exit 0
mkdir -p "$(dirname "$cache")"
if curl -fsS --max-time 10 -o "$cache.download" "https://ci-files.testing.ansible.com/ansible-test/get-pip-$ver.py" 2>/dev/null; then
  mv "$cache.download" "$cache"; exit 0
fi
rm -f "$cache.download"
echo "setup: get-pip download failed; installing the offline stand-in at $cache"
cat > "$cache" <<'PY'
"""Offline stand-in for get-pip.py (written by certops.backend_tls hack/ansible-test-pip-bootstrap.sh)."""
import os
import subprocess
import sys
import sysconfig

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

site = sysconfig.get_paths()["purelib"]
if os.path.exists(CA_BUNDLE):
    with open(os.path.join(site, "sitecustomize.py"), "w") as fh:
        fh.write("import os\nos.environ.setdefault('PIP_CERT', %r)\n" % CA_BUNDLE)
    os.environ.setdefault("PIP_CERT", CA_BUNDLE)
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
PY

"""The collection as it is shipped: the Galaxy tarball, the execution environment, the changelog.

Everything is built from a copy of the working tree as a fresh checkout has it (`git ls-files`, tracked and new
files), into which the caches and outputs of a developer's machine are then planted (ruff, pytest, hypothesis,
__pycache__, venvs, build/, tests/output, old tarballs...): the tarball must carry the collection and none of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from testlib import pki
from testlib.ansible_run import BIN, ROOT

NAMESPACE, NAME = "certops", "backend_tls"
MAX_TARBALL = 1000 * 1000  # bytes; 542 KB at this writing (a 195 KB PNG in docs/), 1.2 MB before build_ignore
MAX_MEMBER = 256 * 1024  # no single file that large: the limbo vectors are 4 MB

# Caches and outputs planted in the copy before building (ansible-galaxy skips some of them on its own).
JUNK = [
    ".ruff_cache/CACHEDIR.TAG", ".ruff_cache/0.17.6/1234567890", "tests/.ruff_cache/0.17.6/1",
    ".pytest_cache/v/cache/nodeids", "tests/integration/.pytest_cache/README.md",
    ".hypothesis/examples/0a1b/2c3d", "tests/fuzz/.hypothesis/constants/abc",
    "__pycache__/conftest.cpython-311.pyc", "plugins/modules/__pycache__/backend_cert_info.cpython-311.pyc",
    "tests/unit/__pycache__/conftest.cpython-311-pytest-9.0.3.pyc", "plugins/filter/stale.pyc",
    ".venv/pyvenv.cfg", ".venv/bin/python3", ".venv-targets/py38/bin/python",
    "build/collections/ansible_collections/README", "build/lab/state.json",
    "build/sanity/ansible_collections/certops/backend_tls/galaxy.yml", "build/ee/context/Containerfile",
    "tests/output/junit/python3.11-units.xml", "tests/output/.tmp/sanity/x",
    "certops-backend_tls-0.0.1.tar.gz", "docs/old-site.tar.gz",
    ".ansible/roles/x/tasks/main.yml", "tests/integration/targets/.ansible/collections/x", "context/Containerfile",
    "changelogs/.plugin-cache.yaml",
]
TOP_EXCLUDED = {".venv", ".venv-targets", "build", ".ci", "hack", "context"}
ANY_EXCLUDED = {".ruff_cache", ".pytest_cache", "__pycache__", ".hypothesis", ".ansible", ".git"}
# Top-level entries of the tarball that only a developer of the collection needs: not in the execution environment.
DEV_ONLY = {"tests", "Makefile", "pytest.ini", "ruff.toml", ".gitignore", ".ansible-lint", "MANIFEST.json",
            "FILES.json", "execution-environment.yml"}
DEV_ONLY_PATTERN = re.compile(r"requirements-.+\.txt$")


def env(**extra):
    """A clean environment: no ANSIBLE_* or PYTHONPATH from outside (so the checkout is never found by accident)."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "PYTHONPATH"}
    out.update({"PATH": "%s:%s" % (BIN, os.environ.get("PATH", "/usr/bin:/bin")), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false"})
    out.update(extra)
    return out


def sh(*cmd, cwd=None, timeout=120, check=True, **extra_env):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env(**extra_env), check=False)
    if check:
        assert proc.returncode == 0, "%s: rc=%d\n%s\n%s" % (cmd, proc.returncode, proc.stdout[-4000:],
                                                            proc.stderr[-4000:])
    return proc


def checkout_files():
    """What a fresh checkout (plus files not committed yet, not ignored) holds: relative paths."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, check=True).stdout.decode()
    return sorted(p for p in out.split("\0") if p and os.path.lexists(ROOT / p))  # a file deleted but not staged


def copy_tree(dest, files=None):
    for rel in files or checkout_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target, follow_symlinks=False)
    return dest


def violations(names):
    """Members of a tarball that must not be there."""
    bad = []
    for name in names:
        parts = name.split("/")
        if (parts[0] in TOP_EXCLUDED or ANY_EXCLUDED & set(parts) or name.endswith((".tar.gz", ".pyc"))
                or name.startswith(("tests/output", "tests/unit/limbo")) or name == "changelogs/.plugin-cache.yaml"):
            bad.append(name)
    return bad


def build(tree, out):
    sh(BIN / "ansible-galaxy", "collection", "build", "--force", "--output-path", out, tree)
    tarballs = list(Path(out).glob("%s-%s-*.tar.gz" % (NAMESPACE, NAME)))
    assert len(tarballs) == 1, tarballs
    return tarballs[0]


def members(tarball):
    """{name: size} of the files in a tarball (directories left out)."""
    with tarfile.open(tarball) as tar:
        return {m.name.rstrip("/"): m.size for m in tar.getmembers() if not m.isdir()}


def galaxy_version(tree):
    return yaml.safe_load((Path(tree) / "galaxy.yml").read_text())["version"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("packaging")


@pytest.fixture(scope="module")
def tree(work):
    """The checkout's files, then a developer machine's caches and outputs on top."""
    dest = copy_tree(work / "tree")
    for rel in JUNK:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(b"x" * 1024)
    # Not vacuous: what must be left out is really there to be left out.
    for rel in [".ci/run", "hack/setup.sh", "tests/unit/limbo/server-subset.json"]:
        assert (dest / rel).is_file(), rel
    return dest


@pytest.fixture(scope="module")
def tarball(tree, work):
    return build(tree, work / "dist")


def test_tarball_carries_the_collection(tree, tarball):
    names = members(tarball)
    required = ["MANIFEST.json", "FILES.json", "README.md", "meta/runtime.yml", "meta/execution-environment.yml",
                "requirements.txt", "bindep.txt", "playbooks/diagnose.yml", "playbooks/remediate.yml",
                "roles/cert_remediation/tasks/main.yml", "roles/cert_remediation/meta/argument_specs.yml",
                "roles/cert_remediation/defaults/main.yml", "changelogs/changelog.yaml"]
    assert [n for n in required if n not in names] == []
    # Every file of the collection's content (modules, module_utils, filters, doc fragments, the role, playbooks).
    content = [p.relative_to(tree).as_posix() for top in ("plugins", "roles", "playbooks", "meta")
               for p in (tree / top).rglob("*") if p.is_file()]
    assert any(n.startswith("plugins/modules/") and n.endswith(".py") for n in content)
    assert sorted(n for n in content if not violations([n]) and n not in names) == []
    manifest = json.loads(tarfile.open(tarball).extractfile("MANIFEST.json").read())["collection_info"]
    assert (manifest["namespace"], manifest["name"], manifest["version"]) == (NAMESPACE, NAME, galaxy_version(tree))
    files = json.loads(tarfile.open(tarball).extractfile("FILES.json").read())["files"]
    listed = sorted(f["name"] for f in files if f["ftype"] == "file")
    assert listed == sorted(set(names) - {"MANIFEST.json", "FILES.json"})


def test_tarball_leaves_out_outputs_caches_venvs_and_test_vectors(tree, tarball):
    names = members(tarball)
    print("\n%s: %d bytes, %d files" % (tarball.name, tarball.stat().st_size, len(names)))
    assert violations(names) == []
    assert [rel for rel in JUNK if rel in names] == []
    assert tarball.stat().st_size < MAX_TARBALL, tarball.stat().st_size
    biggest = max(names, key=names.get)
    assert names[biggest] < MAX_MEMBER, (biggest, names[biggest])


def test_the_checks_catch_a_build_without_build_ignore(tree, work):
    """The same tree without build_ignore: every planted cache and output, the limbo vectors, .ci and hack are in
    the tarball and the checks above name them (ansible-galaxy's own defaults catch only some)."""
    bare = work / "bare"
    shutil.copytree(tree, bare, copy_function=os.link)
    galaxy = yaml.safe_load((bare / "galaxy.yml").read_text())
    del galaxy["build_ignore"]
    (bare / "galaxy.yml").unlink()  # a hard link to the tree's galaxy.yml: replace, never write through
    (bare / "galaxy.yml").write_text(yaml.safe_dump(galaxy))
    names = members(build(bare, work / "bare-dist"))
    found = set(violations(names))
    defaults = re.compile(r"(^|/)__pycache__/|\.pyc$|^tests/output/|^certops-backend_tls-.*\.tar\.gz$")
    assert sorted(rel for rel in JUNK if not defaults.search(rel) and rel not in found) == []
    assert {".ci/run", "hack/setup.sh", "tests/unit/limbo/server-subset.json"} <= found
    assert sum(names.values()) > MAX_TARBALL


def test_installed_tarball_runs_by_fqcn(tarball, work):
    """ansible-galaxy collection install, then modules, a filter and the docs by FQCN from that install only."""
    installed = work / "installed"
    sh(BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", installed, tarball,
       ANSIBLE_COLLECTIONS_PATH=installed)
    coll = installed / "ansible_collections" / NAMESPACE / NAME
    assert (coll / "plugins" / "modules" / "backend_cert_info.py").is_file()
    assert not any(p.is_symlink() for p in coll.rglob("*"))
    assert not (coll / "tests" / "unit" / "limbo").exists()

    play = work / "play"
    play.mkdir()
    ca = pki.CA("Packaging")
    leaf = ca.leaf("pkg.example.test")
    pki.write(play / "site.crt", ca.chain_pem(leaf))
    pki.write(play / "site.key", leaf.key_pem(), 0o600)
    pki.write(play / "root.pem", ca.root_pem)
    (play / "site.yml").write_text("""---
- name: The installed collection by FQCN
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Collect
      certops.backend_tls.backend_cert_info:
        paths: ["{{ playbook_dir }}/site.crt", "{{ playbook_dir }}/site.key"]
      register: info
    - name: Verify for the right name
      certops.backend_tls.cert_chain_verify:
        path: "{{ playbook_dir }}/site.crt"
        ca_path: "{{ playbook_dir }}/root.pem"
        key_path: "{{ playbook_dir }}/site.key"
        server_names: [pkg.example.test]
      register: good
    - name: Verify for another name
      certops.backend_tls.cert_chain_verify:
        path: "{{ playbook_dir }}/site.crt"
        ca_path: "{{ playbook_dir }}/root.pem"
        server_names: [other.example.test]
      register: wrong
    - name: Save
      ansible.builtin.copy:
        dest: "{{ playbook_dir }}/result.json"
        mode: "0644"
        content: >-
          {{ {'info': info, 'good': good, 'wrong': wrong,
              'cn': info | certops.backend_tls.json_query('certificates[?!is_ca].subject_cn | [0]')} | to_json }}
""")
    proc = sh(BIN / "ansible-playbook", "-i", "localhost,", "-c", "local",
              "-e", "ansible_python_interpreter=%s" % (BIN / "python"), play / "site.yml", cwd=play,
              ANSIBLE_COLLECTIONS_PATH=installed)
    assert "changed=1" in proc.stdout and "failed=0" in proc.stdout, proc.stdout[-3000:]
    result = json.loads((play / "result.json").read_text())
    info, good, wrong = result["info"], result["good"], result["wrong"]
    assert result["cn"] == "pkg.example.test"
    assert leaf.fingerprint in {c["fingerprint_sha256"] for c in info["certificates"]}
    assert info["summary"]["errors"] == 0 and not info["changed"], info["summary"]
    assert good["valid"] is True and len(good["verified_chain"]) == 3, good["findings"]
    assert wrong["valid"] is False and "HOSTNAME_MISMATCH" in {f["code"] for f in wrong["findings"]}

    # The docs from the install: module (and where ansible found it), role.
    doc = sh(BIN / "ansible-doc", "certops.backend_tls.backend_cert_info", cwd=play,
             ANSIBLE_COLLECTIONS_PATH=installed).stdout
    assert "certops.backend_tls.backend_cert_info" in doc and "endpoints" in doc
    doc_json = json.loads(sh(BIN / "ansible-doc", "-j", "certops.backend_tls.backend_cert_info", cwd=play,
                             ANSIBLE_COLLECTIONS_PATH=installed).stdout)
    filename = doc_json["certops.backend_tls.backend_cert_info"]["doc"]["filename"]
    assert filename.startswith(str(coll)), filename
    role = sh(BIN / "ansible-doc", "-t", "role", "certops.backend_tls.cert_remediation", cwd=play,
              ANSIBLE_COLLECTIONS_PATH=installed).stdout
    assert "cert_remediation_mode" in role and "cert_remediation_report_dir" in role


def test_execution_environment_context(tree, tarball, work):
    """ansible-builder create: the context installs this collection, whose metadata brings its Python and system
    requirements; the Containerfile's galaxy and introspect steps, replayed here, find them."""
    context = work / "ee" / "context"
    sh(BIN / "ansible-builder", "create", "-f", tree / "execution-environment.yml", "-c", context,
       "--output-filename", "Containerfile", cwd=work)
    containerfile = (context / "Containerfile").read_text()
    definition = yaml.safe_load((tree / "execution-environment.yml").read_text())
    assert definition["version"] == 3
    assert "FROM %s" % "$EE_BASE_IMAGE" in containerfile
    assert 'EE_BASE_IMAGE="%s"' % definition["images"]["base_image"]["name"] in containerfile
    assert "ansible-galaxy collection install" in containerfile and "introspect.py introspect" in containerfile
    assert "ansible-core>=2.17,<2.20" in containerfile  # what meta/runtime.yml and requirements.txt accept
    build = context / "_build"
    galaxy = yaml.safe_load((build / "requirements.yml").read_text())
    source = build / galaxy["collections"][0]["name"]
    assert galaxy["collections"][0]["type"] == "dir" and (source / "galaxy.yml").is_file()
    meta = yaml.safe_load((source / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
    python_reqs = (source / "requirements.txt").read_text()
    assert re.search(r"^cryptography>=42", python_reqs, re.M) and re.search(r"^jmespath", python_reqs, re.M)
    system_reqs = [line.split()[0] for line in (source / "bindep.txt").read_text().splitlines()
                   if line.strip() and not line.startswith("#")]
    assert "openssl" in system_reqs
    assert not {"nginx", "apache2", "httpd", "haproxy"} & set(system_reqs)

    # The galaxy stage (WORKDIR /build: ansible-galaxy collection install -r requirements.yml), then introspect.
    ee_collections = work / "ee" / "usr-share-ansible-collections"
    sh(BIN / "ansible-galaxy", "collection", "install", "--offline", "-r", "requirements.yml",
       "--collections-path", ee_collections, cwd=build, ANSIBLE_COLLECTIONS_PATH=ee_collections)
    installed = ee_collections / "ansible_collections" / NAMESPACE / NAME
    ee_names = {p.relative_to(installed).as_posix() for p in installed.rglob("*") if p.is_file()}
    assert violations(ee_names) == []
    # The image carries what the tarball carries, but the tests and a developer's files.
    shipped = {n for n in members(tarball) if n.split("/")[0] not in DEV_ONLY and not DEV_ONLY_PATTERN.match(n)}
    assert sorted(shipped - ee_names) == [], "add these to execution-environment.yml's additional_build_files"
    out = sh(BIN / "ansible-builder", "introspect", ee_collections, cwd=work).stdout
    found = yaml.safe_load(out.split("---", 1)[1])
    python = [line.split("#")[0].strip() for line in found["python"]]
    system = [line.split("#")[0].strip() for line in found["system"]]
    assert all("from collection certops.backend_tls" in line for line in found["python"] + found["system"])
    assert "cryptography>=42.0.0" in python and any(p.startswith("jmespath") for p in python), python
    assert not [p for p in python if p.startswith("ansible-core")], python  # the EE definition chooses it
    assert "openssl" in system, system


def fragments_by_section(fragments_dir):
    out = {}
    for path in sorted(Path(fragments_dir).glob("*.y*ml")):
        for section, value in (yaml.safe_load(path.read_text()) or {}).items():
            entries = [value] if isinstance(value, str) else value
            out.setdefault(section, []).extend((path.name, e) for e in entries)
    return out


def rst_sections(text):
    """{section title: body} for the '-'-underlined sections of a generated CHANGELOG.rst."""
    heads = list(re.finditer(r"^(\S.*)\n-{3,}$", text, re.M))
    return {m.group(1): text[m.end():heads[i + 1].start() if i + 1 < len(heads) else len(text)]
            for i, m in enumerate(heads)}


def squash(text):
    return " ".join(text.split())


def test_changelog_fragments_lint_and_render(work):
    """antsibull-changelog lint passes, and a release (in a copy: it consumes the fragments) renders every
    fragment's text under its section; a fragment with an unknown section fails the lint."""
    copy = work / "changelog"
    files = [f for f in checkout_files() if f.split("/")[0] in ("changelogs", "plugins", "roles", "meta", "playbooks")]
    copy_tree(copy, files + ["galaxy.yml"])
    before = {p: hashlib.sha256((ROOT / p).read_bytes()).hexdigest() for p in files if p.startswith("changelogs/")}
    config = yaml.safe_load((copy / "changelogs" / "config.yaml").read_text())
    fragments = fragments_by_section(copy / "changelogs" / "fragments")
    assert fragments, "no changelog fragments"
    sh(BIN / "antsibull-changelog", "lint", cwd=copy)
    sh(BIN / "antsibull-changelog", "release", cwd=copy)

    rst = (copy / "changelogs" / config["changelog_filename_template"]).resolve()
    assert rst == copy / "CHANGELOG.rst"
    text = rst.read_text()
    assert "certops.backend\\_tls Release Notes" in text
    assert "v%s\n" % galaxy_version(copy) in text
    sections = rst_sections(text)
    titles = dict(config["sections"])
    for section, entries in fragments.items():
        assert section in titles, "%s: unknown section" % section
        body = squash(sections[titles[section]])
        missing = [(name, entry[:80]) for name, entry in entries if squash("- " + entry) not in body]
        assert missing == [], "not under %s: %s" % (titles[section], missing)
    # Every plugin whose version_added is this release is listed as new in it (antsibull-changelog reads the docs).
    version = galaxy_version(copy)
    new = [(path.stem, "New Modules" if path.suffix == ".py" else "New Plugins")
           for path in sorted((copy / "plugins").glob("*/*")) if path.suffix in (".py", ".yml")
           and re.search(r"^(  )?version_added: ['\"]?%s['\"]?$" % re.escape(version), path.read_text(), re.M)]
    assert new, "no plugin added in %s" % version
    for name, section in new:
        assert re.search(r"^- %s - " % name, sections[section], re.M), (name, section)
    # The release consumed the copy's fragments (keep_fragments: false) and recorded them in changelog.yaml.
    assert not list((copy / "changelogs" / "fragments").glob("*.yml"))
    assert galaxy_version(copy) in yaml.safe_load((copy / "changelogs" / "changelog.yaml").read_text())["releases"]
    after = {p: hashlib.sha256((ROOT / p).read_bytes()).hexdigest() for p in before}
    assert after == before, "the checkout's changelogs/ changed"

    broken = work / "changelog-broken"
    copy_tree(broken, [f for f in files if f.startswith("changelogs/")] + ["galaxy.yml"])
    (broken / "changelogs" / "fragments" / "zz-broken.yml").write_text("new_things:\n  - not a section\n")
    proc = sh(BIN / "antsibull-changelog", "lint", cwd=broken, check=False)
    assert proc.returncode != 0 and "zz-broken.yml" in proc.stdout + proc.stderr, proc.stdout + proc.stderr

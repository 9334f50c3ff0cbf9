"""cert_chain_verify on the controller runs inside Ansible's own process (its action plugin) where the module would
run there with the controller's own Python, and returns what the module returns; anywhere else the module runs.

Every case is run twice in one playbook run, the second time with a task environment (which makes the module run:
the environment is its process's), and the two registered results are compared whole. -vvv shows which path ran: a
module run transfers and runs AnsiballZ_cert_chain_verify.py, the action plugin runs none.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from testlib import pki
from testlib.ansible_run import run_playbook

VERIFY = "certops.backend_tls.cert_chain_verify"
MODULE_RUN = "AnsiballZ_cert_chain_verify.py"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    directory = tmp_path_factory.mktemp("inproc")
    ca = pki.CA("InProcess")
    good = ca.leaf("good.inproc.test")
    expired = ca.leaf("old.inproc.test", days=10, start_days=-40)
    pki.write(directory / "root.pem", ca.root.pem)
    pki.write(directory / "good-chain.pem", ca.chain_pem(good))
    pki.write(directory / "good.key", good.key_pem(), mode=0o600)
    # A negative serial: cryptography warns (CryptographyDeprecationWarning) as it parses it
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(directory / "neg.key"), "-out", str(directory / "neg.pem"), "-subj",
                    "/CN=neg.inproc.test", "-days", "30", "-set_serial", "-5"], check=True, capture_output=True)
    return {"dir": directory, "root": ca.root.pem, "good": ca.chain_pem(good), "good_key": good.key_pem(),
            "negative_serial": (directory / "neg.pem").read_text(),
            "expired": ca.chain_pem(expired), "leaf_only": good.pem, "other_key": ca.leaf("x.inproc.test").key_pem()}


# name -> the module's arguments (templated from the world's variables). The time is pinned, an hour on: two runs
# a few seconds apart must not see a leaf issued for whole days cross a day boundary.
AT = {"at": "+1h"}
CASES = {
    "single_valid": {**AT, "chain": "{{ good }}", "ca_content": "{{ root }}", "server_names": ["good.inproc.test"],
                     "key_content": "{{ good_key }}"},
    "single_by_relative_path": {**AT, "path": "good-chain.pem", "ca_path": "root.pem", "key_path": "good.key",
                                "min_days_remaining": 30},
    "batch_mixed": {**AT, "ca_content": "{{ root }}", "items": [
        {"name": "good", "chain": "{{ good }}", "server_names": ["good.inproc.test"]},
        {"name": "expired", "chain": "{{ expired }}", "server_names": ["old.inproc.test"]},
        {"name": "incomplete", "chain": "{{ leaf_only }}"},
        {"name": "wrong-name", "chain": "{{ good }}", "server_names": ["other.inproc.test"]},
        {"name": "wrong-key", "chain": "{{ good }}", "key_content": "{{ other_key }}"},
        {"name": "key-pasted", "chain": ["{{ leaf_only }}", "{{ other_key }}"]}]},
    "batch_compact_openssl": {**AT, "ca_content": "{{ root }}", "profile": "openssl", "compact": True, "items": [
        {"name": "good", "chain": "{{ good }}", "server_names": ["good.inproc.test"]},
        {"name": "expired", "chain": "{{ expired }}"}]},
    "anchors_only": {"items": [], "ca_path": "root.pem"},
    "fail_on_invalid": {**AT, "chain": "{{ expired }}", "ca_content": "{{ root }}", "fail_on_invalid": True},
    "unknown_option": {"chain": "{{ good }}", "bogus": 1},
    "bad_choice": {"chain": "{{ good }}", "profile": "browser"},
    "mutually_exclusive": {"chain": "{{ good }}", "path": "good-chain.pem"},
    "none_of_required": {"ca_content": "{{ root }}"},
    "int_overflow": {"chain": "{{ good }}", "min_days_remaining": "inf"},
    "not_an_int": {"chain": "{{ good }}", "min_rsa_bits": "many"},
    "key_in_chain": {"chain": "{{ leaf_only }}{{ other_key }}", "ca_content": "{{ root }}"},
    "ca_missing": {"chain": "{{ good }}", "ca_path": "absent.pem"},
    "chain_a_dict": {"chain": {"pem": "x"}},  # the type named is the module's (dict), not a tagged one of Ansible's
    "path_with_pwd": {**AT, "path": "$PWD/good-chain.pem", "ca_path": "root.pem"},  # PWD: the playbook's directory
    "negative_serial": {**AT, "chain": "{{ negative_serial }}"},  # no warning printed
}


def _tasks(environment=None):
    tasks = []
    for name, args in CASES.items():
        task = {"name": name, VERIFY: args, "register": "r_" + name, "ignore_errors": True}
        if environment:
            task["environment"] = environment
        tasks.append(task)
    return tasks


def _run(world, tmp_path, tasks, *, check=False, interpreter=None):
    saved = [{"name": "save", "check_mode": False, "ansible.builtin.copy": {
        "dest": str(tmp_path / "results.json"), "mode": "0600",
        "content": "{{ %s | to_json }}" % ("{%s}" % ", ".join("'%s': %s" % (t["name"], t["register"])
                                                              for t in tasks if "register" in t))}}]
    play = [{"name": "in process or not", "hosts": "localhost", "gather_facts": False, "tasks": tasks + saved}]
    # Relative paths are relative to the playbook's directory (where a local connection runs a module): this one
    # is the world's, and the tests run from another.
    playbook = world["dir"] / ("%s.yml" % tmp_path.name)
    playbook.write_text(json.dumps(play))
    args = ["-vvv"] + (["--check"] if check else [])
    if interpreter:
        args += ["-e", "ansible_python_interpreter=%s" % interpreter]
    variables = {k: v for k, v in world.items() if k != "dir"}
    proc = run_playbook(playbook, extra_vars=variables, args=args)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    return proc, json.loads((tmp_path / "results.json").read_text())


def _comparable(result):
    """A registered result without what only one path has: the module's `invocation` and Ansible's placeholder for
    a failed module without a traceback."""
    out = {k: v for k, v in result.items() if k != "invocation"}
    if out.get("exception") == "(traceback unavailable)":
        del out["exception"]
    return out


@pytest.mark.parametrize("check", [False, True], ids=["run", "check_mode"])
def test_in_process_results_equal_the_modules(world, tmp_path, check):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    inside, inside_results = _run(world, tmp_path / "a", _tasks(), check=check)
    module, module_results = _run(world, tmp_path / "b", _tasks({"CERTOPS_VERIFY": "as a module"}), check=check)
    assert MODULE_RUN not in inside.stdout, "the action plugin started a module process"
    assert "errantly sent data directly to stderr" not in inside.stdout + inside.stderr
    assert module.stdout.count(MODULE_RUN) >= len(CASES), "a task environment must run the module"
    for name in CASES:
        assert _comparable(inside_results[name]) == _comparable(module_results[name]), name
    # The cases say what they were built to say (so equal results are not equally empty).
    r = inside_results
    assert r["single_valid"]["valid"] and r["single_valid"]["findings"] == []
    assert [i["valid"] for i in r["batch_mixed"]["results"]] == [True, False, False, False, False, False]
    codes = {i["name"]: (i.get("error") or {}).get("code") or sorted({f["code"] for f in i["findings"]}) or None
             for i in r["batch_mixed"]["results"]}
    assert codes == {"good": None, "expired": ["EXPIRED"], "incomplete": ["INCOMPLETE_CHAIN"],
                     "wrong-name": ["HOSTNAME_MISMATCH"], "wrong-key": ["KEY_MISMATCH"],
                     "key-pasted": "INVALID_ARGUMENT"}, codes
    assert r["single_by_relative_path"]["valid"] and r["anchors_only"]["summary"]["items"] == 0
    assert r["batch_compact_openssl"]["profile"] == "openssl"
    assert r["fail_on_invalid"]["failed"] and r["fail_on_invalid"]["msg"].startswith("chain not valid: EXPIRED")
    for name in ("unknown_option", "bad_choice", "mutually_exclusive", "none_of_required", "int_overflow",
                 "not_an_int", "key_in_chain"):
        assert r[name]["failed"] and r[name]["error"]["code"] == "INVALID_ARGUMENT", (name, r[name])
    assert r["unknown_option"]["msg"].startswith("Unsupported parameters for (certops.backend_tls.cert_chain_verify)")
    assert r["int_overflow"]["msg"] == "min_days_remaining: not an integer (infinite or out of range)"
    assert r["key_in_chain"]["msg"] == "chain holds a private key; pass keys only as key_content/key_path"
    assert r["ca_missing"]["failed"] and r["ca_missing"]["error"]["code"] == "NOT_FOUND", r["ca_missing"]
    assert r["chain_a_dict"]["error"]["message"].endswith("not dict"), r["chain_a_dict"]
    assert r["path_with_pwd"]["valid"], r["path_with_pwd"]
    assert r["negative_serial"]["findings"], r["negative_serial"]
    # No key in anything either path returned (line by line, with syslog and -vvv: test_no_key_in_logs, both paths)
    for text in (world["good_key"], world["other_key"]):
        body = "".join(text.splitlines()[1:-1])
        for results in (inside_results, module_results):
            assert body not in json.dumps(results).replace("\\n", "")


def test_another_interpreter_runs_the_module(world, tmp_path):
    """The interpreter named for the host is not the one running Ansible (here: the same file reached from another
    directory, as a venv's base interpreter is): the module runs, with that interpreter."""
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "python3").symlink_to(os.path.realpath(sys.executable))
    tasks = [{"name": "single_valid", VERIFY: CASES["single_valid"], "register": "r_single_valid",
              "ignore_errors": True}]
    proc, results = _run(world, tmp_path, tasks, interpreter=str(other / "python3"))
    assert MODULE_RUN in proc.stdout and str(other / "python3") in proc.stdout
    assert "valid" in results["single_valid"] or results["single_valid"].get("failed"), results


def test_delegated_to_localhost_from_another_host_runs_in_process(world, tmp_path):
    """The role's form: a task of an inventory host, delegated to the controller."""
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {
        "backend-1": {"ansible_connection": "local", "ansible_python_interpreter": "/nonexistent/python"},
        "localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    play = [{"name": "delegated", "hosts": "backend-1", "gather_facts": False, "tasks": [
        {"name": "verify", VERIFY: CASES["single_valid"], "delegate_to": "localhost", "register": "r"},
        {"name": "check", "ansible.builtin.assert": {"that": ["r.valid", "r.findings == []"]}}]}]
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps(play))
    variables = {k: v for k, v in world.items() if k != "dir"}
    proc = run_playbook(playbook, extra_vars=variables, inventory=inventory, args=["-vvv"])
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert MODULE_RUN not in proc.stdout


def test_short_name_and_an_omitted_interpreter(world, tmp_path):
    """A play naming the module by its short name (`collections:`) gets the module's messages, which name it so; a
    host whose interpreter is omitted (`default(omit)`) is handed to the module, as ansible-core handles it (it
    discovers an interpreter: which one, and whether the module then runs, depends on the machine)."""
    play = [{"name": "short name", "hosts": "localhost", "gather_facts": False, "collections": ["certops.backend_tls"],
             "tasks": [
                 {"name": "in process", "cert_chain_verify": CASES["unknown_option"], "register": "inside",
                  "ignore_errors": True},
                 {"name": "module", "cert_chain_verify": CASES["unknown_option"], "register": "module",
                  "ignore_errors": True, "environment": {"CERTOPS_VERIFY": "as a module"}},
                 {"name": "same", "ansible.builtin.assert": {"that": [
                     "inside.msg == module.msg",
                     "inside.msg.startswith('Unsupported parameters for (cert_chain_verify)')"]}},
                 {"name": "omitted interpreter", "cert_chain_verify": CASES["single_valid"], "register": "omitted",
                  "delegate_to": "omitted-python", "ignore_errors": True},
                 {"name": "not the action's failure", "ansible.builtin.assert": {"that": [
                     "'Omit' not in omitted.msg | default('')"]}}]}]
    playbook = world["dir"] / "short-name.yml"
    playbook.write_text(json.dumps(play))
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {
        "localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "omitted-python": {"ansible_connection": "local",
                           "ansible_python_interpreter": "{{ certops_no_such_variable | default(omit) }}"}}}}))
    variables = {k: v for k, v in world.items() if k != "dir"}
    proc = run_playbook(playbook, extra_vars=variables, inventory=inventory, args=["-vvv"])
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    # the module ran for the task with an environment and for the omitted interpreter, and for nothing else
    assert len(re.findall(r"^<[^>]+> PUT .*%s" % re.escape(MODULE_RUN), proc.stdout, re.M)) == 2, proc.stdout[-3000:]

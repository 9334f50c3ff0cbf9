"""The lab: real servers on loopback showing LoadBalancerBackendCertificateError, started by command.

    python tests/lab/lab.py up [--dir DIR]      # CA, backends with faults, a verifying HAProxy LB
    python tests/lab/lab.py status [--dir DIR]  # the load balancer's view of each backend
    python tests/lab/lab.py down [--dir DIR]

An internal CA (root + intermediate) issues everything. The load balancer is HAProxy with
`ssl verify required ca-file <root> sni ... verifyhost ...` and health checks; four backends,
each its own inventory host, each with a different fault:

| backend | server | fault |
|---|---|---|
| shop | nginx | certificate expired |
| api | Apache | leaf served without its intermediate |
| edge | HAProxy | certificate for a name the load balancer does not ask for |
| blog | nginx | renewed on disk, never reloaded (serves the expired one) |

The CA also issues the renewed material into `<dir>/source/<site>/{cert,key,chain}.pem`, and
`<dir>/inventory.yml` describes the backends for the playbooks.

`up(dir, backends=pool(6))` builds another pool instead: backends that are healthy for the load balancer
(UP: valid chain, right name) but due for renewal (fewer days left than the role's default min_days),
server types taking turns nginx, Apache, HAProxy -- what a rolling renewal runs over.

`up(dir, backends=WITH_PLAIN_CA)` (`up --plain-ca`) adds a healthy backend `plain` whose certificate comes from a
second CA made the most common way, `openssl req -x509 -newkey rsa:2048 -nodes` (a root without keyUsage): the
load balancer's ca-file then holds both roots (`state["lb_ca_file"]`, also the inventory's
cert_remediation_ca_path), HAProxy marks it UP, and only a WebPKI client would reject it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from testlib import pki  # noqa: E402
from testlib.servers import Apache, HAProxy, Nginx, free_port, haproxy_stat, wait_port  # noqa: E402

ROOT = HERE.parents[1]
DEFAULT_DIR = ROOT / "build" / "lab"
DOMAIN = "lab.test"

BACKENDS = [
    {"name": "shop", "server_type": "nginx", "fault": "certificate expired"},
    {"name": "api", "server_type": "apache", "fault": "leaf served without its intermediate"},
    {"name": "edge", "server_type": "haproxy", "fault": "certificate for another name"},
    {"name": "blog", "server_type": "nginx", "fault": "renewed on disk, never reloaded"},
]

PLAIN_CA_BACKEND = {"name": "plain", "server_type": "nginx", "fault": "none (CA made by a plain openssl req -x509)",
                    "ca": "plain"}
WITH_PLAIN_CA = BACKENDS + [PLAIN_CA_BACKEND]

POOL_TYPES = ("nginx", "apache", "haproxy")
POOL_DAYS_LEFT = 10  # valid (the load balancer marks it UP) but fewer than cert_remediation_min_days (30)


def pool(count):
    """count healthy backends due for renewal, named pool1..poolN, server types taking turns."""
    return [{"name": "pool%d" % (i + 1), "server_type": POOL_TYPES[i % len(POOL_TYPES)], "fault": "expires soon"}
            for i in range(count)]


def plain_ca(directory, cn="Plain Lab Root CA"):
    """A private root made with a plain `openssl req -x509` (no keyUsage); it outlives the leaves it issues."""
    return pki.openssl_root(cn, directory)


def _server(backend, workdir, site):
    if backend["server_type"] == "nginx":
        return Nginx(workdir, [site])
    if backend["server_type"] == "apache":
        return Apache(workdir, [site])
    return HAProxy(workdir, [site])


def _files_for(server_type, leaf, chain_certs):
    """{relative name: (text, mode)} in the layout each server wants."""
    chain = "".join(c.pem for c in chain_certs)
    if server_type == "haproxy":
        return {"site.pem": (leaf.pem + chain + leaf.key_pem(), 0o600)}
    # nginx, and Apache >= 2.4.8: SSLCertificateFile holds leaf + intermediates (no separate chain file)
    return {"site.crt": (leaf.pem + chain, 0o644), "site.key": (leaf.key_pem(), 0o600)}


def _site_paths(server_type, certs):
    if server_type == "haproxy":
        return {"cert": str(certs / "site.pem"), "key": str(certs / "site.pem"), "chain": None}
    return {"cert": str(certs / "site.crt"), "key": str(certs / "site.key"), "chain": None}


def up(directory, backends=None):
    """Start the lab in directory: BACKENDS (one fault each) unless backends (e.g. pool(6)) says otherwise."""
    directory = Path(directory).resolve()
    if (directory / "state.json").exists():
        down(directory)
    directory.mkdir(parents=True, exist_ok=True)
    backends = BACKENDS if backends is None else backends
    ca = pki.CA("Lab")
    (directory / "ca").mkdir(exist_ok=True)
    ca.save(directory / "ca")  # tests issue faulty renewed material from it
    state = {"dir": str(directory), "ca_file": str(directory / "ca" / "root.pem"), "backends": []}
    state["lb_ca_file"] = state["ca_file"]  # what the load balancer trusts
    plain = None
    if any(b.get("ca") == "plain" for b in backends):
        plain = plain_ca(directory / "plain-ca")
        state["lb_ca_file"] = pki.write(directory / "lb-ca.pem", ca.root.pem + plain.pem)
    for backend in backends:
        name, server_type = backend["name"], backend["server_type"]
        fqdn = "%s.%s" % (name, DOMAIN)
        workdir = directory / name
        certs = workdir / "certs"
        certs.mkdir(parents=True, exist_ok=True)
        good_chain = [ca.intermediate]
        renewed, renewed_chain = ca.leaf(fqdn, days=90), good_chain
        if backend.get("ca") == "plain":  # healthy, issued straight from the plain root (served without it)
            served, chain = pki.issue(fqdn, issuer=plain), []
            renewed, renewed_chain = pki.issue(fqdn, issuer=plain), []
        elif backend.get("fault") == "expires soon":
            served, chain = ca.leaf(fqdn, days=POOL_DAYS_LEFT + 1), good_chain  # started yesterday
        elif name in ("shop", "blog"):
            served = ca.leaf(fqdn, days=30, start_days=-60)  # expired 30 days ago
            chain = good_chain
        elif name == "api":
            served, chain = ca.leaf(fqdn), []  # the intermediate is missing
        else:
            served, chain = ca.leaf("%s-old.%s" % (name, DOMAIN)), good_chain  # wrong name
        for rel, (text, mode) in _files_for(server_type, served, chain).items():
            pki.write(certs / rel, text, mode)
        source = directory / "source" / name
        source.mkdir(parents=True, exist_ok=True)
        pki.write(source / "cert.pem", renewed.pem)
        if renewed_chain:
            pki.write(source / "chain.pem", "".join(c.pem for c in renewed_chain))
        pki.write(source / "key.pem", renewed.key_pem(), 0o600)
        port = free_port()
        site = dict({"name": name, "port": port, "server_names": [fqdn]}, **_site_paths(server_type, certs))
        server = _server(backend, workdir / "server", site)
        server.start()
        if name == "blog":
            # Renewed on disk after the server loaded the old one: never reloaded.
            for rel, (text, mode) in _files_for(server_type, renewed, good_chain).items():
                pki.write(certs / rel, text, mode)
        paths = _site_paths(server_type, certs)
        state["backends"].append(dict(backend, fqdn=fqdn, port=port, conf=str(server.conf),
                                      pidfile=str(server.pidfile), cert_path=paths["cert"], key_path=paths["key"],
                                      chain_path=paths["chain"], test_command=server.test_command,
                                      reload_command=server.reload_command if server_type != "haproxy" else None,
                                      source=str(source), htdocs=str(getattr(server, "htdocs", "") or "")))
    state["lb"] = _start_lb(directory, state)
    (directory / "state.json").write_text(json.dumps(state, indent=2))
    _write_inventory(directory, state)
    return state


def _start_lb(directory, state):
    lb = directory / "lb"
    lb.mkdir(exist_ok=True)
    port = free_port()
    lines = ["global", "    stats socket %s/lb.sock mode 600 level admin" % lb, "",
             "defaults", "    mode http", "    timeout connect 2s", "    timeout client 5s", "    timeout server 5s",
             "", "frontend lb", "    bind 127.0.0.1:%d" % port]
    for backend in state["backends"]:
        lines.append("    use_backend be_%s if { hdr(host) -i %s }" % (backend["name"], backend["fqdn"]))
    for backend in state["backends"]:
        fqdn = backend["fqdn"]
        lines += ["", "backend be_%s" % backend["name"], "    option httpchk",
                  "    http-check send meth GET uri / ver HTTP/1.1 hdr Host %s" % fqdn,
                  "    server %s 127.0.0.1:%d ssl verify required ca-file %s sni str(%s) verifyhost %s "
                  "check check-ssl check-sni %s inter 500ms fall 1 rise 1" % (
                      backend["name"], backend["port"], state["lb_ca_file"], fqdn, fqdn, fqdn)]
    (lb / "haproxy.cfg").write_text("\n".join(lines) + "\n")
    os.system("haproxy -f %s -D -p %s" % (lb / "haproxy.cfg", lb / "haproxy.pid"))
    wait_port(port)
    return {"port": port, "socket": str(lb / "lb.sock"), "conf": str(lb / "haproxy.cfg"),
            "pidfile": str(lb / "haproxy.pid")}


def _write_inventory(directory, state):
    """One host per backend, local connection, explicit interpreter (no pyenv shim surprises)."""
    hosts = {}
    for b in state["backends"]:
        endpoint = {"host": "127.0.0.1", "port": b["port"], "server_name": b["fqdn"]}
        site = {"name": b["name"], "server_type": b["server_type"], "cert_path": b["cert_path"],
                "key_path": b["key_path"], "endpoint": endpoint, "server_names": [b["fqdn"]],
                "test_command": " ".join(b["test_command"])}
        if b["chain_path"]:
            site["chain_path"] = b["chain_path"]
        if b["reload_command"]:
            site["reload_command"] = " ".join(b["reload_command"])
        else:  # HAProxy: a new process takes over from the old one (-sf)
            site["reload_command"] = "haproxy -f %s -D -p %s -sf $(cat %s)" % (b["conf"], b["pidfile"], b["pidfile"])
        hosts["backend-" + b["name"]] = {"cert_remediation_sites": [site]}
    # The load balancer's own view drives the role (docs/lb-view.md#the-role): its CA file, the name its checks
    # verify, how it matches names. The declared CA path stays as the fallback for a backend it does not judge.
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"load_balancers": {"hosts": {"lb": dict(local)}},
                 "backends": {"hosts": hosts, "vars": dict(
                     local, cert_remediation_lb_hosts=["lb"], cert_remediation_lb_type=["haproxy"],
                     cert_remediation_lb_config={"haproxy": state["lb"]["conf"]},
                     cert_remediation_ca_path=state["lb_ca_file"],
                     cert_remediation_source_dir=str(directory / "source"),
                     cert_remediation_backup_dir=str(directory / "backups"),
                     cert_remediation_reload="command")}}
    (directory / "inventory.yml").write_text(json.dumps(inventory, indent=2) + "\n")


def load(directory):
    return json.loads((Path(directory) / "state.json").read_text())


def lb_view(directory):
    """[{backend, status, check}] from the load balancer's stats socket."""
    state = load(directory)
    rows = haproxy_stat(state["lb"]["socket"])
    out = []
    for row in rows:
        reason = row.get("last_chk") or row.get("check_desc") or ""
        # A check running now shows the last one's status prefixed with "* " (HAProxy's management guide, show
        # stat, check_status): the status is the last check's all the same.
        status = (row.get("check_status") or "").removeprefix("* ")
        out.append({"backend": row["svname"], "status": row["status"],
                    "check": ("%s: %s" % (status, reason)).strip(": ")})
    return out


def wait_view(directory, want, timeout=15.0):
    """Poll until every backend's status starts with want ('UP'/'DOWN') after a real check; returns the view.

    HAProxy shows a server it has not checked yet as UP with check INI: that is no answer yet.
    """
    deadline = time.monotonic() + timeout

    def settled(view):
        return all(v["status"].startswith(want) and not v["check"].startswith("INI") for v in view)

    view = lb_view(directory)
    while time.monotonic() < deadline and not settled(view):
        time.sleep(0.25)
        view = lb_view(directory)
    return view


def print_view(view):
    width = max(len(v["backend"]) for v in view)
    for v in view:
        print("  %-*s  %-5s  %s" % (width, v["backend"], v["status"], v["check"]))


def down(directory):
    directory = Path(directory)
    try:
        state = load(directory)
    except OSError:
        return
    pidfiles = [b["pidfile"] for b in state["backends"]] + [state["lb"]["pidfile"]]
    for pidfile in pidfiles:
        try:
            pids = Path(pidfile).read_text().split()
        except OSError:
            continue
        for pid in pids:
            try:
                os.kill(int(pid), 15)
            except (ProcessLookupError, ValueError):
                pass
    for b in state["backends"]:
        wait_port(b["port"], up=False, timeout=10)
        if b.get("htdocs"):
            shutil.rmtree(b["htdocs"], ignore_errors=True)
    (directory / "state.json").unlink()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "status", "down"])
    parser.add_argument("--dir", default=str(DEFAULT_DIR))
    parser.add_argument("--wait", choices=["UP", "DOWN"], help="with status: wait until every backend is so")
    parser.add_argument("--pool", type=int, metavar="N",
                        help="with up: N healthy backends due for renewal instead of the four faulty ones")
    parser.add_argument("--plain-ca", action="store_true",
                        help="with up: also a healthy backend whose CA was made by a plain openssl req -x509")
    args = parser.parse_args()
    if args.action == "up":
        backends = pool(args.pool) if args.pool else list(BACKENDS)
        state = up(args.dir, backends=backends + [PLAIN_CA_BACKEND] if args.plain_ca else backends)
        print("lab up in %s: %d backends behind the load balancer on 127.0.0.1:%d" % (
            args.dir, len(state["backends"]), state["lb"]["port"]))
    elif args.action == "status":
        try:
            print_view(wait_view(args.dir, args.wait) if args.wait else lb_view(args.dir))
        except OSError as exc:  # no state.json, or the load balancer's stats socket does not answer
            raise SystemExit("lab status: the lab in %s is not running (%s); start it with `make lab-up`" % (
                args.dir, exc))
    else:
        down(args.dir)
        print("lab down")


if __name__ == "__main__":
    main()

"""The `lb200` bench case (issue 10): lb_backend_info on a load balancer with 200 TLS backends, in one module run.

Built once, outside the timed part: a CA (root + intermediate) and 200 backends with distinct names and keys (EC
P-256, every tenth RSA 2048), in mixed states -- most valid, some expired, serving a certificate for another name,
serving no intermediate, issued by a CA the load balancer does not trust, speaking only TLS 1.3 behind a pool pinned
to `ssl-max-ver TLSv1.2`, and down (a port bound by no listener: refused). One real nginx serves them all (one
`server` block on its own loopback port each); one real HAProxy (started, health-checking every backend) has them as
200 `server` lines in four backend sections, with `ssl verify required ca-file ... sni str(...) check-sni ... check`
coming partly from `default-server` lines (a defaults section, a backend's own) and partly from each server line.

Timed: `ansible-playbook` of one `lb_backend_info` task (lb_type haproxy, that config; as the role reads it: each
certificate's PEM once, no `chain_pem`, which lb_verify_items does not need) whose
`failed_when` checks every run's summary (200 backends, the expected probe error codes), alternating with the ping
playbook of the floor, so that each pair sees the same load on a shared machine. Checked once outside the
timing, on a full result: every backend found with its pool, port, SNI and trust anchor; the leaf it served is the one
built for it, with or without the intermediate; cert_chain_verify over the served chains gives each backend the
failure code built in; and HAProxy's own health checks mark exactly the failing backends DOWN.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
import socket
import ssl
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: testlib, when run by itself
from testlib import pki
from testlib.ansible_run import COLLECTIONS, run_module
from testlib.servers import HAProxyLB, ProtocolBackends, free_ports, haproxy_stat

DOMAIN = "lb200.test"
# pool -> (number of servers, how its servers get their TLS settings)
POOLS = (("be_web", 90, "defaults"), ("be_api", 60, "defaults"), ("be_legacy", 20, "defaults, ssl-max-ver"),
         ("be_static", 30, "server line"))
# failure kind -> how many backends (the rest are valid); tls13only only in be_legacy (its ssl-max-ver TLSv1.2)
FAILURES = {"expired": 8, "wrongname": 6, "nointermediate": 6, "unknownca": 5, "tls13only": 3, "down": 2}
# what each kind gives: the module's probe error code, or cert_chain_verify's error code on the served chain
PROBE_CODE = {"tls13only": "NO_COMMON_PROTOCOL", "down": "CONNECTION_REFUSED"}
VERIFY_CODE = {"expired": "EXPIRED", "wrongname": "HOSTNAME_MISMATCH", "nointermediate": "INCOMPLETE_CHAIN",
               "unknownca": "UNTRUSTED_ROOT"}


def plan(count=200, seed=10):
    """[{name, pool, kind}] for `count` backends: the failure kinds placed at fixed pseudo-random positions."""
    total = sum(size for _pool, size, _how in POOLS)
    assert total == count, "POOLS hold %d servers, not %d" % (total, count)
    backends = []
    for pool, size, _how in POOLS:
        for index in range(size):
            name = "%s-%03d" % (pool[3:], index)
            backends.append({"name": name, "pool": pool, "kind": "valid", "fqdn": "%s.%s" % (name, DOMAIN)})
    rng = random.Random(seed)
    legacy = [i for i, b in enumerate(backends) if b["pool"] == "be_legacy"]
    for i in rng.sample(legacy, FAILURES["tls13only"]):
        backends[i]["kind"] = "tls13only"
    free = [i for i, b in enumerate(backends) if b["kind"] == "valid"]
    picks = rng.sample(free, sum(n for kind, n in FAILURES.items() if kind != "tls13only"))
    for kind, number in FAILURES.items():
        if kind == "tls13only":
            continue
        for i in picks[:number]:
            backends[i]["kind"] = kind
        picks = picks[number:]
    return backends


class BenchLB(HAProxyLB):
    """The test library's HAProxy load balancer (our own daemon, stopped by its pid), waiting for its checks."""

    def settled_stat(self, wait=30):
        """{server: status} once every server was checked and two polls agree."""
        deadline, last = time.monotonic() + wait, None
        while True:
            stat = {r["svname"]: (r["status"], r["check_status"]) for r in haproxy_stat(self.socket)}
            settled = all(not s[1].startswith(("INI", "*")) for s in stat.values())
            if (settled and stat == last) or time.monotonic() > deadline:
                return {name: s[0] for name, s in stat.items()}
            last = stat
            time.sleep(0.5)


def haproxy_config(backends, ca_dir, socket_path, ca_file):
    """haproxy.cfg: four backend sections; be_web, be_api and be_legacy take ssl/verify/ca-file/check from the
    defaults section's default-server (be_legacy adds its own `default-server ssl-max-ver TLSv1.2`), be_static
    inherits a named defaults section without default-server and says everything on each server line."""
    lines = ["global", "    stats socket %s mode 600 level admin" % socket_path, "    ca-base %s" % ca_dir,
             "    maxconn 4096", "",
             "defaults plain", "    mode http", "    timeout connect 2s", "    timeout client 5s",
             "    timeout server 5s", "",
             "defaults tls from plain",
             "    default-server ssl verify required ca-file %s check fall 1 rise 1" % Path(ca_file).name, ""]
    for pool, _size, how in POOLS:
        members = [b for b in backends if b["pool"] == pool]
        lines.append("backend %s%s" % (pool, " from plain" if how == "server line" else ""))
        lines.append("    balance roundrobin")
        if pool == "be_web":
            lines.append("    option httpchk GET /")
        if pool == "be_legacy":
            lines.append("    default-server ssl-max-ver TLSv1.2")
        for b in members:
            names = "sni str(%(fqdn)s) check-sni %(fqdn)s" % b
            if how == "server line":
                lines.append("    server %s 127.0.0.1:%d ssl verify required ca-file %s %s check fall 1 rise 1"
                             % (b["name"], b["port"], ca_file, names))
            else:
                lines.append("    server %s 127.0.0.1:%d %s" % (b["name"], b["port"], names))
        lines.append("")
    return "\n".join(lines)


def high_ports(count):
    """`count` free loopback ports above the kernel's ephemeral range (where no outgoing connection of another
    process on this machine takes one between now and nginx's bind, as happened with free_port()), from a
    random start; free_ports() for the rest if that range is too small."""
    try:
        top = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        top = 60999
    candidates = list(range(top + 1, 65536))
    start = random.randrange(len(candidates)) if candidates else 0
    ports = []
    for port in candidates[start:] + candidates[:start]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    return ports + free_ports(count - len(ports))  # inside the ephemeral range: never one of the ports above


def build(work, count=200):
    """Certificates and keys on disk. Returns (backends (plan() with port and served leaf's fingerprint), nginx
    sites, CA, CA directory, the LB's CA file (the root), sockets holding the ports of the down backends)."""
    ca, stranger = pki.CA("LB200", key_slot="lb200-ca"), pki.CA("Stranger", key_slot="lb200-stranger")
    certdir = work / "lb200-certs"
    certdir.mkdir(parents=True)
    ca_dir = work / "lb200-ca"
    ca_dir.mkdir()
    ca_file = pki.write(ca_dir / "lb200-ca.pem", ca.root.pem)  # the LB trusts the root; backends send the rest
    backends = plan(count)
    ports, sites, reserved = high_ports(count), [], []
    for index, backend in enumerate(backends):
        kind = backend["kind"]
        backend["port"] = port = ports[index]
        if kind == "down":  # a port bound but not listening: the kernel refuses connections to it, nobody takes it
            sock = socket.socket()
            sock.bind(("127.0.0.1", port))
            reserved.append(sock)
            continue
        key = pki.new_key("rsa", 2048) if index % 10 == 0 else pki.new_key()
        issuer = stranger if kind == "unknownca" else ca
        names = ["other-%s" % backend["fqdn"]] if kind == "wrongname" else [backend["fqdn"]]
        dates = {"days": 30, "start_days": -60} if kind == "expired" else {}
        leaf = issuer.leaf(names[0], names=names, key=key, **dates)
        backend["leaf"] = leaf.fingerprint
        chain = leaf.pem if kind == "nointermediate" else issuer.chain_pem(leaf)
        sites.append({"name": backend["name"], "port": port, "fqdn": backend["fqdn"],
                      "cert": pki.write(certdir / ("%s.crt" % backend["name"]), chain),
                      "key": pki.write(certdir / ("%s.key" % backend["name"]), pki.Issued(None, key).key_pem(),
                                       mode=0o600),
                      "protocols": "TLSv1.3" if kind == "tls13only" else "TLSv1.2 TLSv1.3"})
    return backends, sites, ca, ca_dir, ca_file, reserved


def expected_probe_codes(backends):
    codes = {}
    for b in backends:
        if b["kind"] in PROBE_CODE:
            codes[PROBE_CODE[b["kind"]]] = codes.get(PROBE_CODE[b["kind"]], 0) + 1
    return codes


def _verify_in_process(args):
    """cert_chain_verify's main() in this process (its argument is too large for a command line)."""
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.certops.backend_tls.plugins.modules import cert_chain_verify

    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out):
        try:
            cert_chain_verify.main()
        except SystemExit:
            pass
    result = json.loads(out.getvalue())
    if result.get("failed"):
        raise SystemExit("lb200: cert_chain_verify failed: %s" % result.get("msg"))
    return result


def check_result(result, backends, ca, ca_file):
    """The whole result, checked against what was built; returns {code: count} over probes and chain verdicts."""
    if result.get("failed"):
        raise SystemExit("lb200: lb_backend_info failed: %s" % result.get("msg"))
    problems = []
    items = {i["server"]: i for i in result["lb_backends"]}
    if len(result["lb_backends"]) != len(backends) or set(items) != {b["name"] for b in backends}:
        raise SystemExit("lb200: %d backends found, %d built" % (len(result["lb_backends"]), len(backends)))
    root = ca.root.fingerprint
    batch = []
    for b in backends:
        item, kind = items[b["name"]], b["kind"]
        endpoint = item["endpoint"] or {}
        origin = "server" if b["pool"] == "be_static" else "default-server"
        want = {"pool": b["pool"], "port": b["port"], "tls": True, "verify": True, "verify_origin": origin,
                "sni": b["fqdn"], "verify_name": b["fqdn"], "ca_file": ca_file, "ca_fingerprints": [root],
                "max_version": "TLSv1.2" if b["pool"] == "be_legacy" else None, "error": None}
        got = {k: item[k] for k in want}
        if got != want:
            problems.append("%s: %s != %s" % (b["name"], got, want))
        code = (endpoint.get("error") or {}).get("code")
        if code != PROBE_CODE.get(kind) or endpoint.get("server_name") != b["fqdn"]:
            problems.append("%s (%s): probe %s" % (b["name"], kind, endpoint))
            continue
        if kind == "down":
            continue
        chain = endpoint.get("chain") or []
        if chain[:1] != [b["leaf"]] or len(chain) != (1 if kind == "nointermediate" else 2) or \
                len(endpoint.get("chain_pem") or []) != len(chain):
            problems.append("%s (%s): served chain %s, built leaf %s" % (b["name"], kind, chain, b["leaf"]))
            continue
        batch.append({"name": b["name"], "chain": endpoint["chain_pem"], "server_names": [item["verify_name"]]})
    if problems:
        raise SystemExit("lb200: result differs from what was built:\n%s" % "\n".join(problems[:10]))
    verdicts = {r["name"]: r for r in _verify_in_process({"items": batch, "ca_path": ca_file})["results"]}
    codes = dict(result["summary"]["error_codes"])
    for b in backends:
        if b["name"] not in verdicts:
            continue
        errors = {f["code"] for f in verdicts[b["name"]]["findings"] if f["severity"] == "error"}
        wanted = VERIFY_CODE.get(b["kind"])
        if verdicts[b["name"]]["valid"] != (wanted is None) or (wanted and wanted not in errors):
            problems.append("%s (%s): verdict %s %s" % (b["name"], b["kind"], verdicts[b["name"]]["valid"], errors))
        if wanted:
            codes[wanted] = codes.get(wanted, 0) + 1
    if problems:
        raise SystemExit("lb200: chain verdicts differ from what was built:\n%s" % "\n".join(problems[:10]))
    return codes


def start(work, count=200):
    """Build everything and start nginx and HAProxy. Returns (backends, ca, ca_file, nginx, haproxy, reserved);
    stop with stop()."""
    backends, sites, ca, ca_dir, ca_file, reserved = build(work, count)
    lb_dir = work / "lb200-haproxy"
    lb_dir.mkdir()
    nginx = ProtocolBackends(work / "lb200-nginx", sites)
    haproxy = BenchLB(lb_dir, haproxy_config(backends, ca_dir, lb_dir / "lb.sock", ca_file))
    try:
        nginx.start()
        haproxy.start()
    except BaseException:
        stop(nginx, haproxy, reserved)
        raise
    return backends, ca, ca_file, nginx, haproxy, reserved


def stop(nginx, haproxy, reserved):
    """Stop what start() started (each by its own pid file) and free the reserved ports."""
    try:
        haproxy.stop()
    finally:
        try:
            nginx.stop()
        finally:
            for sock in reserved:
                sock.close()


def module_args(haproxy):
    return {"lb_type": ["haproxy"], "config": {"haproxy": str(haproxy.conf)}, "chain_pem": True}


def bench_lb(work, runs, floor, playbook, timed_against, timing, count=200):
    """Rows of the lb200 case -- one lb_backend_info run over `count` backends behind one real HAProxy -- and a note
    with the issue's ratio, the time beyond the floor over the floor.

    The ping playbook and the lb200 playbook run alternately (one warm-up each, then `runs` pairs) while HAProxy
    health-checks the backends, so that both see the same machine: on a shared machine the load moves between a
    floor timed at the start of the bench and a case timed minutes later. The ratio is given per pair (its median,
    fastest and slowest pair), and against the bench's first floor too."""
    from run_bench import least_note, least_probe_playbook

    backends, ca, ca_file, nginx, haproxy, reserved = start(work, count)
    failing = {b["name"] for b in backends if b["kind"] != "valid"}
    try:
        codes = check_result(run_module("lb_backend_info", module_args(haproxy)), backends, ca, ca_file)
        built = {PROBE_CODE.get(k) or VERIFY_CODE[k]: n for k, n in FAILURES.items()}
        if codes != built:
            raise SystemExit("lb200: failure codes %s, built %s" % (codes, built))
        says = haproxy.settled_stat()
        down = {name for name, status in says.items() if status != "UP"}
        if down != failing or len(says) != count:
            raise SystemExit("lb200: HAProxy marks DOWN %s, built to fail %s" % (
                sorted(down ^ failing), sorted(failing)))
        task = (
            "    - name: The load balancer's view of its %(n)d backends\n"
            "      certops.backend_tls.lb_backend_info:\n"
            "        lb_type: [haproxy]\n"
            "        config: {haproxy: %(cfg)s}\n"
            "      register: lb\n"
            "      failed_when: 'lb.summary.backends != %(n)d or lb.summary.probed != %(n)d"
            " or lb.summary.error_codes != %(codes)s'\n"
            % {"n": count, "cfg": haproxy.conf, "codes": json.dumps(expected_probe_codes(backends))})
        ping = playbook(work, "lb200_floor", "    - name: Ping\n      ansible.builtin.ping:\n")
        lb = playbook(work, "lb200", task)
        seconds = timed_against(lb, ping, runs)  # run_bench.alternating: one warm-up each, then `runs` pairs
        least = timed_against(least_probe_playbook(work, "lb200_least", [
            {"host": "127.0.0.1", "port": b["port"], "server_name": b["fqdn"]} for b in backends]), ping, runs)
    finally:
        stop(nginx, haproxy, reserved)
    pairs = seconds.pairs
    near_floor = timing([p[0] for p in pairs])
    ratios = sorted((lb - ping) / ping for ping, lb in pairs)
    label = ("lb_backend_info, %d backends behind one HAProxy (4 pools; %d valid, %s), one task"
             % (count, count - len(failing), ", ".join("%d %s" % (n, k) for k, n in FAILURES.items())))
    rows = [("playbook floor, runs alternating with the next two rows' (HAProxy health-checking the %d backends)"
             % count, near_floor, None), (label + " (x the row above)", seconds, near_floor),
            ("the least a module can do for the same %d backends: the handshakes and the served chains back, nothing "
             "else (tests/bench/least_probe.py, not the collection; x the floor above)" % count, least, near_floor)]
    note = ("lb200 (issue 10: at most 0.5): beyond the floor / the floor, per pair of alternating runs: median "
            "%.2f (fastest-slowest pair %.2f-%.2f, %d pairs); medians against the bench's first floor (%.2f s): %.2f."
            % (statistics.median(ratios), ratios[0], ratios[-1], len(pairs), floor, (seconds - floor) / floor))
    return rows, note + " " + least_note("lb200", seconds, least)


def compile_from_zip(work, runs=5):
    """Print what compiling the collection's module_utils costs a module process: AnsiballZ ships them as source in
    a zip, and Python's zipimport (3.11, as measured here) compiles a module's source once to find its spec
    (zipimporter.get_filename) and again to run it; no bytecode is cached. The modules are the ones the
    lb_backend_info payload imports for a HAProxy load balancer (the module's own file aside)."""
    import subprocess
    import zipfile

    archive = work / "module_utils.zip"
    utils = COLLECTIONS / "ansible_collections/certops/backend_tls/plugins/module_utils"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for package in ("ansible_collections", "ansible_collections/certops", "ansible_collections/certops/backend_tls",
                        "ansible_collections/certops/backend_tls/plugins", utils.relative_to(COLLECTIONS).as_posix()):
            zipped.writestr(package + "/__init__.py", "")  # as AnsiballZ makes them
        for path in sorted(utils.glob("_*.py")):
            zipped.write(path, path.relative_to(COLLECTIONS).as_posix())
    code = ("import builtins, sys, time, collections\n"
            "real, spent = builtins.compile, collections.defaultdict(lambda: [0, 0.0])\n"
            "def compile(source, filename, *args, **kwargs):\n"
            "    begun = time.perf_counter()\n"
            "    try:\n"
            "        return real(source, filename, *args, **kwargs)\n"
            "    finally:\n"
            "        spent[str(filename)][0] += 1\n"
            "        spent[str(filename)][1] += time.perf_counter() - begun\n"
            "builtins.compile = compile\n"
            "sys.path.insert(0, sys.argv[1])\n"
            "from ansible_collections.certops.backend_tls.plugins.module_utils import _infomodule, _lbview, "
            "_lbview_haproxy\n"
            "for name, (count, seconds) in spent.items():\n"
            "    if '/module_utils/_' in name and not name.endswith('__init__.py'):\n"
            "        print(name.rsplit('/', 1)[-1], count, seconds)\n")
    per = {}
    for _run in range(runs):
        out = subprocess.run([sys.executable, "-c", code, str(archive)], capture_output=True, text=True, check=True,
                             env={"PATH": "/usr/bin:/bin"}).stdout
        for line in out.splitlines():
            name, count, seconds = line.split()
            per.setdefault(name, []).append((int(count), float(seconds)))
    medians = {name: statistics.median(s for _c, s in values) for name, values in per.items()}
    files = ", ".join("%s %.1f ms x%d" % (name, 1000 * medians[name], per[name][0][0])
                      for name in sorted(medians, key=medians.get, reverse=True))
    print("compiling lb_backend_info's module_utils from a zip, as AnsiballZ runs them: %.3f s (median of %d), %s"
          % (sum(medians.values()), runs, files))


def _variant_playbooks(work, haproxy):
    """(the ping playbook, case_of(name, extra option lines) -> a playbook of the lb200 task with those options)."""
    import run_bench

    base = "    - certops.backend_tls.lb_backend_info:\n        lb_type: [haproxy]\n        config: {haproxy: %s}\n" % (
        haproxy.conf)
    ping = run_bench.playbook(work, "variants_floor", "    - name: Ping\n      ansible.builtin.ping:\n")
    return ping, lambda name, extra: run_bench.playbook(work, name, base + extra)


def playbook_variants(work, haproxy, runs=5):
    """Print the lb200 task's cost beyond the floor (per alternating pair, wall and CPU) as it is, with
    `probe: false` (the module's start, imports and configuration reading: no backend probed) and with
    `query: summary` (a small result for the controller to take in): where the playbook's time goes."""
    import run_bench

    ping, case_of = _variant_playbooks(work, haproxy)
    for label, extra in (("as the bench runs it", ""), ("probe: false", "        probe: false\n"),
                         ("query: summary", "        query: summary\n")):
        case = case_of("variant", extra)
        walls, cpus = run_bench.pair_ratios(run_bench.timed_against(case, ping, runs))
        walls, cpus = [r - 1 for r in walls], [r - 1 for r in cpus] or [float("nan")]
        print("playbook, lb_backend_info %-22s beyond the floor / the floor: wall %.2f (%.2f-%.2f), CPU %.2f "
              "(%.2f-%.2f), %d pairs" % (label, statistics.median(walls), walls[0], walls[-1],
                                         statistics.median(cpus), cpus[0], cpus[-1], len(walls)))


def playbook_phases(work, haproxy, runs=5):
    """Print where the lb200 task's time goes phase by phase (tests/bench/phases.py), against the ping playbook:
    the payload built on the controller, the module's process, the main process; as benched and with
    `probe: false`."""
    import phases

    from testlib.ansible_run import env

    ping, case_of = _variant_playbooks(work, haproxy)
    books = {"ping": ping, "lb200": case_of("phases_lb", ""),
             "probe: false": case_of("phases_noprobe", "        probe: false\n")}
    print("\n".join(phases.table(phases.measure(books, runs, env()), "ping")))


def profile(work, runs=5, only=None):
    """Where the module's time goes, with the lb200 world up: printed (only: just these sections of it)."""
    import subprocess

    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.certops.backend_tls.plugins.module_utils import _collect, _lbview, _probe
    from ansible_collections.certops.backend_tls.plugins.modules import lb_backend_info

    backends, _ca, _ca_file, nginx, haproxy, reserved = start(work)
    try:
        if only == "phases":
            playbook_phases(work, haproxy, runs)
            return
        # 1. the module process's imports (collection source compiled, as from AnsiballZ's zip)
        code = ("import time; t = time.monotonic(); import ansible.module_utils.basic; b = time.monotonic(); "
                "from ansible_collections.certops.backend_tls.plugins.module_utils import _lbview, _lbview_haproxy; "
                "print('%.3f %.3f' % (b - t, time.monotonic() - b))")
        pairs = [subprocess.run([sys.executable, "-B", "-c", code], capture_output=True, text=True, check=True,
                                env={"PYTHONPATH": str(COLLECTIONS), "PATH": "/usr/bin:/bin"}).stdout.split()
                 for _run in range(runs)]
        print("imports: ansible.module_utils.basic %.3f s, then the collection (_lbview and its HAProxy parser, "
              "cryptography) %.3f s"
              % (statistics.median(float(p[0]) for p in pairs), statistics.median(float(p[1]) for p in pairs)))
        compile_from_zip(work, runs)

        playbook_variants(work, haproxy, runs)
        playbook_phases(work, haproxy, runs)

        # 2. main() in this process, by phase; client-side CPU of every probe() call (its thread's CPU time)
        phases, cpu = {}, []

        def wrap(owner, name):
            original = getattr(owner, name)

            def timed_call(*args, **kwargs):
                begun = time.monotonic()
                try:
                    return original(*args, **kwargs)
                finally:
                    phases[name] = phases.get(name, 0.0) + time.monotonic() - begun
            setattr(owner, name, timed_call)
            return original

        originals = [(owner, name, wrap(owner, name)) for owner, name in (
            (_lbview, "lb_backends"), (_lbview, "_anchors"), (_probe, "probe_many"),
            (_collect.Collector, "endpoint_entry"), (lb_backend_info.InfoModule, "exit_info"))]
        bare_probe = _probe.probe

        def probe(*args, **kwargs):
            begun = time.thread_time()
            try:
                return bare_probe(*args, **kwargs)
            finally:
                cpu.append(time.thread_time() - begun)
        _probe.probe = probe
        try:
            walls, sizes = [], []
            for _run in range(runs):
                out = io.StringIO()
                begun = time.monotonic()
                with patch_module_args(module_args(haproxy)), contextlib.redirect_stdout(out):
                    try:
                        lb_backend_info.main()
                    except SystemExit:
                        pass
                walls.append(time.monotonic() - begun)
                sizes.append(len(out.getvalue()))
        finally:
            _probe.probe = bare_probe
            for owner, name, original in originals:
                setattr(owner, name, original)
        print("main() in-process: %.3f s median of %d (%.3f-%.3f), result %d bytes" % (
            statistics.median(walls), runs, min(walls), max(walls), sizes[0]))
        for name, total in phases.items():
            print("  %-15s %.3f s per run" % (name, total / runs))
        print("  probe() client CPU: %.2f ms per call (%d calls per run)" % (
            1000 * sum(cpu) / len(cpu), len(cpu) // runs))

        # 3. client CPU per backend, serially, rounds interleaved: the bare handshake (a stdlib context like the
        # probe's: no CA store, DEFAULT ciphers, the served chain read) against probe(), and probe() without its
        # resolver thread (the address is an IP literal) and without its TLS message callback
        kinds = {b["name"]: b["kind"] for b in backends}
        items = _lbview.lb_backends("haproxy", str(haproxy.conf))
        targets = [_lbview.probe_target(i) for i in items if kinds[i["server"]] not in ("down", "tls13only")]
        bare = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        bare.check_hostname, bare.verify_mode = False, ssl.CERT_NONE
        bare.set_ciphers("DEFAULT")
        settings = {"min_version": None, "max_version": None, "ciphers": None}
        context, quiet = _probe.client_context(lb_settings=settings), _probe.client_context(lb_settings=settings)
        quiet._msg_callback, quiet.watching = None, False
        resolve, method = _probe._resolve, _probe.chain_method()

        def handshake(target):
            with socket.create_connection((target["host"], target["port"]), timeout=5) as sock:
                with bare.wrap_socket(sock, server_hostname=target["server_name"]) as tls:
                    _probe._served_chain(tls, method)
                    tls.version()

        def module_probe(target, ctx=context):
            _probe.probe(target["host"], target["port"], server_name=target["server_name"], timeout=5, context=ctx)

        def inline(target):
            _probe._resolve = lambda host, port, _deadline: socket.getaddrinfo(
                host, port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
            try:
                module_probe(target, quiet)
            finally:
                _probe._resolve = resolve

        calls = (("bare ssl handshake", handshake), ("_probe.probe", module_probe),
                 ("_probe.probe, no resolver thread, no message callback", inline))
        per = {label: [] for label, _call in calls}
        for _run in range(runs):
            for label, call in calls:
                begun = time.thread_time()
                for target in targets:
                    call(target)
                per[label].append(1000 * (time.thread_time() - begun) / len(targets))
        for label, values in per.items():
            print("serial, client CPU per backend (this thread): %-55s %.2f ms (%.2f-%.2f)" % (
                label, statistics.median(values), min(values), max(values)))

        # 4. probe_many's wall time by concurrency
        all_targets = [_lbview.probe_target(i) for i in items]
        for concurrency in (1, 2, 4, 8, 16, 32, 64):
            per = []
            for _run in range(runs):
                begun = time.monotonic()
                _probe.probe_many(all_targets, timeout=5, concurrency=concurrency)
                per.append(time.monotonic() - begun)
            print("probe_many, concurrency %2d: %.3f s (%.3f-%.3f)" % (
                concurrency, statistics.median(per), min(per), max(per)))
    finally:
        stop(nginx, haproxy, reserved)


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description="lb200: print the plan, or --profile where the module's time goes "
                                                 "(--phases: only the playbook runs' phases)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--phases", action="store_true",
                        help="only the phases of the playbook runs (tests/bench/phases.py), not the whole profile")
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    if options.profile or options.phases:
        directory = Path(tempfile.mkdtemp(prefix="certops-lb200-"))
        try:
            profile(directory, options.runs, only="phases" if options.phases else None)
        finally:
            shutil.rmtree(str(directory), ignore_errors=True)
    else:
        for backend in plan():
            print(backend["pool"], backend["name"], backend["kind"])

#!/usr/bin/env python3
"""Faults as tests: the production topology on one machine, under fire.

Every service in its own `nakku serve --service X` process (order and inventory twice),
the gateway in its own, MariaDB, a Kafka-protocol broker (tansu), Redis; the broker, Redis
and the order service's database are reached through TCP proxies the suite can cut. For each fault, `nakku simulate` places orders
through the gateway while the fault is applied and lifted; then `nakku verify` reads the
promises from the databases themselves. One row per fault:

  fault | placed | confirmed | delivered | cancelled | failed | refused | stuck | undelivered |
  errors | seconds | simulate | verify | health (what /health showed during an outage)

With --moto PATH (moto's moto_server) the broker keeps its log in S3 on moto, topics get one
partition, and a row stops the broker for 30 s and starts it again.

Needs: NAKKU_TEST_MYSQL_URL (mysql://root@127.0.0.1:3306), NAKKU_TEST_REDIS_URL
(redis://127.0.0.1:6379); installs tansu (scripts/kafka.sh install). Usage: scripts/faults.py
[--nakku target/debug/nakku] [--orders N] [--only NAME,...] [--repeat N] [--moto PATH]
Exits 1 if any fault breaks a promise (simulate or verify fails).
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICES = ["user", "product", "inventory", "order", "cart", "payment", "delivery",
            "notification", "location", "analytics"]
BASE_PORT = int(os.environ.get("FAULTS_PORT", "28080"))
PORTS = {"gateway": BASE_PORT, **{s: BASE_PORT + 1 + i for i, s in enumerate(SERVICES)}}
SECOND = {"order": BASE_PORT + 20, "inventory": BASE_PORT + 21}  # second instances
KAFKA_PORT = BASE_PORT + 30  # the proxy clients use
KAFKA_REAL_PORT = BASE_PORT + 31
REDIS_PROXY_PORT = BASE_PORT + 32
DB_PROXY_PORT = BASE_PORT + 33
MOTO_PORT = BASE_PORT + 34  # the S3 server of a durable broker (--moto)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def wait_port(port, secs=30):
    deadline = time.time() + secs
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def http_ok(url, timeout=2):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return 200 <= r.status < 300
    except Exception:
        return False


class Proxy:
    """A TCP proxy whose link can be cut: `up` forwards, `slow` forwards each chunk after
    `DELAY` seconds (a congested link), `down` refuses new connections and cuts the open
    ones (a host gone; a transaction in flight is cut half-way), `blackhole` accepts and
    forwards nothing (packets dropped: the client waits for its timeouts)."""

    DELAY = 0.05

    def __init__(self, listen, target):
        self.target = target
        self.state = "up"
        self.conns = []
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", listen))
        self.srv.listen(256)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            if self.state == "down":
                c.close()
                continue
            if self.state == "blackhole":
                with self.lock:
                    self.conns.append((c, None))
                continue
            try:
                u = socket.create_connection(self.target, timeout=5)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns.append((c, u))
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data or self.state not in ("up", "slow"):
                    break
                if self.state == "slow":
                    time.sleep(self.DELAY)
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        """Cuts every connection and stops listening (the port is free for another proxy)."""
        self.set("down")
        for stop in (lambda: self.srv.shutdown(socket.SHUT_RDWR), self.srv.close):
            try:
                stop()  # shutdown wakes the accept thread
            except OSError:
                pass

    def set(self, state):
        self.state = state
        if state in ("down", "blackhole"):
            with self.lock:
                conns, self.conns = self.conns, []
            for c, u in conns:
                for s in (c, u):
                    if s is not None:
                        try:
                            s.shutdown(socket.SHUT_RDWR)
                            s.close()
                        except OSError:
                            pass


class Topology:
    def __init__(self, nakku, mysql, redis, work, moto=None):
        self.nakku = nakku
        self.moto = moto
        self.work = work
        self.procs = {}
        self.run_id = "nkf%06d" % random.randrange(10**6)
        mysql = mysql.rstrip("/")
        r = urllib.parse.urlparse(redis)
        self.redis_proxy = Proxy(REDIS_PROXY_PORT, (r.hostname or "127.0.0.1", r.port or 6379))
        self.kafka_proxy = Proxy(KAFKA_PORT, ("127.0.0.1", KAFKA_REAL_PORT))
        m = urllib.parse.urlparse(mysql)
        self.db_proxy = Proxy(DB_PROXY_PORT, (m.hostname or "127.0.0.1", m.port or 3306))
        proxied = mysql.replace(m.netloc, m.netloc.replace(
            f"{m.hostname}:{m.port or 3306}", f"127.0.0.1:{DB_PROXY_PORT}"))
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("NAKKU_"):
                del env[k]
        env.update({
            "NAKKU_DATA_DIR": os.path.join(work, "data"),
            "NAKKU_JWT_SECRET": "faults-" + self.run_id + "-0123456789abcdef0123456789",
            "NAKKU_EVENT_BUS": "kafka",
            "NAKKU_KAFKA_BROKERS": f"127.0.0.1:{KAFKA_PORT}",
            "NAKKU_EVENT_TOPIC_PREFIX": self.run_id,
            "NAKKU_REDIS_URL": f"redis://127.0.0.1:{REDIS_PROXY_PORT}",
            "NAKKU_RATE_LIMIT_AUTH_PER_MINUTE": "0",
            "NAKKU_LOG": "warn",
            # The rows follow each other within the capacity cap's 5-minute window; with
            # the default cap (8 riders × 5) the store paused part-way through the suite
            # and later rows' orders were refused instead of meeting their fault. The cap
            # has tests of its own (picking.rs).
            "NAKKU_ORDERS_PER_RIDER": "1000",
            "NAKKU_PICKS_PER_PICKER": "1000",
        })
        for s in SERVICES:
            # The order service reaches its database through the cuttable proxy.
            base = proxied if s == "order" else mysql
            env[f"NAKKU_{s.upper()}_DATABASE_URL"] = f"{base}/{self.run_id}_{s}"
            env[f"NAKKU_{s.upper()}_PORT"] = str(PORTS[s])
            urls = [f"http://127.0.0.1:{PORTS[s]}"]
            if s in SECOND:
                urls.append(f"http://127.0.0.1:{SECOND[s]}")
            env[f"NAKKU_{s.upper()}_URL"] = ",".join(urls)
        env["NAKKU_GATEWAY_PORT"] = str(PORTS["gateway"])
        if moto:
            # Every fetch lists the partition's objects in S3: one partition a topic and
            # fetches that wait for data keep the S3 server's load within what moto serves.
            env["NAKKU_KAFKA_PARTITIONS"] = "1"
            # Each heartbeat is a conditional write of the group's state to S3 and each fetch a
            # listing: at one heartbeat a second and 500 ms fetches, moto (single-threaded
            # Python) fell behind, heartbeats outlasted the 6 s session, and members lost their
            # partitions and offset commits ("Unknown member") over and over. Fewer heartbeats
            # and longer fetch waits keep its load down. (A longer session does not help:
            # tansu then holds a new group's JoinGroup past our 30 s stall detector.)
            env["NAKKU_KAFKA_PROPERTIES"] = "fetch.wait.max.ms=2000;heartbeat.interval.ms=2000"
        self.env = env
        self.mysql = mysql
        self.gateway = f"http://127.0.0.1:{PORTS['gateway']}"

    # --- the broker: tansu, reached through a cuttable proxy (it advertises the proxy's
    # address, so every client connection goes through it) ---
    def start_broker(self):
        tansu = subprocess.run([os.path.join(ROOT, "scripts", "kafka.sh"), "install"],
                               check=True, capture_output=True, text=True).stdout.strip()
        storage, env = "memory://tansu/", None
        if self.moto:
            # Durable: the log in S3, served by moto (started once; it keeps the bucket
            # in memory across broker restarts).
            if "moto" not in self.procs:
                self.procs["moto"] = subprocess.Popen(
                    [self.moto, "-p", str(MOTO_PORT)], stdout=subprocess.DEVNULL,
                    stderr=open(os.path.join(self.work, "moto.log"), "a"))
                if not wait_port(MOTO_PORT, 30):
                    raise SystemExit("moto did not start; see moto.log")
                urllib.request.urlopen(urllib.request.Request(
                    f"http://127.0.0.1:{MOTO_PORT}/tansu", method="PUT"), timeout=10).close()
            storage = "s3://tansu/"
            env = dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_REGION="us-east-1",
                       AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT=f"http://127.0.0.1:{MOTO_PORT}",
                       AWS_ALLOW_HTTP="true")
        self.procs["broker"] = subprocess.Popen(
            [tansu, "broker", "--listener-url", f"tcp://127.0.0.1:{KAFKA_REAL_PORT}",
             "--advertised-listener-url", f"tcp://127.0.0.1:{KAFKA_PORT}",
             "--storage-engine", storage, "--cluster-id", "faults"], env=env,
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.work, "broker.log"), "a"))
        if not wait_port(KAFKA_REAL_PORT, 30):
            raise SystemExit("the broker did not start; see broker.log")

    # --- Nakku's processes ---
    def nakku_run(self, *args, timeout=600):
        return subprocess.run([self.nakku, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def start(self, name):
        if name == "gateway":
            args = ["serve", "--gateway"]
        elif name.endswith("#2"):
            svc = name[:-2]
            args = ["serve", "--service", svc, "--port", str(SECOND[svc])]
        else:
            args = ["serve", "--service", name]
        # Static group membership for a service's only instance: started again under the
        # same name, it takes its consumers' partitions back at once instead of waiting for
        # the killed session to end (tansu never ends it). Not for the services with two
        # instances: on tansu a group of two static members leaves events unread. Nor on the
        # S3-backed broker: there a JoinGroup slowed by S3 can be registered twice under the
        # one instance id, and the phantom member keeps its share of the partitions for good
        # (seen: `delivery.catalogue` "elected leader with 2 members", the product topic never
        # read). Dynamic members are expired by the session, so there a SIGKILLed service
        # (the rows CI does not run on S3) gets its partitions back once the killed member's
        # 6 s session has ended.
        env = self.env
        if name.split("#")[0] not in SECOND and name != "gateway" and not self.moto:
            props = env.get("NAKKU_KAFKA_PROPERTIES")
            env = dict(env, NAKKU_KAFKA_PROPERTIES=(props + ";" if props else "") + f"group.instance.id=nakku-{name}")
        # FAULTS_KAFKA_DEBUG=delivery: that service's librdkafka group protocol in its log
        # (FAULTS_KAFKA_DEBUG_FLAGS=cgrp,fetch for its fetches too).
        if name.split("#")[0] in os.environ.get("FAULTS_KAFKA_DEBUG", "").split(","):
            props = env.get("NAKKU_KAFKA_PROPERTIES")
            flags = os.environ.get("FAULTS_KAFKA_DEBUG_FLAGS", "cgrp")
            env = dict(env, NAKKU_KAFKA_PROPERTIES=(props + ";" if props else "") + "debug=" + flags,
                       NAKKU_LOG="info,librdkafka=debug,rdkafka=debug")
        self.procs[name] = subprocess.Popen(
            [self.nakku, *args], env=env, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.work, f"{name.replace('#', '_')}.log"), "a"))

    def port_of(self, name):
        return SECOND[name[:-2]] if name.endswith("#2") else PORTS[name]

    def wait_ready(self, name, secs=120):
        url = f"http://127.0.0.1:{self.port_of(name)}/readyz"
        deadline = time.time() + secs
        while time.time() < deadline:
            if http_ok(url):
                return True
            if self.procs[name].poll() is not None:
                raise SystemExit(f"{name} exited ({self.procs[name].returncode}); see its log in {self.work}")
            time.sleep(0.3)
        raise SystemExit(f"{name} not ready after {secs}s; see its log in {self.work}")

    def kill(self, name):
        p = self.procs[name]
        p.send_signal(signal.SIGKILL)
        p.wait()

    def heal(self):
        """Starts again whatever a fault left down, and waits until all of it is ready."""
        self.redis_proxy.set("up")
        self.db_proxy.set("up")
        self.kafka_proxy.set("up")
        for n in self.names():
            if self.procs[n].poll() is not None:
                self.start(n)
        for n in self.names():
            self.wait_ready(n)

    def restart_broker(self, secs):
        """Stops the broker (SIGTERM) and starts it again after `secs`: with a durable log
        (--moto) it comes back with its topics, messages and committed offsets."""
        b = self.procs["broker"]
        b.terminate()
        try:
            b.wait(timeout=20)
        except subprocess.TimeoutExpired:
            b.kill()
            b.wait()
        time.sleep(secs)
        self.start_broker()

    def names(self):
        return SERVICES + [f"{s}#2" for s in SECOND] + ["gateway"]

    def up(self):
        self.start_broker()
        m = self.nakku_run("migrate")
        if m.returncode != 0:
            raise SystemExit("migrate failed:\n" + m.stderr)
        for n in self.names():
            self.start(n)
        for n in self.names():
            self.wait_ready(n)
        # Usually under two minutes; once (stop 40's second CI run) past 600 s while the
        # consumers' batches met MariaDB deadlocks over and over (retried, not lost). The
        # time is printed, so a slow seed shows in the log before it fails one.
        started = time.monotonic()
        s = self.nakku_run("seed", "--stores", "2", timeout=1200)
        if s.returncode != 0:
            raise SystemExit("seed failed:\n" + s.stderr[-2000:])
        print(f"seeded in {time.monotonic() - started:.0f} s", flush=True)
        # The cart, delivery and catalogue learn the seeded stock and stores through the
        # bus, and an order goes through half a dozen consumer groups: wait until an order
        # of a two-order warm-up run is delivered — every group formed and consuming (on
        # the S3-backed broker one was seen placing and confirming while the delivery
        # group never got its partitions).
        # A warm-up that does not even finish in its time (a broker whose groups never
        # consume: simulate's own retries and settle outlast it) is a start that did not
        # come up too, and gets the same second start.
        deadline = time.time() + 180
        while True:
            try:
                w = self.nakku_run("simulate", "--url", self.gateway, "--orders", "2", "--concurrency", "1",
                                   "--seed", "7", "--settle", "60s", "--json", timeout=300)
                out, err = w.stdout, w.stderr
            except subprocess.TimeoutExpired as e:
                def text(b):
                    return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
                out, err = text(e.stdout), text(e.stderr) + "\n(the warm-up simulate did not finish in 300 s)"
            try:
                delivered = json.loads(out)["outcomes"]["delivered"]
            except (ValueError, KeyError):
                delivered = 0
            if delivered > 0 or time.time() > deadline:
                break
            time.sleep(3)
        if delivered == 0:
            raise NotUp("no order was delivered after seeding:\n" + out[-2000:] + err[-2000:])

    def down(self):
        for n, p in list(self.procs.items()):
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        for p in (self.redis_proxy, self.db_proxy, self.kafka_proxy):
            p.close()
        drop = ";".join(f"DROP DATABASE IF EXISTS `{self.run_id}_{s}`" for s in SERVICES)
        m = urllib.parse.urlparse(self.mysql)
        subprocess.run(["mariadb", "-h", m.hostname or "127.0.0.1", "-P", str(m.port or 3306),
                        "-u", m.username or "root", *([f"-p{m.password}"] if m.password else []), "-e", drop],
                       capture_output=True)


def restart(t, name, after):
    t.kill(name)
    time.sleep(after)
    t.start(name)
    t.wait_ready(name)


def link_outage(proxy, state, secs, probe=None):
    """The link in `state` for `secs`; `probe` (half-way, at most 8 s in) checks what
    operators are shown meanwhile and returns (as expected?, what it saw)."""
    proxy.set(state)
    seen = None
    if probe:
        wait = min(secs / 2, 8)
        time.sleep(wait)
        started = time.time()
        seen = probe()
        time.sleep(max(0, secs - wait - (time.time() - started)))
    else:
        time.sleep(secs)
    proxy.set("up")
    return seen


def find(doc, key):
    """The first value under `key` anywhere in a JSON document."""
    if isinstance(doc, dict):
        if key in doc:
            return doc[key]
        doc = list(doc.values())
    if isinstance(doc, list):
        for v in doc:
            found = find(v, key)
            if found is not None:
                return found
    return None


def ready_all_along(service, probe):
    """`probe`, and `service`'s /readyz still 200: an outage of a dependency after start
    must not take the service out of its load balancer."""
    def both():
        ok, seen = probe()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORTS[service]}/readyz", timeout=10) as r:
                ready = r.status == 200
        except OSError:
            ready = False
        return ok and ready, seen + (", /readyz 200" if ready else ", NOT READY")
    return both


def health_shows_down(service, check, inner=None):
    """A probe: `service`'s /health reports `check` (or its `inner` part) down."""
    def probe():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORTS[service]}/health", timeout=10) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        except OSError as e:
            return False, f"{service} /health: no answer ({e})"
        try:
            c = find(json.loads(body), "checks") or {}
        except ValueError:
            c = {}
        part = (c.get(check) or {}) if inner is None else ((c.get(check) or {}).get(inner) or {})
        what = f"{check}.{inner}" if inner else check
        ok = part.get("status") == "down"
        return ok, f"{service} /health {status}: {what} {part.get('status', 'missing')}"
    return probe


FAULTS = [
    ("none (baseline)", lambda t: None),
    ("SIGKILL order, restart after 3 s", lambda t: restart(t, "order", 3)),
    ("SIGKILL payment, restart after 3 s", lambda t: restart(t, "payment", 3)),
    ("SIGKILL inventory, restart after 3 s", lambda t: restart(t, "inventory", 3)),
    ("SIGKILL cart, restart after 3 s", lambda t: restart(t, "cart", 3)),
    ("SIGKILL delivery, restart after 3 s", lambda t: restart(t, "delivery", 3)),
    ("SIGKILL the gateway, restart after 3 s", lambda t: restart(t, "gateway", 3)),
    # The gateway routes around the dead instance at once. It comes back after 20 s: tansu
    # does not expire a killed consumer's group session, so its partitions wait for it (on
    # Apache Kafka the 6 s session timeout hands them to the other instance).
    ("SIGKILL order's 2nd instance, restart after 20 s", lambda t: restart(t, "order#2", 20)),
    ("SIGKILL inventory's 2nd instance, restart after 20 s", lambda t: restart(t, "inventory#2", 20)),
    ("broker unreachable 30 s",
     lambda t: link_outage(t.kafka_proxy, "down", 30,
                           ready_all_along("order", health_shows_down("order", "event_bus")))),
    ("MariaDB cut from order 15 s",
     lambda t: link_outage(t.db_proxy, "down", 15, health_shows_down("order", "database"))),
    ("MariaDB blackholed for order 15 s",
     lambda t: link_outage(t.db_proxy, "blackhole", 15, health_shows_down("order", "database"))),
    # Every open connection of the order service cut at once, under load: transactions in
    # flight end half-way (MariaDB rolls them back), the pool opens new connections.
    ("MariaDB connections of order cut mid-transaction", lambda t: link_outage(t.db_proxy, "down", 0.2)),
    ("MariaDB 50 ms each way slower for order 15 s", lambda t: link_outage(t.db_proxy, "slow", 15)),
    ("broker stopped 30 s and started again (durable log)", lambda t: t.restart_broker(30)),
    ("Redis down 20 s",
     lambda t: link_outage(t.redis_proxy, "down", 20, health_shows_down("product", "catalogue", "cache"))),
]


def one_fault(t, name, apply, orders, seed, lead):
    started = time.time()
    sim = subprocess.Popen(
        [t.nakku, "simulate", "--url", t.gateway, "--orders", str(orders), "--concurrency", "3",
         "--rate", "2", "--seed", str(seed), "--settle", "90s", "--json"],
        env=t.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(lead)
    seen = apply(t)
    out, err = sim.communicate(timeout=900)
    try:
        report = json.loads(out)
    except ValueError:
        report = {}
    v = t.nakku_run("verify", "--wait", "60s", "--json", timeout=300)
    try:
        verdict = json.loads(v.stdout)
    except ValueError:
        verdict = {"ok": False, "findings": [{"promise": "verify ran", "ok": False, "detail": v.stderr[-300:]}]}
    o = report.get("outcomes", {})
    broken = [f["promise"] + ": " + f["detail"] for f in verdict.get("findings", []) if not f.get("ok")]
    sim_msg = "ok" if sim.returncode == 0 else (err.strip().splitlines() or ["exit %d" % sim.returncode])[-1]
    return {
        "fault": name,
        "placed": o.get("placed", 0), "confirmed": o.get("confirmed", 0),
        "delivered": o.get("delivered", 0), "cancelled": o.get("cancelled", 0),
        "failed": o.get("compensated", 0), "refused": o.get("refused", 0),
        "stuck": o.get("stuck", 0), "undelivered": o.get("undelivered", 0),
        "errors": sum(report.get("errors", {}).values()),
        "simulate": sim_msg, "verify": "ok" if verdict.get("ok") else "; ".join(broken),
        "health": "-" if seen is None else ("ok: " if seen[0] else "NOT SHOWN: ") + seen[1],
        "ok": sim.returncode == 0 and bool(verdict.get("ok")) and (seen is None or seen[0]),
        "seconds": round(time.time() - started),
        "why_refused": o.get("refused_because", {}),
        "error_kinds": report.get("errors", {}),
    }


def table(rows):
    cols = ["fault", "placed", "confirmed", "delivered", "cancelled", "failed", "refused", "stuck",
            "undelivered", "errors", "seconds", "simulate", "verify", "health"]
    width = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols[:-3]}
    lines = ["  ".join(c.ljust(width[c]) if c in width else c for c in cols)]
    for r in rows:
        lines.append("  ".join(str(r[c]).ljust(width[c]) if c in width else str(r[c]) for c in cols))
    return "\n".join(lines)


class NotUp(Exception):
    """The topology started but could not take an order within its warm-up."""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nakku", default=os.path.join(ROOT, "target", "debug", "nakku"))
    # Few per fault: between 01:00 and 06:00 IST only the first of the two seeded stores is
    # open (the capacity cap is raised for the suite, above). At 2 orders a second, 4
    # orders take 2 s to place: the fault lands half-way through.
    ap.add_argument("--orders", type=int, default=4, help="orders per fault")
    ap.add_argument("--lead", type=float, default=1.0, help="seconds of load before the fault")
    ap.add_argument("--only", default="", help="comma-separated substrings of fault names")
    ap.add_argument("--moto", help="moto_server to keep the broker's log in S3 (adds the broker restart row)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each fault (to hunt a rare failure)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    mysql = os.environ.get("NAKKU_TEST_MYSQL_URL")
    redis = os.environ.get("NAKKU_TEST_REDIS_URL")
    if not mysql or not redis:
        raise SystemExit("set NAKKU_TEST_MYSQL_URL and NAKKU_TEST_REDIS_URL")
    # Stopped from outside (SIGTERM, Ctrl-C): still stop the processes and drop the databases.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(130))
    # On the S3-backed broker (moto's server, single-threaded Python) a consumer group can
    # fail to form for minutes on a busy machine (JoinGroup requests time out at the
    # broker), so the cart never learns the seeded catalogue, or the delivery service
    # never sees confirmed orders: that start is thrown away and the topology started
    # again from nothing, once. Seen in about one clean-clone run in three; the second
    # start came up. Rows are judged only on a topology that came up.
    starts = 2 if a.moto else 1
    for attempt in range(starts):
        work = tempfile.mkdtemp(prefix="nakku-faults-")
        t = Topology(os.path.abspath(a.nakku), mysql, redis, work, a.moto)
        log(f"starting the topology ({len(t.names())} processes, logs in {work})")
        try:
            t.up()
            break
        except NotUp as e:
            t.down()
            if attempt + 1 == starts:
                raise SystemExit(f"{e} (logs in {work})")
            log(f"the topology did not come up ({str(e).splitlines()[0].rstrip(':')}; logs in {work}); starting it again")
        except BaseException:
            t.down()
            raise
    rows = []
    try:
        only = [s.strip().lower() for s in a.only.split(",") if s.strip()]
        plan = [(i + run * len(FAULTS), name, apply) for run in range(a.repeat)
                for i, (name, apply) in enumerate(FAULTS)
                if (not only or any(s in name.lower() for s in only))
                and (a.moto or "durable log" not in name)]
        for i, name, apply in plan:
            log(f"fault: {name}")
            r = one_fault(t, name, apply, a.orders, 100 + i, a.lead)
            log(f"  -> placed {r['placed']}, confirmed {r['confirmed']}, delivered {r['delivered']}, "
                f"simulate {r['simulate']}, verify {r['verify']}, health {r['health']} ({r['seconds']} s)")
            if r["why_refused"] or r["error_kinds"]:
                log(f"     refused: {r['why_refused']}; errors: {r['error_kinds']}")
            rows.append(r)
            t.heal()
    finally:
        t.down()
    if a.json:
        print(json.dumps(rows, indent=2))
    else:
        print(table(rows))
    bad = [r["fault"] for r in rows if not r["ok"]]
    if bad:
        log("FAIL: promises broken under: " + "; ".join(bad) + f" (logs in {work})")
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

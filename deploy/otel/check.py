#!/usr/bin/env python3
"""Static checks of the tracing wiring (no collector binary or Docker engine here):
every component deploy/otel/collector.yaml's pipeline names is defined, the services'
NAKKU_OTLP_ENDPOINT in docker-compose.yml reaches the collector's OTLP/HTTP receiver, and
the collector exports to a compose service that accepts OTLP.

    python3 deploy/otel/check.py     (needs ruamel.yaml or PyYAML)
"""
import os
import sys
from urllib.parse import urlparse

try:
    from ruamel.yaml import YAML

    def load(path):
        with open(path) as f:
            return YAML(typ="safe").load(f)
except ImportError:  # pragma: no cover
    import yaml

    def load(path):
        with open(path) as f:
            return yaml.safe_load(f)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
errors = []
col = load(os.path.join(ROOT, "deploy/otel/collector.yaml"))
compose = load(os.path.join(ROOT, "docker-compose.yml"))

for name, pipe in col["service"]["pipelines"].items():
    for kind in ("receivers", "processors", "exporters"):
        for comp in pipe.get(kind, []):
            if comp not in (col.get(kind) or {}):
                errors.append(f"pipeline {name} uses {kind[:-1]} {comp}, which is not defined")

http = col["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
port = int(http.rsplit(":", 1)[1])
services = compose["services"]
endpoint = compose["x-nakku"]["environment"].get("NAKKU_OTLP_ENDPOINT", "")
u = urlparse(endpoint)
if u.hostname not in services:
    errors.append(f"NAKKU_OTLP_ENDPOINT {endpoint!r} names no compose service")
if u.port != port:
    errors.append(f"NAKKU_OTLP_ENDPOINT {endpoint!r} is not the receiver's port {port}")
cmd = " ".join(services.get(u.hostname, {}).get("command", []))
mounts = services.get(u.hostname, {}).get("volumes", [])
if not any(m.startswith("./deploy/otel/collector.yaml:") and m.split(":")[1] in cmd for m in mounts):
    errors.append(f"the {u.hostname} service does not run with deploy/otel/collector.yaml")

for name, exp in col["exporters"].items():
    host = exp["endpoint"].split(":")[0]
    if host not in services:
        errors.append(f"exporter {name} sends to {host}, which is no compose service")
    elif str(services[host].get("environment", {}).get("COLLECTOR_OTLP_ENABLED", "")).lower() != "true":
        errors.append(f"exporter {name} sends OTLP to {host}, which does not accept it")

for e in errors:
    print(f"deploy/otel: {e}", file=sys.stderr)
sys.exit(1 if errors else 0)

"""A cluster whose nodes serve the HTTP API, with TSIG keys, and helpers to talk to it."""
import base64
import json
import re
import subprocess
import urllib.error
import urllib.request

from harness import Cluster, free_port

KEY_NAME = "ddns-key."
KEY_SECRET = base64.b64encode(b"an http and tsig test secret 32b").decode()
LIMITED_NAME = "limited-key."
LIMITED_SECRET = base64.b64encode(b"a second secret for a limited key").decode()


def http_cluster(workdir, size=3, tsig_keys=None, http=None):
    """A Cluster (see ../cluster/harness.py) whose config gives every node an
    http_loc on loopback and holds `tsig_keys` (by default one key, KEY_NAME,
    with the update role) and, when given, the `http` section."""
    c = Cluster(workdir, size)
    with open(c.config_path) as f:
        config = json.load(f)
    for n in c.nodes:
        n.http_port = free_port()
        config["nodes"][str(n.id)]["http_loc"] = f"127.0.0.1:{n.http_port}"
    if tsig_keys is None:
        tsig_keys = [{"name": KEY_NAME, "algorithm": "hmac-sha256", "secret": KEY_SECRET, "role": "update"}]
    config["tsig_keys"] = tsig_keys
    if http is not None:
        config["http"] = http
    with open(c.config_path, "w") as f:
        json.dump(config, f, indent=1)
    return c


def url(node, path, scheme="http"):
    return f"{scheme}://127.0.0.1:{node.http_port}{path}"


def curl(node, path, user=None, password=None, method="GET", data=None, timeout=15, scheme="http", options=()):
    """Runs the real curl (with `options` added, e.g. --interface); returns
    (http status, body)."""
    args = ["curl", "-sS", "--max-time", str(timeout), "-o", "-", "-w", "\n%{http_code}", "-X", method] + list(options)
    if user is not None:
        args += ["-u", f"{user}:{password}"]
    if data is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", data]
    args.append(url(node, path, scheme))
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout + 5)
    assert out.returncode == 0, f"curl failed: {out.stderr}"
    body, _, code = out.stdout.rpartition("\n")
    return int(code), body.rstrip("\n")


def get_json(node, path):
    try:
        with urllib.request.urlopen(url(node, path), timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def parse_prometheus(text):
    """Parses the text format 0.0.4 strictly enough for our checks: returns
    (types, samples) where samples maps 'name{labels}' to a float. Raises
    AssertionError for a sample whose family has no HELP or TYPE before it,
    or a line that is not a comment, a sample or empty."""
    helps, types, samples = set(), {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helps.add(line.split(" ", 3)[2])
        elif line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ", 3)
            assert family in helps, f"TYPE before HELP for {family}"
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            types[family] = kind
        elif line.startswith("#") or not line:
            continue
        else:
            m = _SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            name = m.group(1)
            family = name
            if family not in types:
                for suffix in ("_bucket", "_sum", "_count"):
                    if name.endswith(suffix) and name[: -len(suffix)] in types:
                        family = name[: -len(suffix)]
            assert family in types, f"sample without TYPE: {line}"
            assert family in helps, f"sample without HELP: {line}"
            samples[name + (m.group(2) or "")] = float(m.group(3))
    return types, samples


def metrics(node):
    with urllib.request.urlopen(url(node, "/metrics"), timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers["Content-Type"]
        return parse_prometheus(r.read().decode())

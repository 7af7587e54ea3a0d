"""Helpers for the integration tests: run the real dns-node binary on free
loopback ports with a temporary config and zone files, talk to it over DNS
and its stdin, and stop it by PID."""
import json
import os
import queue
import random
import signal
import socket
import subprocess
import threading
import time

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("DNSNODE_BIN", os.path.join(REPO, "build", "src", "node", "dns-node"))
ZONE_DIR = os.path.join(REPO, "zone-files")


# Test ports come from below Linux's ephemeral range (32768-60999), where a
# client socket of another test could take one between the pick and the
# listen; they are handed out in turn from a random start, so that two picks
# in one run never return the same port before the first is bound.
_PORTS_FIRST, _PORTS_LAST = 20000, 32767
_next_port = random.randint(_PORTS_FIRST, _PORTS_LAST)


def free_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on `host` right now, not handed out before in this run."""
    global _next_port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(500):
        port = _next_port
        _next_port = port + 1 if port < _PORTS_LAST else _PORTS_FIRST
        try:
            with socket.socket(family, socket.SOCK_STREAM) as t, socket.socket(family, socket.SOCK_DGRAM) as u:
                t.bind((host, port))
                u.bind((host, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


# RRL is on by default (docs/config.md): the tests' own client addresses are
# exempt, as an operator exempts a monitoring host, so that tests sending
# bursts of queries are not rate limited. A test of RRL itself sets "rrl".
TEST_CLIENTS_RRL = {"exempt_clients": ["127.0.0.1/32", "::1/128"]}


def config_for(query_host="127.0.0.1", query_port=None, extra=None):
    """A one-node config dict; `extra` is merged at the top level."""
    host_text = f"[{query_host}]" if ":" in query_host else query_host
    cfg = {
        "nodes": {
            "0": {
                "query_loc": f"{host_text}:{query_port or free_port(query_host)}",
                "raft_loc": f"127.0.0.1:{free_port()}",
            }
        },
        "rrl": dict(TEST_CLIENTS_RRL),
    }
    cfg.update(extra or {})
    return cfg


class DnsNode:
    """One running dns-node with stdin and stdout as pipes."""

    def __init__(self, workdir, config, zone_paths, args=()):
        self.workdir = str(workdir)
        self.config = config
        self.config_path = os.path.join(self.workdir, "dns-config.json")
        with open(self.config_path, "w") as f:
            json.dump(config, f)
        loc = config["nodes"]["0"]["query_loc"]
        host, _, port = loc.rpartition(":")
        self.host = host.strip("[]")
        self.port = int(port)
        cmd = [BIN, "-n", "0", "-c", self.config_path, "--data-dir", os.path.join(self.workdir, "data")]
        for z in zone_paths:
            cmd += ["-z", z]
        cmd += list(args)
        self.stderr_path = os.path.join(self.workdir, "stderr.log")
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                     cwd=self.workdir, text=True, bufsize=1)
        self.lines = queue.Queue()
        self.extra_stdout = []  # anything on stdout that was not asked for
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    @property
    def stderr(self):
        if not self._stderr.closed:
            self._stderr.flush()
        with open(self.stderr_path) as f:
            return f.read()

    def wait_ready(self, timeout=10.0):
        """Waits until the node answers a UDP query."""
        deadline = time.time() + timeout
        probe = dns.message.make_query("ready.invalid.", "A")
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dns-node exited with {self.proc.returncode}:\n{self.stderr}")
            try:
                dns.query.udp(probe, self.host, port=self.port, timeout=0.2)
                return self
            except (dns.exception.Timeout, OSError):
                continue
        raise AssertionError(f"dns-node not answering after {timeout}s:\n{self.stderr}")

    def command(self, line, timeout=5.0):
        """Sends one stdin line and returns its reply line."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.lines.get(timeout=timeout)
        assert reply is not None, f"stdout closed; stderr:\n{self.stderr}"
        return reply

    def query(self, name, rdtype, tcp=False, timeout=2.0, **kwargs):
        q = dns.message.make_query(name, rdtype, **kwargs)
        if tcp:
            return dns.query.tcp(q, self.host, port=self.port, timeout=timeout)
        return dns.query.udp(q, self.host, port=self.port, timeout=timeout)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signals the process (by PID) and returns its exit code."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reader.join(timeout=5)  # every stdout line is in self.lines now
        self._stderr.close()
        return self.proc.returncode


def rrset_texts(response, section="answer"):
    """Sorted 'name TYPE rdata' strings of a response section."""
    out = []
    for rrset in getattr(response, section):
        for rd in rrset:
            out.append(f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text()}")
    return sorted(out)


def run_to_exit(args, cwd, timeout=10.0):
    """Runs dns-node expecting it to exit by itself; returns (rc, stdout, stderr)."""
    p = subprocess.run([BIN] + list(args), cwd=str(cwd), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr

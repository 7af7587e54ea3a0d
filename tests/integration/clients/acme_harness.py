"""ACME DNS-01 on loopback: pebble (the ACME test server) with a TLS
certificate made here, and a DNS gate in front of the node pebble asks,
which answers a challenge query only once every node serves the TXT."""
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
import ssl

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from harness import free_port


def make_ca_and_server_cert(directory):
    """A throwaway CA and a certificate for 127.0.0.1/localhost signed by it: (ca, cert, key) paths."""
    ca_key, ca, key, csr, cert, ext = (os.path.join(directory, f) for f in
                                       ("ca.key", "ca.pem", "key.pem", "srv.csr", "cert.pem", "ext.cnf"))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=dns-node test CA")
    run("req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2",
        "-extfile", ext)
    return ca, cert, key


class Pebble:
    """pebble on free loopback ports, validating DNS-01 through `dns_port`."""

    def __init__(self, workdir, dns_port):
        self.workdir = str(workdir)
        self.ca, cert, key = make_ca_and_server_cert(self.workdir)
        self.port = free_port()
        config = {"pebble": {"listenAddress": f"127.0.0.1:{self.port}",
                             "managementListenAddress": f"127.0.0.1:{free_port()}",
                             "certificate": cert, "privateKey": key,
                             "httpPort": free_port(), "tlsPort": free_port(),
                             "ocspResponderURL": "", "externalAccountBindingRequired": False}}
        config_path = os.path.join(self.workdir, "pebble.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        # No random validation delays, no rejected nonces, a fresh challenge every order.
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0", PEBBLE_AUTHZREUSE="0")
        self.log_path = os.path.join(self.workdir, "pebble.log")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["pebble", "-config", config_path, "-dnsserver", f"127.0.0.1:{dns_port}"],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.directory = f"https://127.0.0.1:{self.port}/dir"
        context = ssl.create_default_context(cafile=self.ca)
        deadline = time.time() + 15
        while True:
            try:
                with urllib.request.urlopen(self.directory, context=context, timeout=1) as r:
                    json.load(r)
                    break
            except OSError:
                assert self.proc.poll() is None and time.time() < deadline, self.log()
                time.sleep(0.1)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self._log.close()


class ChallengeGate:
    """A UDP DNS forwarder to `target`. A TXT query for an _acme-challenge
    name is held until every node of `cluster` serves the same non-empty TXT
    RRset there (up to `wait` seconds), so a validation that succeeds proves
    the record reached every node; `seen` keeps, per name, what each node
    served at that moment."""

    def __init__(self, cluster, target, wait=10.0):
        self.cluster = cluster
        self.target = target
        self.wait = wait
        self.seen = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _txt_everywhere(self, name):
        values = {}
        for n in self.cluster.live():
            r = n.query(name, "TXT")
            values[n.id] = sorted(rd.to_text() for rrset in r.answer if rrset.rdtype == dns.rdatatype.TXT
                                  for rd in rrset)
        return values

    def _serve(self):
        while not self._stop.is_set():
            try:
                wire, client = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            threading.Thread(target=self._answer, args=(wire, client), daemon=True).start()

    def _answer(self, wire, client):
        try:
            q = dns.message.from_wire(wire)
        except Exception:
            return
        question = q.question[0] if q.question else None
        if question is not None and question.rdtype == dns.rdatatype.TXT and \
                question.name.to_text().lower().startswith("_acme-challenge."):
            name = question.name.to_text()
            deadline = time.time() + self.wait
            while True:
                values = self._txt_everywhere(name)
                everywhere = all(values.values()) and len({tuple(v) for v in values.values()}) == 1
                if everywhere or time.time() > deadline:
                    break
                time.sleep(0.02)
            self.seen.setdefault(name, []).append(values)
            if not everywhere:
                r = dns.message.make_response(q)
                r.set_rcode(dns.rcode.SERVFAIL)
                self.sock.sendto(r.to_wire(), client)
                return
        try:
            r = dns.query.udp(q, "127.0.0.1", port=self.target.query_port, timeout=2)
            self.sock.sendto(r.to_wire(), client)
        except Exception:
            pass

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def certificate_names(path):
    """The DNS names in a PEM certificate's subjectAltName."""
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-ext", "subjectAltName"], capture_output=True,
                         text=True, check=True).stdout
    return sorted(part.strip()[4:] for part in out.replace("\n", ",").split(",") if part.strip().startswith("DNS:"))

"""What the peer-link tests need to speak to a node's raft_loc as an attacker
or as a member would: Raft frames (include/raft/codec.h), a cluster CA and
node certificates made with the openssl command line, TLS clients holding
them, and clusters whose peers authenticate with those certificates."""
import json
import os
import socket
import ssl
import struct
import subprocess

from harness import Cluster

# include/raft/types.h
APPEND, HEARTBEAT, VOTE = 5, 7, 3
ENTRY_NORMAL = 0


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def blob(b):
    return varint(len(b)) + b


def message(mtype, frm, to, term, log_term=0, index=0, commit=0, entries=()):
    """One Raft message as the codec encodes it (version 1). `frm`/`to` are
    Raft ids (config id + 1); entries are (term, index, data) tuples."""
    out = bytes([1, mtype]) + b"".join(varint(v) for v in (frm, to, term, log_term, index, commit))
    out += bytes([0]) + varint(0) + varint(0)              # reject, reject_hint, hint_term
    out += varint(len(entries))
    for e_term, e_index, data in entries:
        out += varint(e_term) + varint(e_index) + bytes([ENTRY_NORMAL]) + blob(data)
    out += varint(0) + varint(0) + varint(0) + varint(0)   # snapshot meta: index, term, no voters, no learners
    out += varint(0) + bytes([0]) + blob(b"") + blob(b"")  # offset, done, data, context
    out += varint(0) + varint(0) + varint(0) + bytes([0])  # applied, compact_hint, snapshot_size, leader_transfer
    return out


def frame(payload):
    return struct.pack("<I", len(payload)) + payload


def forged_append(status, frm, to, term_ahead=5):
    """An Append that would be accepted from the leader: a higher term, and
    an entry right after the receiver's last one. Built from its STATUS."""
    term = status["term"] + term_ahead
    last = status["log_last_index"]
    return frame(message(APPEND, frm, to, term, log_term=status["term"], index=last,
                         commit=status["commit_index"], entries=[(term, last + 1, b"evil.example.com A 6.6.6.6")]))


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class Pki:
    """A cluster CA and a certificate per node id, naming "dns-node-<id>"."""

    def __init__(self, workdir, ids, ca_name="dns-node test CA"):
        self.dir = str(workdir)
        os.makedirs(self.dir, exist_ok=True)
        self.ca = os.path.join(self.dir, "ca.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", f"/CN={ca_name}", cwd=self.dir)
        for i in ids:
            self.issue(i)

    def cert(self, node_id):
        return os.path.join(self.dir, f"node-{node_id}.crt")

    def key(self, node_id):
        return os.path.join(self.dir, f"node-{node_id}.key")

    def issue(self, node_id):
        ext = os.path.join(self.dir, f"node-{node_id}.ext")
        with open(ext, "w") as f:
            f.write(f"subjectAltName=DNS:dns-node-{node_id}\nbasicConstraints=CA:FALSE\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"node-{node_id}.key", "-out", f"node-{node_id}.csr", "-subj", f"/CN=dns-node-{node_id}",
                cwd=self.dir)
        openssl("x509", "-req", "-in", f"node-{node_id}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", f"node-{node_id}.crt", cwd=self.dir)

    def cluster_tls(self):
        """The "cluster.tls" object for every node of one shared config file."""
        return {"ca": self.ca, "cert": os.path.join(self.dir, "node-{id}.crt"),
                "key": os.path.join(self.dir, "node-{id}.key")}


def cert_cluster(workdir, size, pki, **kwargs):
    """A Cluster whose peers authenticate with `pki`'s certificates only (no secret)."""
    os.makedirs(str(workdir), exist_ok=True)
    c = Cluster(workdir, size, **kwargs)
    with open(c.config_path) as f:
        cfg = json.load(f)
    del cfg["cluster"]["secret"]
    cfg["cluster"]["tls"] = pki.cluster_tls()
    with open(c.config_path, "w") as f:
        json.dump(cfg, f, indent=1)
    return c


def tls_client(port, pki, as_node, server_node, timeout=3):
    """A TLS 1.3 connection to a node's raft port holding node `as_node`'s certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(pki.ca)
    ctx.load_cert_chain(pki.cert(as_node), pki.key(as_node))
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname=f"dns-node-{server_node}")


def closed_by_peer(sock, wait=3.0):
    """True when the other end closes `sock` (or sends an alert) within `wait` seconds."""
    sock.settimeout(wait)
    try:
        while True:
            if not sock.recv(4096):
                return True
    except socket.timeout:
        return False
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError):
        return True


def send_and_see_closed(sock, data, wait=3.0):
    """Writes `data` (ignoring a peer that has already closed) and reports whether the peer closes."""
    try:
        sock.sendall(data)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError):
        return True
    return closed_by_peer(sock, wait)

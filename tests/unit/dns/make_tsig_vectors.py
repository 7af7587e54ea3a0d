#!/usr/bin/python3
"""Prints the TSIG vectors of tsig_test.cpp (run with Debian's dnspython 2.3:
/usr/bin/python3 tests/unit/dns/make_tsig_vectors.py). The clock is fixed at
1700000000 so the MACs are reproducible.

- md5: a query for www.example.com. A signed with an hmac-md5 key, and the
  signed response (RFC 8945 §4.3.1: its digest starts with the request MAC).
- stream: a zone-transfer-like answer in five messages to a signed AXFR
  request (RFC 8945 §5.3.1): messages 1, 4 and 5 signed, 2 and 3 unsigned,
  so the digest of message 4 covers the prior MAC, messages 2 and 3 whole,
  message 4 and the TSIG timers. dnspython's own multi-message reader
  verifies the stream before it is printed."""
from unittest import mock

import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring

NOW = 1700000000
SECRET = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


def hexs(wire):
    return wire.hex()


def cpp(name, wire):
    h = hexs(wire)
    lines = [h[i:i + 112] for i in range(0, len(h), 112)]
    print(f"// {name}")
    print("\n".join(f'    "{l}"' for l in lines) + ",")


with mock.patch("time.time", return_value=NOW):
    # hmac-md5 query and answer
    ring = dns.tsigkeyring.from_text({"md5-key.": (dns.tsig.HMAC_MD5, SECRET)})
    q = dns.message.make_query("www.example.com.", "A", use_edns=False)
    q.id = 0x2345
    q.use_tsig(ring, keyname="md5-key.", algorithm=dns.tsig.HMAC_MD5)
    qw = q.to_wire()
    cpp("md5 query", qw)
    q2 = dns.message.from_wire(qw, keyring=ring)
    r = dns.message.make_response(q2)
    r.answer.append(dns.rrset.from_text("www.example.com.", 300, "IN", "A", "192.0.2.1"))
    rw = r.to_wire()
    cpp("md5 response", rw)
    dns.message.from_wire(rw, keyring=ring, request_mac=q.mac)

    # a five-message stream answering a signed AXFR
    ring = dns.tsigkeyring.from_text({"xfr-key.": ("hmac-sha256", SECRET)})
    q = dns.message.make_query("example.com.", "AXFR", use_edns=False)
    q.id = 0x3456
    q.use_tsig(ring, keyname="xfr-key.")
    qw = q.to_wire()
    cpp("axfr request", qw)
    request = dns.message.from_wire(qw, keyring=ring)
    wires = []
    ctx = None
    for i in range(5):
        m = dns.message.make_response(request)
        if i > 0:
            m.question = []
        m.answer.append(dns.rrset.from_text(f"h{i}.example.com.", 300, "IN", "A", f"192.0.2.{i + 1}"))
        signed = i in (0, 3, 4)
        if signed:
            w = m.to_wire(multi=True, tsig_ctx=ctx)
            ctx = m.tsig_ctx
        else:
            m.keyring = None
            m.tsig = None
            w = m.to_wire()
            ctx.update(w)
        wires.append(w)
        cpp(f"stream message {i + 1} ({'signed' if signed else 'unsigned'})", w)
    # dnspython as the client accepts the stream.
    ctx = None
    for i, w in enumerate(wires):
        m = dns.message.from_wire(w, keyring=ring, request_mac=q.mac, xfr=True, multi=True,
                                  tsig_ctx=ctx, one_rr_per_rrset=True)
        ctx = m.tsig_ctx
        assert m.had_tsig == (i in (0, 3, 4))

#!/usr/bin/python3
"""Writes the seed corpus of fuzz_update: RFC 2136 UPDATE messages for the
target's zone (example.), each behind the mode byte the target reads first
(0/1 unsigned, 2 signed with the target's key, 3 signed with a wrong one).
Usage: /usr/bin/python3 tests/fuzz/make_update_seeds.py tests/fuzz/corpus/fuzz_update"""
import os
import sys

import dns.name
import dns.rdatatype
import dns.update


def updates():
    u = dns.update.UpdateMessage("example.")
    u.add("new", 300, "A", "192.0.2.7")
    yield "add", u
    u = dns.update.UpdateMessage("example.")
    u.present("www", "A")
    u.replace("dyn", 60, "A", "198.51.100.2")
    u.add("dyn", 60, "AAAA", "2001:db8::2")
    yield "prereq-replace", u
    u = dns.update.UpdateMessage("example.")
    u.absent("www")
    u.add("www", 300, "TXT", "refused by the prerequisite")
    yield "prereq-fails", u
    u = dns.update.UpdateMessage("example.")
    u.delete("www", "AAAA", "2001:db8::80")
    u.delete("alias")
    yield "deletes", u
    u = dns.update.UpdateMessage("example.")
    u.present("dyn", "A", "198.51.100.1")
    u.add("mx", 300, "MX", "10 mail.example.")
    u.add("srv", 300, "SRV", "0 5 5060 www.example.")
    u.add("cname", 300, "CNAME", "www.example.")
    yield "types", u
    u = dns.update.UpdateMessage("example.")
    u.add("www", 300, "CNAME", "alias.example.")
    yield "cname-beside-data", u
    u = dns.update.UpdateMessage("other.")
    u.add("x", 300, "A", "192.0.2.1")
    yield "notzone", u
    u = dns.update.UpdateMessage("example.")
    u.delete("@", "SOA")
    u.delete("@", "NS")
    yield "apex-protected", u


def main(out):
    os.makedirs(out, exist_ok=True)
    for name, u in updates():
        wire = u.to_wire()
        for mode in (1, 2):
            with open(os.path.join(out, f"{name}-mode{mode}"), "wb") as f:
                f.write(bytes([mode]) + wire)


if __name__ == "__main__":
    main(sys.argv[1])

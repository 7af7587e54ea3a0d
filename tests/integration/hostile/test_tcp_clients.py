"""Hostile DNS-over-TCP clients: lying length prefixes, silent and slow
clients, and thousands of connections. The node must keep answering others,
close what it cannot use, and hold its connection cap (RFC 7766 §6.2)."""
import socket
import struct
import time

import dns.message
import dns.query
import pytest

from node_harness import config_for

IDLE_MS = 400
CAP = 100


def tcp_node(start_node, idle_ms=IDLE_MS, cap=CAP):
    return start_node(config_for(extra={"tcp": {"idle_timeout_ms": idle_ms, "max_connections": cap}}))


def connect(node, timeout=5.0):
    s = socket.create_connection((node.host, node.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def framed(wire):
    return struct.pack("!H", len(wire)) + wire


def read_frame(sock, timeout=3.0):
    """One length-framed message's bytes, or None if the server closed the connection."""
    sock.settimeout(timeout)
    buf = b""
    while len(buf) < 2:
        chunk = sock.recv(2 - len(buf))
        if not chunk:
            return None
        buf += chunk
    (length,) = struct.unpack("!H", buf)
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            return None
        body += chunk
    return body


def read_answer(sock, timeout=3.0):
    """One length-framed answer, parsed, or None if the server closed the connection."""
    body = read_frame(sock, timeout)
    return None if body is None else dns.message.from_wire(body)


def closed_by_server(sock, within):
    """True if the server closes `sock` (EOF or reset) within `within` seconds."""
    deadline = time.time() + within
    sock.settimeout(0.1)
    while time.time() < deadline:
        try:
            if sock.recv(4096) == b"":
                return True
        except socket.timeout:
            continue
        except ConnectionResetError:
            return True
    return False


def www_query():
    return dns.message.make_query("www.example.com.", "A")


def assert_answers_udp(node):
    r = dns.query.udp(www_query(), node.host, port=node.port, timeout=2)
    assert r.answer, r


def test_length_longer_than_what_follows_is_closed_at_the_idle_timeout(start_node):
    node = tcp_node(start_node)
    with connect(node) as liar:
        liar.sendall(struct.pack("!H", 512) + www_query().to_wire())  # promises 512, sends ~33
        started = time.time()
        assert closed_by_server(liar, within=5), "a stalled half message must not hold the connection"
        assert time.time() - started >= IDLE_MS / 1000 * 0.8
    assert_answers_udp(node)


def test_zero_length_message_is_ignored_and_the_connection_still_works(start_node):
    node = tcp_node(start_node, idle_ms=5000)
    with connect(node) as s:
        s.sendall(struct.pack("!H", 0) + framed(www_query().to_wire()))
        r = read_answer(s)
        assert r is not None and r.answer, r


def test_maximum_length_garbage_then_a_real_query_on_the_same_connection(start_node):
    node = tcp_node(start_node, idle_ms=5000)
    garbage = bytes((i * 37 + 11) % 256 for i in range(65535))
    with connect(node) as s:
        s.sendall(struct.pack("!H", 65535) + garbage + framed(www_query().to_wire()))
        # The garbage gets silence or FORMERR (echoing whatever header it had,
        # so parse only the ID); the query after it gets its answer.
        for _ in range(2):
            body = read_frame(s)
            assert body is not None, "connection closed after a well-framed garbage message"
            if body[:2] == garbage[:2]:
                assert body[3] & 0x0F == 1, "garbage must get FORMERR"  # RCODE in the low nibble
                continue
            r = dns.message.from_wire(body)
            assert r.answer, r
            break
        else:
            pytest.fail("no answer to the query after the garbage message")
    assert_answers_udp(node)


def test_a_megabyte_of_random_stream_does_not_hurt_other_clients(start_node):
    node = tcp_node(start_node)
    import random
    rnd = random.Random(4)
    blob = bytes(rnd.getrandbits(8) for _ in range(1 << 20))
    with connect(node) as s:
        try:
            s.sendall(blob)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may give up on us: that is fine
        assert_answers_udp(node)
        r = dns.query.tcp(www_query(), node.host, port=node.port, timeout=3)
        assert r.answer
    assert node.proc.poll() is None


def test_silent_clients_are_closed_at_the_idle_timeout(start_node):
    node = tcp_node(start_node)
    socks = [connect(node) for _ in range(20)]
    try:
        assert all(closed_by_server(s, within=5) for s in socks)
    finally:
        for s in socks:
            s.close()
    r = dns.query.tcp(www_query(), node.host, port=node.port, timeout=3)
    assert r.answer


MESSAGE_MS = 800


def test_a_client_dripping_bytes_is_closed_within_a_bounded_time(start_node):
    # Every byte restarts the idle timer; tcp.message_timeout_ms bounds the
    # time from a message's first byte to its last.
    node = start_node(config_for(extra={"tcp": {"idle_timeout_ms": IDLE_MS, "max_connections": CAP,
                                                "message_timeout_ms": MESSAGE_MS}}))
    msg = framed(www_query().to_wire()) * 8
    limit = 3 * MESSAGE_MS / 1000
    closed = False
    with connect(node) as s:
        started = time.time()
        s.settimeout(0.05)
        for b in msg:
            try:
                s.sendall(bytes([b]))
                while s.recv(4096):
                    pass  # answers to the completed queries
                closed = True
            except socket.timeout:
                pass
            except (BrokenPipeError, ConnectionResetError):
                closed = True
            if closed or time.time() - started > limit:
                break
            time.sleep(IDLE_MS / 1000 / 2)
        held = time.time() - started
    assert closed, f"a client sending one byte every {IDLE_MS // 2} ms still held its connection after {limit:.1f} s"
    assert held >= MESSAGE_MS / 1000 * 0.8, f"closed after {held:.2f} s, before message_timeout_ms"
    assert_answers_udp(node)


def test_a_slow_but_steady_sender_within_the_message_timeout_is_answered(start_node):
    # A query split over several segments, each within the idle timeout and
    # the whole within message_timeout_ms, is answered; then another one on
    # the same connection gets a fresh allowance (pipelining, RFC 7766 §6.2.1).
    node = start_node(config_for(extra={"tcp": {"idle_timeout_ms": 2000, "message_timeout_ms": 1500}}))
    with connect(node) as s:
        for _ in range(3):
            wire = framed(www_query().to_wire())
            for i in range(0, len(wire), 10):
                s.sendall(wire[i:i + 10])
                time.sleep(0.2)  # about 0.8 s for the whole message: 3 times its allowance in all
            r = read_answer(s)
            assert r is not None and r.answer, r


def test_a_message_completed_late_after_a_pipelined_one_is_timed_from_its_own_first_byte(start_node):
    # Two queries back to back, the second one's last bytes withheld: the
    # first is answered at once, the connection closes message_timeout_ms
    # after the second one began, not later.
    node = start_node(config_for(extra={"tcp": {"idle_timeout_ms": 10000, "message_timeout_ms": 600}}))
    with connect(node) as s:
        second = framed(www_query().to_wire())
        s.sendall(framed(www_query().to_wire()) + second[:5])
        started = time.time()
        r = read_answer(s)
        assert r is not None and r.answer, r
        assert closed_by_server(s, within=5)
        took = time.time() - started
    assert 0.45 <= took < 3, f"closed {took:.2f} s after the partial message began (limit 0.6 s, idle 10 s)"


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line.split()[1] for line in f if line.startswith("VmRSS")))


def test_a_client_that_never_reads_its_answers_is_bounded_and_closed(start_node):
    # Pipelined queries from a client that never reads: the server stops
    # reading once tcp.max_buffered_output of answers wait (the kernel
    # buffers fill first), holds no more than that, and the idle timeout
    # closes the connection; other clients are served throughout.
    node = tcp_node(start_node)
    before = rss_kb(node.proc.pid)
    blob = framed(www_query().to_wire()) * 2000
    with connect(node) as s:
        s.setblocking(False)
        sent, stalled_since, closed = 0, None, False
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                n = s.send(blob)
                sent += n
                stalled_since = None
            except BlockingIOError:
                stalled_since = stalled_since or time.time()
                time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if stalled_since and time.time() - stalled_since > 5:
                break
        assert sent > 1 << 20, f"only {sent} bytes accepted before the stall"
        assert_answers_udp(node)
        r = dns.query.tcp(www_query(), node.host, port=node.port, timeout=3)
        assert r.answer
        grown_mb = (rss_kb(node.proc.pid) - before) / 1024
        assert grown_mb < 64, f"the node grew by {grown_mb:.0f} MB for one client that does not read"
        # Now read: the answers queued before the close arrive, then EOF.
        closed = closed or closed_by_server(s, within=10)
    assert closed, "a client that never reads must not keep its connection"
    assert node.proc.poll() is None


def test_two_thousand_connections_the_cap_holds_and_udp_is_answered(start_node):
    node = tcp_node(start_node, idle_ms=20000)
    socks = []
    try:
        for _ in range(2000):
            socks.append(connect(node, timeout=10))
        # UDP keeps working while every TCP slot is taken.
        assert_answers_udp(node)
        time.sleep(0.5)  # let the server close what is over the cap
        held = 0
        for s in socks:
            s.setblocking(False)
            try:
                data = s.recv(1)
                assert data == b"", "nothing was asked, so nothing may be answered"
            except BlockingIOError:
                held += 1
            except ConnectionResetError:
                pass
        assert held <= CAP, f"{held} connections held open, the cap is {CAP}"
        assert held >= CAP // 2, f"only {held} connections accepted; the cap is {CAP}"
        # Over the cap a new client is turned away at once, not left hanging.
        with connect(node) as extra:
            assert closed_by_server(extra, within=3)
    finally:
        for s in socks:
            s.close()
    # Once the holders leave, TCP is served again.
    deadline = time.time() + 5
    while True:
        try:
            r = dns.query.tcp(www_query(), node.host, port=node.port, timeout=2)
            assert r.answer
            break
        except (EOFError, ConnectionError, OSError):
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    assert node.proc.poll() is None

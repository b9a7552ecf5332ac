#!/usr/bin/env python3
"""Record real loopback TCP captures (tcpdump) plus the kernel's view of the
socket states (ss), one capture per scenario, under testdata/real/.

For every scenario the script:
  1. waits until no socket is left on the scenario's ports (e.g. a TIME-WAIT
     from a previous run, which lasts 60 s on Linux), so ss sees a clean slate;
  2. starts `tcpdump -i lo|any -U --immediate-mode -B 32768 -n -w FILE FILTER`
     (-B 32768: a 32 MiB ring. With the default 2 MiB one, tcpdump once
     reported "2 packets dropped by kernel" on -i any and a handshake ACK was
     missing; likely cause: with --immediate-mode libpcap uses TPACKET_V2 with
     fixed-size frames of 64 KiB+, so the ring holds few packets, and on
     loopback every packet reaches it twice, outgoing + incoming) and waits
     for its "listening on" line (i.e. the filter is installed);
  3. starts a poller thread running
        ss -tanH state all '( sport = :P or dport = :P )'
     roughly every 5 ms, recording each change of state of each socket;
  4. runs the scenario with real sockets (server thread(s) + client thread(s))
     using fixed server ports and, where possible, fixed client ports;
  5. stops tcpdump with SIGINT, waits for it, checks its packet counters;
  6. writes FILE and FILE.ss.txt (per-socket ordered state sequences) and runs
     a few sanity checks on the capture with tshark (RST where expected, number
     of tshark tcp.stream values, ...). Any failed check makes the script exit 1.

Afterwards it derives several_conns.pcapng (editcap -F pcapng),
normal_close_client.pcap.gz (gzip -kn) and gz_without_suffix.cap (a copy of
the .gz without a .gz suffix).

Only the Python standard library is used. Must run as root (tcpdump on lo).
Only 127.0.0.1 and ::1 are used.

Usage: scripts/record_loopback.py [--out testdata/real] [--only NAME ...]
"""

import argparse
import os
import queue
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

from ss_timeline import SsTimeline

STEP = 0.1          # pause between protocol steps so that ss can see each state
SS_PERIOD = 0.005   # target period of the ss poller
SOCK_TIMEOUT = 5.0  # no blocking socket call may hang longer than this

V4 = "127.0.0.1"
V6 = "::1"


# ---------------------------------------------------------------------------
# scenario definitions
# ---------------------------------------------------------------------------

class Conn:
    """One TCP connection attempt: client family/port -> server port, and how
    it is closed (see client_side()/server_side() for the exact steps)."""

    def __init__(self, fam, cport, sport, mode, delay=0.0):
        self.fam = fam      # "v4" or "v6"
        self.delay = delay  # seconds to wait before connecting (staggers parallel conns)
        self.server_done = threading.Event()
        self.cport = cport  # fixed client port
        self.sport = sport  # server port
        self.mode = mode    # client_first, server_first, half_close,
        #                     client_rst, server_rst, unread_rst, refused

    def addr(self):
        return V4 if self.fam == "v4" else V6

    def __repr__(self):
        return "%s %s:%d -> :%d %s" % (self.fam, self.addr(), self.cport, self.sport, self.mode)


class Scenario:
    def __init__(self, name, ports, phases, iface="lo", linktype=None,
                 checks=None, streams=None, describe=""):
        self.name = name
        self.ports = ports          # server ports used (capture + ss filter)
        self.phases = phases        # list of lists of Conn; a phase's conns run in parallel
        self.iface = iface
        self.linktype = linktype    # tcpdump -y value, or None
        self.checks = checks or []  # list of (description, fn(pkts) -> bool)
        self.streams = streams      # expected number of tshark tcp.stream values
        self.describe = describe
        self.notes = []             # filled at run time

    def conns(self):
        return [c for ph in self.phases for c in ph]

    def bpf(self):
        ports = " or ".join("tcp port %d" % p for p in self.ports)
        return "(%s) and (host 127.0.0.1 or host ::1)" % ports

    def ss_filter(self):
        return "( " + " or ".join("sport = :%d or dport = :%d" % (p, p) for p in self.ports) + " )"


# ---- capture checks (pkts: list of dicts from tshark, see read_pkts) -------

def has(src, dst, flags_set, flags_clear=(), data=None):
    """Some packet from port src to port dst has all flags in flags_set, none of
    flags_clear (and payload > 0 if data is True, == 0 if data is False)."""
    def fn(pkts):
        for p in pkts:
            if p["src"] != src or p["dst"] != dst:
                continue
            if not all(p[f] for f in flags_set) or any(p[f] for f in flags_clear):
                continue
            if data is True and p["len"] == 0:
                continue
            if data is False and p["len"] != 0:
                continue
            return True
        return False
    return fn


def count(src, dst, flags_set, flags_clear, n):
    def fn(pkts):
        k = sum(1 for p in pkts
                if p["src"] == src and p["dst"] == dst
                and all(p[f] for f in flags_set) and not any(p[f] for f in flags_clear))
        return k == n
    return fn


def none_with(flag):
    return lambda pkts: not any(p[flag] for p in pkts)


def first_fin_from(port):
    """The first FIN of the capture is sent from `port`."""
    def fn(pkts):
        fins = [p for p in pkts if p["fin"]]
        return bool(fins) and fins[0]["src"] == port
    return fn


def data_after_fin(fin_src, data_src):
    """A data segment from data_src follows a FIN from fin_src (half-close)."""
    def fn(pkts):
        seen = False
        n = 0
        for p in pkts:
            if p["src"] == fin_src and p["fin"]:
                seen = True
            elif seen and p["src"] == data_src and p["len"] > 0:
                n += 1
        return n >= 2
    return fn


def stream_first_fin(stream, port):
    def fn(pkts):
        fins = [p for p in pkts if p["stream"] == stream and p["fin"]]
        return bool(fins) and fins[0]["src"] == port
    return fn


def stream_has_rst_from(stream, port):
    return lambda pkts: any(p["stream"] == stream and p["rst"] and p["src"] == port for p in pkts)


def ip_versions(want):
    return lambda pkts: {p["ipv"] for p in pkts} == set(want)


def build_scenarios():
    S = []
    S.append(Scenario(
        "normal_close_client", [5001],
        [[Conn("v4", 30011, 5001, "client_first")]],
        streams=1,
        checks=[("3-way handshake SYN from client", count(30011, 5001, ["syn"], ["ack"], 1)),
                ("SYN,ACK from server", has(5001, 30011, ["syn", "ack"])),
                ("client sends the first FIN", first_fin_from(30011)),
                ("server FIN too", has(5001, 30011, ["fin"])),
                ("no RST", none_with("rst"))],
        describe="1 connection 127.0.0.1:30011 -> 127.0.0.1:5001; request 16 B, reply 16 B; "
                 "client closes first (client TIME-WAIT), server closes after EOF"))
    S.append(Scenario(
        "normal_close_server", [5002],
        [[Conn("v4", 30021, 5002, "server_first")]],
        streams=1,
        checks=[("server sends the first FIN", first_fin_from(5002)),
                ("client FIN too", has(30021, 5002, ["fin"])),
                ("no RST", none_with("rst"))],
        describe="1 connection 127.0.0.1:30021 -> 127.0.0.1:5002; request/reply; "
                 "server closes first (server TIME-WAIT), client closes after EOF"))
    S.append(Scenario(
        "half_close", [5003],
        [[Conn("v4", 30031, 5003, "half_close")]],
        streams=1,
        checks=[("client sends the first FIN", first_fin_from(30031)),
                (">=2 server data segments after client FIN", data_after_fin(30031, 5003)),
                ("server FIN", has(5003, 30031, ["fin"])),
                ("no RST", none_with("rst"))],
        describe="1 connection 127.0.0.1:30031 -> 127.0.0.1:5003; client sends request then "
                 "shutdown(SHUT_WR); server sends 4 chunks of 16 B after the FIN, then closes"))
    S.append(Scenario(
        "rst_abort", [5004],
        [[Conn("v4", 30041, 5004, "client_rst")]],
        streams=1,
        checks=[("RST from client", has(30041, 5004, ["rst"])),
                ("no FIN", none_with("fin")),
                ("no RST from server", lambda pk: not has(5004, 30041, ["rst"])(pk))],
        describe="1 connection 127.0.0.1:30041 -> 127.0.0.1:5004; request/reply, then client "
                 "sets SO_LINGER {1,0} and close() -> RST from client, no FIN"))
    S.append(Scenario(
        "refused", [5005],
        [[Conn("v4", 30051, 5005, "refused")], [Conn("v4", 30052, 5005, "refused")]],
        streams=2,
        checks=[("SYN from 30051", count(30051, 5005, ["syn"], ["ack"], 1)),
                ("RST,ACK to 30051", has(5005, 30051, ["rst", "ack"])),
                ("SYN from 30052", count(30052, 5005, ["syn"], ["ack"], 1)),
                ("RST,ACK to 30052", has(5005, 30052, ["rst", "ack"])),
                ("no SYN,ACK", lambda pk: not any(p["syn"] and p["ack"] for p in pk))],
        describe="2 connection attempts 127.0.0.1:30051 and :30052 -> 127.0.0.1:5005 (no listener); "
                 "each SYN answered by RST,ACK"))
    S.append(Scenario(
        "unread_data_rst", [5006],
        [[Conn("v4", 30061, 5006, "unread_rst")]],
        streams=1,
        checks=[("client data", has(30061, 5006, [], [], data=True)),
                ("RST from server", has(5006, 30061, ["rst"])),
                ("no FIN from server", lambda pk: not has(5006, 30061, ["fin"])(pk))],
        describe="1 connection 127.0.0.1:30061 -> 127.0.0.1:5006; client sends 32 B the server "
                 "never reads; server close() -> kernel sends RST (unread data) instead of FIN"))
    S.append(Scenario(
        "ipv6", [5007],
        [[Conn("v6", 30071, 5007, "client_first")]],
        streams=1,
        checks=[("IPv6 only", ip_versions([6])),
                ("client sends the first FIN", first_fin_from(30071)),
                ("no RST", none_with("rst"))],
        describe="1 connection [::1]:30071 -> [::1]:5007; request/reply; client closes first"))
    for name, port, lt in (("any_sll", 5008, "LINUX_SLL"), ("any_sll2", 5009, "LINUX_SLL2")):
        c4, c6 = 30000 + (port - 5000) * 10 + 1, 30000 + (port - 5000) * 10 + 2
        S.append(Scenario(
            name, [port],
            [[Conn("v4", c4, port, "client_first")], [Conn("v6", c6, port, "server_first")]],
            iface="any", linktype=lt, streams=2,
            checks=[("IPv4 and IPv6", ip_versions([4, 6])),
                    ("v4 conn: client FIN first", stream_first_fin(0, c4)),
                    ("v6 conn: server FIN first", stream_first_fin(1, port)),
                    ("no RST", none_with("rst"))],
            describe="tcpdump -i any -y %s; 2 connections: 127.0.0.1:%d -> 127.0.0.1:%d "
                     "(client closes first), then [::1]:%d -> [::1]:%d (server closes first)"
                     % (lt, c4, port, c6, port)))
    S.append(Scenario(
        "port_reuse", [5010],
        [[Conn("v4", 30101, 5010, "server_first")], [Conn("v4", 30101, 5010, "server_first")]],
        streams=2,
        checks=[("2 SYNs from the same client port 30101", count(30101, 5010, ["syn"], ["ack"], 2)),
                ("2 SYN,ACKs", count(5010, 30101, ["syn", "ack"], [], 2)),
                ("stream 0: server FIN first", stream_first_fin(0, 5010)),
                ("stream 1: server FIN first", stream_first_fin(1, 5010)),
                ("no RST", none_with("rst"))],
        describe="2 consecutive connections with the SAME 4-tuple 127.0.0.1:30101 -> 127.0.0.1:5010 "
                 "(client SO_REUSEADDR + bind); server closes first both times, so the server's "
                 "TIME-WAIT is recycled by the second SYN"))
    S.append(Scenario(
        "several_conns", [5011],
        [[Conn("v4", 30111, 5011, "client_first")],
         [Conn("v4", 30112, 5011, "server_first")],
         [Conn("v4", 30113, 5011, "half_close")],
         [Conn("v4", 30114, 5011, "server_rst")],
         [Conn("v4", 30115, 5011, "client_rst")],
         # parallel, staggered by 70 ms so that the interleaving of the two
         # connections' segments is the same from run to run
         [Conn("v4", 30116, 5011, "client_first"), Conn("v4", 30117, 5011, "server_first", 0.07)]],
        streams=7,
        checks=[("5 sequential + 2 parallel SYNs",
                 lambda pk: sorted(p["src"] for p in pk if p["syn"] and not p["ack"])
                 == list(range(30111, 30118))),
                ("30111 client FIN first", stream_first_fin(0, 30111)),
                ("30112 server FIN first", stream_first_fin(1, 5011)),
                ("30113 half close", stream_first_fin(2, 30113)),
                ("30114 RST from server", stream_has_rst_from(3, 5011)),
                ("30115 RST from client", stream_has_rst_from(4, 30115)),
                ("parallel conns overlap (2nd SYN before 1st FIN)",
                 lambda pk: min(p["frame"] for p in pk if p["fin"] and p["stream"] in (5, 6))
                 > max(p["frame"] for p in pk if p["syn"] and not p["ack"]))],
        describe="7 connections to 127.0.0.1:5011 from client ports 30111..30117: sequential "
                 "30111 client-first close, 30112 server-first close, 30113 client half-close, "
                 "30114 server RST (SO_LINGER 0), 30115 client RST (SO_LINGER 0); then 30116 "
                 "(client-first) and 30117 (server-first) in parallel"))
    return S


# ---------------------------------------------------------------------------
# socket behaviour
# ---------------------------------------------------------------------------

def family(fam):
    return socket.AF_INET if fam == "v4" else socket.AF_INET6


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError("EOF after %d of %d bytes" % (len(buf), n))
        buf += d
    return buf


def recv_until_eof(s):
    buf = b""
    while True:
        d = s.recv(4096)
        if not d:
            return buf
        buf += d


def linger0(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def expect_reset(s, who, log):
    try:
        d = s.recv(4096)
        log("%s: recv returned %r instead of a reset" % (who, d))
    except ConnectionResetError:
        log("%s: got ECONNRESET as expected" % who)


REQ = b"GET /hello 0000\n"     # 16 bytes; port is patched in
RESP = b"HELLO FROM 0000\n"    # 16 bytes
CHUNK = b"chunk #0 of 4..\n"   # 16 bytes
UNREAD = b"data nobody will ever read.....\n"  # 32 bytes


def tag(msg, port):
    return msg.replace(b"0000", b"%04d" % (port % 10000))


def client_side(c, log, retries=0):
    """Runs the client end of connection c. Returns when the socket is closed."""
    attempt = 0
    time.sleep(c.delay)
    while True:
        s = socket.socket(family(c.fam), socket.SOCK_STREAM)
        s.settimeout(SOCK_TIMEOUT)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((c.addr(), c.cport))
            s.connect((c.addr(), c.sport))
            break
        except ConnectionRefusedError:
            s.close()
            if c.mode == "refused":
                log("client %d: connect refused (expected)" % c.cport)
                return
            raise
        except OSError as e:
            s.close()
            attempt += 1
            log("client %d: bind/connect failed: %s (attempt %d)" % (c.cport, e, attempt))
            if attempt > retries:
                raise
            time.sleep(1.1)
    if c.mode == "refused":
        s.close()
        raise RuntimeError("connect to %d unexpectedly succeeded" % c.sport)
    time.sleep(STEP)  # ESTAB
    m = c.mode
    if m == "unread_rst":
        s.sendall(UNREAD)
        expect_reset(s, "client %d" % c.cport, log)
        s.close()
        return
    s.sendall(tag(REQ, c.cport))
    if m == "half_close":
        s.shutdown(socket.SHUT_WR)          # FIN-WAIT-1 -> FIN-WAIT-2
        data = recv_until_eof(s)            # server data arrives while half-closed
        log("client %d: received %d bytes after shutdown(SHUT_WR)" % (c.cport, len(data)))
        time.sleep(STEP)                    # TIME-WAIT already (peer FIN received)
        s.close()
        return
    recv_exact(s, len(RESP))
    if m == "client_first":
        time.sleep(STEP)
        s.close()                           # FIN-WAIT-1 -> FIN-WAIT-2 -> TIME-WAIT
    elif m == "server_first":
        rest = recv_until_eof(s)            # server FIN -> CLOSE-WAIT
        assert rest == b"", rest
        time.sleep(STEP)
        s.close()                           # LAST-ACK -> CLOSED
    elif m == "client_rst":
        time.sleep(STEP)
        linger0(s)
        s.close()                           # RST
    elif m == "server_rst":
        expect_reset(s, "client %d" % c.cport, log)
        s.close()
    else:
        raise ValueError(m)


def server_side(conn, c, log):
    """Runs the server end of an accepted connection for client spec c."""
    conn.settimeout(SOCK_TIMEOUT)
    m = c.mode
    try:
        if m == "unread_rst":
            time.sleep(3 * STEP)            # client's data arrives meanwhile, never read
            conn.close()                    # unread data -> RST instead of FIN
            return
        if m == "half_close":
            req = recv_until_eof(conn)      # request + FIN -> CLOSE-WAIT
            log("server: got %d request bytes then EOF from %d" % (len(req), c.cport))
            time.sleep(STEP)
            for i in range(4):
                conn.sendall(CHUNK.replace(b"#0", b"#%d" % (i + 1)))
                time.sleep(STEP)
            conn.close()                    # LAST-ACK -> CLOSED
            return
        recv_exact(conn, len(REQ))
        conn.sendall(tag(RESP, c.cport))
        if m == "client_first":
            rest = recv_until_eof(conn)     # client FIN -> CLOSE-WAIT
            assert rest == b"", rest
            time.sleep(STEP)
            conn.close()                    # LAST-ACK -> CLOSED
        elif m == "server_first":
            time.sleep(STEP)
            conn.close()                    # FIN-WAIT-1 -> FIN-WAIT-2 -> TIME-WAIT
        elif m == "client_rst":
            expect_reset(conn, "server (peer %d)" % c.cport, log)
            conn.close()
        elif m == "server_rst":
            time.sleep(STEP)
            linger0(conn)
            conn.close()                    # RST
        else:
            raise ValueError(m)
    finally:
        conn.close()
        c.server_done.set()


# ---------------------------------------------------------------------------
# tcpdump and ss
# ---------------------------------------------------------------------------

class Tcpdump:
    def __init__(self, path, iface, linktype, bpf):
        self.path = path
        self.cmd = ["tcpdump", "-i", iface, "-U", "--immediate-mode", "-B", "32768", "-n", "-w", path]
        if linktype:
            self.cmd += ["-y", linktype]
        self.cmd.append(bpf)
        self.linktype = linktype
        self.lines = queue.Queue()
        self.stderr = []

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.time() + 10
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                self.proc.kill()
                raise RuntimeError("tcpdump did not start: %s" % self.stderr)
            if line is None:
                raise RuntimeError("tcpdump exited: %s" % self.stderr)
            if "listening on" in line:
                self.listening = line.strip()
                if self.linktype and ("link-type %s " % self.linktype) not in line:
                    raise RuntimeError("unexpected link type: %s" % line)
                break
        time.sleep(0.2)  # belt and braces: the filter is attached, give it a moment

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))
            self.lines.put(line)
        self.lines.put(None)

    def stop(self):
        time.sleep(0.3)  # let the last packets reach the capture
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(timeout=10)
        time.sleep(0.05)
        stats = {}
        for line in self.stderr:
            parts = line.split()
            if len(parts) >= 2 and parts[0].isdigit():
                stats[" ".join(parts[1:])] = int(parts[0])
        if rc != 0:
            raise RuntimeError("tcpdump exit %d: %s" % (rc, self.stderr))
        return stats


class SSPoller(SsTimeline):
    """ss -tanH on the host, recording each change of each socket."""

    def __init__(self, ss_filter, t0):
        super().__init__(t0, SS_PERIOD)
        self.cmd = ["ss", "-tanH", "state", "all", ss_filter]

    def snapshot(self):
        return subprocess.run(self.cmd, capture_output=True, text=True).stdout.splitlines()


def sockets_on(ports):
    filt = "( " + " or ".join("sport = :%d or dport = :%d" % (p, p) for p in ports) + " )"
    out = subprocess.run(["ss", "-tanH", "state", "all", filt], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if l.strip()]


def wait_clean(ports, timeout=75):
    t = time.time()
    left = sockets_on(ports)
    if left:
        print("  waiting for %d leftover socket(s) on %s to expire (TIME-WAIT lasts 60 s)..."
              % (len(left), ports), flush=True)
    while left:
        if time.time() - t > timeout:
            raise RuntimeError("sockets still present on %s: %s" % (ports, left))
        time.sleep(1)
        left = sockets_on(ports)


# ---------------------------------------------------------------------------
# running a scenario
# ---------------------------------------------------------------------------

def run_scenario(sc, outdir):
    path = os.path.join(outdir, sc.name + ".pcap")
    tmp = path + ".tmp"
    notes = sc.notes
    lock = threading.Lock()

    def log(msg):
        with lock:
            notes.append(msg)

    wait_clean(sc.ports)

    # listeners (created before the capture starts; listen() sends no packet)
    listeners = {}
    expected = {}   # (fam, sport) -> {cport: [conn specs in order]}
    for c in sc.conns():
        if c.mode == "refused":
            continue
        key = (c.fam, c.sport)
        expected.setdefault(key, {}).setdefault(c.cport, []).append(c)
    for (fam, sport) in expected:
        l = socket.socket(family(fam), socket.SOCK_STREAM)
        l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == "v6":
            l.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        l.bind((V4 if fam == "v4" else V6, sport))
        l.listen(16)
        l.settimeout(SOCK_TIMEOUT * 3)
        listeners[(fam, sport)] = l
    if any(c.mode == "refused" for c in sc.conns()):
        for p in sc.ports:
            assert not any("LISTEN" in l for l in sockets_on([p])), "port %d has a listener" % p

    td = Tcpdump(tmp, sc.iface, sc.linktype, sc.bpf())
    t0 = time.monotonic()
    td.start()
    poller = SSPoller(sc.ss_filter(), t0)
    poller.start()
    time.sleep(0.05)

    errors = []
    threads = []

    def guarded(fn, *a):
        def run():
            try:
                fn(*a)
            except Exception as e:  # noqa: BLE001
                errors.append("%s%r: %r" % (fn.__name__, a[:1], e))
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def acceptor(key):
        l = listeners[key]
        want = sum(len(v) for v in expected[key].values())
        for _ in range(want):
            conn, peer = l.accept()
            spec = expected[key][peer[1]].pop(0)
            threads.append(guarded(server_side, conn, spec, log))

    acc = [guarded(acceptor, k) for k in listeners]
    try:
        for phase in sc.phases:
            retries = 3 if sc.name == "port_reuse" else 0
            cts = [guarded(client_side, c, log, retries) for c in phase]
            for t in cts:
                t.join(SOCK_TIMEOUT * 4)
            # both ends must be finished before the next phase starts, so that
            # phases never overlap in the capture
            for c in phase:
                if c.mode != "refused" and not c.server_done.wait(SOCK_TIMEOUT * 2):
                    errors.append("server side of %r did not finish" % c)
            time.sleep(STEP)
        for t in acc:
            t.join(SOCK_TIMEOUT * 2)
        for t in list(threads):
            t.join(SOCK_TIMEOUT * 2)
        time.sleep(STEP)
    finally:
        for l in listeners.values():
            l.close()
        time.sleep(STEP)
        poller.stop()
        stats = td.stop()
    os.replace(tmp, path)
    st = os.stat(outdir)  # tcpdump drops privileges and writes as user tcpdump
    os.chown(path, st.st_uid, st.st_gid)
    if errors:
        raise RuntimeError("%s: %s" % (sc.name, errors))
    return path, td, poller, stats


def fmt_sock(key):
    return "%s -> %s" % key


def write_ss(sc, path, td, poller, stats):
    lines = []
    lines.append("# %s: kernel socket states seen by: ss -tanH state all '%s'"
                 % (os.path.basename(path), sc.ss_filter()))
    lines.append("# polled every ~%d ms (%d polls, max gap %.1f ms); transient states lasting "
                 "less than that can be missed" % (SS_PERIOD * 1000, poller.polls, poller.max_gap * 1000))
    lines.append("# capture: %s" % shlex.join(
        os.path.basename(path) if a == td.path else a for a in td.cmd))
    lines.append("# tcpdump: " + ", ".join("%d %s" % (v, k) for k, v in stats.items()))
    lines.append("# scenario: " + sc.describe)
    for n in sc.notes:
        lines.append("# note: " + n)
    lines.append("# format: LOCAL -> PEER  STATE... (gone = socket disappeared)  | last: STATE")
    for key in poller.order:
        seq = []
        last = None
        for _, st in poller.events[key]:
            seq.append(st if st is not None else "(gone)")
            if st is not None:
                last = st
        lines.append("%s  %s  | last: %s" % (fmt_sock(key), " ".join(seq), last))
    if not poller.order:
        lines.append("# (ss saw no socket at all: every state was shorter than one poll)")
    lines.append("")
    lines.append("# timeline (seconds since tcpdump start):")
    for t, key, st in poller.timeline:
        lines.append("#   %8.3f  %-40s %s" % (t, fmt_sock(key), st if st else "(gone)"))
    with open(path + ".ss.txt", "w") as f:
        f.write("\n".join(lines) + "\n")


def read_pkts(path):
    out = subprocess.run(
        ["tshark", "-r", path, "-T", "fields", "-E", "separator=/t",
         "-e", "frame.number", "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.dstport",
         "-e", "tcp.len", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.flags.fin",
         "-e", "tcp.flags.reset", "-e", "ip.version", "-e", "ipv6.version"],
        capture_output=True, text=True, check=True).stdout
    pkts = []
    for line in out.splitlines():
        f = line.split("\t")
        def b(x):
            return x in ("1", "True", "true")
        pkts.append(dict(frame=int(f[0]), stream=int(f[1]), src=int(f[2]), dst=int(f[3]),
                         len=int(f[4]), syn=b(f[5]), ack=b(f[6]), fin=b(f[7]), rst=b(f[8]),
                         ipv=6 if f[10] else 4))
    return pkts


def check(sc, path, stats):
    pkts = read_pkts(path)
    fails = []
    cap = stats.get("packets captured")
    if cap != len(pkts):
        fails.append("tcpdump said %s packets captured, file has %d" % (cap, len(pkts)))
    if stats.get("packets dropped by kernel", 0) != 0:
        fails.append("kernel dropped packets: %s" % stats)
    nstreams = len({p["stream"] for p in pkts})
    if sc.streams is not None and nstreams != sc.streams:
        fails.append("expected %d tshark streams, got %d" % (sc.streams, nstreams))
    # phases must not overlap: streams are numbered in order of appearance, so
    # give the first len(phase 0) streams phase 0, and so on
    phase_of, k = {}, 0
    for i, ph in enumerate(sc.phases):
        for _ in ph:
            phase_of[k] = i
            k += 1
    seq = [phase_of.get(p["stream"], -1) for p in pkts]
    if seq != sorted(seq):
        fails.append("phases overlap in the capture (a connection of a later phase "
                     "started before an earlier one finished)")
    for desc, fn in sc.checks:
        if not fn(pkts):
            fails.append("check failed: " + desc)
    return len(pkts), nstreams, fails


def derive(outdir):
    src = os.path.join(outdir, "several_conns.pcap")
    dst = os.path.join(outdir, "several_conns.pcapng")
    if os.path.exists(src):
        subprocess.run(["editcap", "-F", "pcapng", src, dst], check=True)
        print("derived %s" % dst)
    src = os.path.join(outdir, "normal_close_client.pcap")
    if os.path.exists(src):
        subprocess.run(["gzip", "-kn", "-f", src], check=True)
        st = os.stat(src)
        os.chown(src + ".gz", st.st_uid, st.st_gid)
        shutil.copyfile(src + ".gz", os.path.join(outdir, "gz_without_suffix.cap"))
        print("derived %s.gz and gz_without_suffix.cap" % src)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(root, "testdata", "real"))
    ap.add_argument("--only", nargs="*", help="scenario names to record (default: all)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("must run as root (tcpdump)")
    for tool in ("tcpdump", "ss", "tshark", "editcap"):
        if not shutil.which(tool):
            sys.exit("%s not found (apt-get install -y tcpdump tshark iproute2)" % tool)
    os.makedirs(args.out, exist_ok=True)
    failed = False
    scenarios = build_scenarios()
    if args.only:
        unknown = set(args.only) - {s.name for s in scenarios}
        if unknown:
            sys.exit("unknown scenario(s): %s" % ", ".join(sorted(unknown)))
    for sc in scenarios:
        if args.only and sc.name not in args.only:
            continue
        print("== %s" % sc.name, flush=True)
        path, td, poller, stats = run_scenario(sc, args.out)
        write_ss(sc, path, td, poller, stats)
        n, ns, fails = check(sc, path, stats)
        print("  %s: %d packets, %d bytes, %d tshark streams" % (path, n, os.path.getsize(path), ns))
        for key in poller.order:
            seq = " ".join(st if st else "(gone)" for _, st in poller.events[key])
            print("  ss %-40s %s" % (fmt_sock(key), seq))
        for note in sc.notes:
            print("  note: %s" % note)
        for f in fails:
            print("  FAIL: %s" % f)
            failed = True
    derive(args.out)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()

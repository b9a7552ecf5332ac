#!/usr/bin/env python3
"""Record the state machine's corner cases (issue 14) as real Linux traffic
between two network namespaces, plus the kernel's view of the socket states.

Setup (made here, removed at the end): namespaces t14c (client, 10.200.14.1)
and t14s (server, 10.200.14.2) joined by the veth pair v14c/v14s with fixed MAC
addresses and every offload off, so the capture shows the segments TCP sent
with correct checksums. Only those two addresses are used.

Each scenario runs real sockets in the namespaces (threads that setns(2) into
them) and, where Linux would never send a segment by itself, writes that one
segment with a raw socket (IP_HDRINCL) from the namespace it pretends to come
from: a wrong-ACK SYN-ACK, scan probes, a client giving up with RST, an
injected RST. Injected segments are made as soon as an AF_PACKET sniffer in the
namespace sees what they answer. tcpdump runs in the client namespace on v14c
(`tcpdump -i v14c -U --immediate-mode -n -w FILE FILTER`); ss is polled in both
namespaces every ~10 ms and written next to the capture as FILE.ss.txt (the
format of scripts/record_loopback.py, read by tests/kernel_states.rs).

Writes into testdata/real/ (see testdata/README.md for what each shows):
  bad_syn_ack.pcap        corner 1: a SYN-ACK with a wrong ACK, the client's RST, the real handshake
  scan_probes.pcap        corner 2: null/FIN/XMAS/ACK probes to a closed and an open port
  syn_client_rst.pcap     corner 3: SYNs nobody answers, then the client's RST (and one without)
  rst_after_close.pcap    corner 4: a full close, then a RST that ends TIME_WAIT
  tfo.pcap                corner 5: TCP Fast Open accepted, and data on a SYN not accepted
  one_sided.pcap          corner 6: one connection seen client->server only, one server->client only
  cut_after_fin.pcap      corner 7: a client-first close whose capture starts after the client's FIN
  out_of_window.pcap      corner 8: a FIN 5 MB past the window; a handshake ACK 100000 bytes past it
  rst_below_rcv_nxt.pcap  corner 9 and 11: a RST below data delivered; an in-window RST challenged
  injected_rst.pcap       corner 10: RSTs injected before the real SYN-ACK (bad TSecr, bad ACK, good)

Usage (root): scripts/record_corners.py [--only NAME ...]; then scripts/tshark_golden.sh.
Only the Python standard library is used.
"""

import argparse
import ctypes
import os
import random
import shlex
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

from ss_timeline import SsTimeline

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "real")
CNS, SNS = "t14c", "t14s"
CIF, SIF = "v14c", "v14s"
CIP, SIP = "10.200.14.1", "10.200.14.2"
STEP = 0.1
SS_PERIOD = 0.01
CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def ns(name, *cmd, check=True):
    return sh("ip", "netns", "exec", name, *cmd, check=check)


# ---------------------------------------------------------------------------
# namespaces
# ---------------------------------------------------------------------------

def setup():
    teardown()
    sh("ip", "netns", "add", CNS)
    sh("ip", "netns", "add", SNS)
    sh("ip", "link", "add", CIF, "type", "veth", "peer", "name", SIF)
    sh("ip", "link", "set", CIF, "netns", CNS)
    sh("ip", "link", "set", SIF, "netns", SNS)
    for name, iface, ip, mac in ((CNS, CIF, CIP, "02:00:00:00:14:01"), (SNS, SIF, SIP, "02:00:00:00:14:02")):
        ns(name, "ip", "link", "set", "lo", "up")
        ns(name, "ip", "link", "set", iface, "address", mac)
        ns(name, "ip", "addr", "add", ip + "/24", "dev", iface)
        ns(name, "ip", "link", "set", iface, "up")
        ns(name, "ethtool", "-K", iface, "tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off",
           check=False)
    # Static neighbours: no ARP in the captures.
    ns(CNS, "ip", "neigh", "add", SIP, "lladdr", "02:00:00:00:14:02", "dev", CIF, "nud", "permanent")
    ns(SNS, "ip", "neigh", "add", CIP, "lladdr", "02:00:00:00:14:01", "dev", SIF, "nud", "permanent")
    time.sleep(0.5)


def teardown():
    for name in (CNS, SNS):
        sh("ip", "netns", "del", name, check=False)


class InNs:
    """Moves the calling thread into a namespace (setns(2) is per thread);
    sockets made inside belong to it."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open("/run/netns/" + self.name, os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns " + self.name)
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc):
        libc.setns(self.back, CLONE_NEWNET)
        os.close(self.back)


def in_thread(name, fn, *args):
    """Runs fn(*args) in a thread inside namespace `name`; returns the thread
    and a list that receives the result or the exception."""
    box = []

    def run():
        try:
            with InNs(name):
                box.append(fn(*args))
        except BaseException as e:  # noqa: BLE001 - reported by the caller
            box.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def result(t, box, timeout=30):
    t.join(timeout)
    if t.is_alive():
        raise RuntimeError("thread did not finish")
    if box and isinstance(box[0], BaseException):
        raise box[0]
    return box[0] if box else None


# ---------------------------------------------------------------------------
# raw segments
# ---------------------------------------------------------------------------

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def opts(mss=None, ts=None, wscale=None, sack=False):
    o = b""
    if mss is not None:
        o += struct.pack("!BBH", 2, 4, mss)
    if sack:
        o += b"\x04\x02"
    if ts is not None:
        o += b"\x01\x01" + struct.pack("!BBII", 8, 10, ts[0], ts[1])
    if wscale is not None:
        o += b"\x01" + struct.pack("!BBB", 3, 3, wscale)
    while len(o) % 4:
        o += b"\x01"
    return o


def segment(src, sport, dst, dport, seq, ack, flags, window=64240, options=b"", payload=b""):
    off = (20 + len(options)) // 4
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      off << 4, flags, window, 0, 0) + options + payload
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.randrange(65536), 0x4000, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + tcp


def send_raw(pkt):
    """Sends an IP packet from the current thread's namespace."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        dst = socket.inet_ntoa(pkt[16:20])
        s.sendto(pkt, (dst, 0))
    finally:
        s.close()


class Sniffer:
    """Every TCP segment on an interface of the current thread's namespace."""

    def __init__(self, iface):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.s.bind((iface, 0))

    def next(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching segment")
            self.s.settimeout(left)
            frame = self.s.recv(65535)
            seg = parse(frame)
            if seg and pred(seg):
                return seg

    def close(self):
        self.s.close()


def parse(frame):
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 0xF) * 4
    total = struct.unpack("!H", frame[16:18])[0]
    t = frame[14 + ihl:14 + total]
    sport, dport, seq, ack, off, flags, window = struct.unpack("!HHIIBBH", t[:16])
    hl = (off >> 4) * 4
    seg = dict(src=socket.inet_ntoa(frame[26:30]), dst=socket.inet_ntoa(frame[30:34]), sport=sport,
               dport=dport, seq=seq, ack=ack, flags=flags, window=window, len=len(t) - hl, ts=None)
    o = t[20:hl]
    i = 0
    while i < len(o):
        kind = o[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(o):
            break
        n = o[i + 1]
        if kind == 8 and n == 10:
            seg["ts"] = struct.unpack("!II", o[i + 2:i + 10])
        i += max(n, 2)
    return seg


def from_port(port, flags_set=0, flags_clear=0, data=None):
    def pred(s):
        if s["sport"] != port or (s["flags"] & flags_set) != flags_set or s["flags"] & flags_clear:
            return False
        return data is None or (s["len"] > 0) == data
    return pred


# ---------------------------------------------------------------------------
# capture and ss
# ---------------------------------------------------------------------------

class Tcpdump:
    def __init__(self, path, bpf):
        self.path = path
        self.cmd = ["tcpdump", "-i", CIF, "-U", "--immediate-mode", "-n", "-w", path, bpf]

    def start(self):
        self.proc = subprocess.Popen(["ip", "netns", "exec", CNS] + self.cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        while True:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("tcpdump exited")
            if "listening on" in line:
                break
        self.err = []
        threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True).start()
        time.sleep(0.2)

    def stop(self):
        time.sleep(0.3)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)
        time.sleep(0.05)
        return [line.strip() for line in self.err if "packets" in line]


class SSPoller(SsTimeline):
    """ss -tanH in both namespaces, recording each change of each socket."""

    def __init__(self, ports, t0):
        super().__init__(t0, SS_PERIOD)
        self.filter = "( " + " or ".join("sport = :%d or dport = :%d" % (p, p) for p in ports) + " )"

    def snapshot(self):
        lines = []
        for name in (CNS, SNS):
            out = ns(name, "ss", "-tanH", "state", "all", self.filter, check=False).stdout
            lines.extend(out.splitlines())
        return lines


def write_ss(path, td, poller, stats, describe, notes):
    lines = ["# %s: kernel socket states seen by: ss -tanH state all '%s', in namespaces %s and %s"
             % (os.path.basename(path), poller.filter, CNS, SNS),
             "# polled every ~%d ms (%d polls, max gap %.1f ms); transient states lasting less than that "
             "can be missed" % (SS_PERIOD * 1000, poller.polls, poller.max_gap * 1000),
             "# capture: ip netns exec %s %s" % (CNS, shlex.join(
                 os.path.basename(path) if a == td.path else a for a in td.cmd)),
             "# tcpdump: " + "; ".join(stats),
             "# scenario: " + describe]
    lines += ["# note: " + n for n in notes]
    lines.append("# format: LOCAL -> PEER  STATE... (gone = socket disappeared)  | last: STATE")
    for key in poller.order:
        seq, last = [], None
        for _, st in poller.events[key]:
            seq.append(st if st is not None else "(gone)")
            last = st or last
        lines.append("%s -> %s  %s  | last: %s" % (key[0], key[1], " ".join(seq), last))
    lines += ["", "# timeline (seconds since tcpdump start):"]
    for t, key, st in poller.timeline:
        lines.append("#   %8.3f  %-40s %s" % (t, "%s -> %s" % key, st or "(gone)"))
    with open(path + ".ss.txt", "w") as f:
        f.write("\n".join(lines) + "\n")


def tshark_rows(path):
    out = sh("tshark", "-r", path, "-T", "fields", "-E", "separator=/t", "-e", "frame.number",
             "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.len",
             "-e", "tcp.flags", "-e", "tcp.seq_raw", "-e", "tcp.ack_raw").stdout
    rows = []
    for line in out.splitlines():
        f = line.split("\t")
        rows.append(dict(frame=int(f[0]), stream=int(f[1]), src=int(f[2]), dst=int(f[3]), len=int(f[4]),
                         flags=int(f[5], 16), seq=int(f[6]), ack=int(f[7])))
    return rows


def record(name, ports, bpf, run, checks, describe, ss=True):
    """Runs one scenario under tcpdump (and ss); retries up to 3 times until
    every check on the capture holds."""
    path = os.path.join(OUT, name + ".pcap")
    for attempt in range(3):
        notes = []
        td = Tcpdump(path, bpf)
        td.start()
        poller = SSPoller(ports, time.monotonic())
        if ss:
            poller.start()
        try:
            run(notes)
        finally:
            stats = td.stop()
            if ss:
                poller.stop()
        rows = tshark_rows(path)
        failed = [what for what, fn in checks if not fn(rows)]
        if not failed:
            st = os.stat(OUT)
            os.chown(path, st.st_uid, st.st_gid)  # tcpdump wrote it as its own user
            if ss:
                write_ss(path, td, poller, stats, describe, notes)
            print("%s: %d frames; %s" % (name, len(rows), "; ".join(notes) or "ok"))
            return rows
        print("%s: attempt %d failed: %s" % (name, attempt + 1, failed), file=sys.stderr)
        # Fresh namespaces: no TIME-WAIT socket of the failed attempt may
        # show up in the next one's ss view (or take its 4-tuple).
        setup()
    raise SystemExit("%s: giving up" % name)


# ---------------------------------------------------------------------------
# socket helpers
# ---------------------------------------------------------------------------

def listener(port, sockopts=()):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for level, opt, val in sockopts:
        s.setsockopt(level, opt, val)
    s.bind((SIP, port))
    s.listen(8)
    s.settimeout(15)
    return s


def client(cport):
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind((CIP, cport))
    c.settimeout(15)
    return c


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            break
        b += chunk
    return b


def serve_one(srv, reply=b"R" * 16, first_close=False, quickack_off=False, pause=0.0):
    """Accepts one connection: reads 16 bytes, replies, and closes after the
    client's EOF (or first, with `first_close`)."""
    c, _ = srv.accept()
    c.settimeout(15)
    if quickack_off:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
    req = recv_exact(c, 16)
    time.sleep(pause)
    c.sendall(reply)
    if not first_close:
        while c.recv(100):
            pass
        time.sleep(STEP)
    c.close()
    return req


def converse(c):
    """Client half of a request/reply with a client-first close."""
    c.sendall(b"Q" * 16)
    got = recv_exact(c, 16)
    time.sleep(STEP)
    c.close()
    return got


def iptables(nsname, action, rule):
    ns(nsname, "iptables", action, *rule)


def drop_syns(port):
    return ["INPUT", "-p", "tcp", "--dport", str(port), "--syn", "-j", "DROP"]


def has(pred):
    return lambda rows: any(pred(r) for r in rows)


def streams(n):
    return lambda rows: len({r["stream"] for r in rows}) == n


# ---------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------

def bad_syn_ack():
    port, cport = 6001, 41001
    bogus = {}

    def inject():
        sn = Sniffer(SIF)
        try:
            syn = sn.next(lambda s: s["dport"] == port and s["flags"] == SYN)
            isn = 0x5EED0000
            ts = (syn["ts"][0] + 7, syn["ts"][0]) if syn["ts"] else None
            bogus.update(ack=(syn["seq"] + 1001) & 0xFFFFFFFF, seq=isn)
            send_raw(segment(SIP, port, CIP, cport, isn, bogus["ack"], SYN | ACK,
                             options=opts(mss=1460, ts=ts, sack=True, wscale=7)))
        finally:
            sn.close()

    def run(notes):
        srv_t, srv_box = in_thread(SNS, lambda: serve_one(listener(port)))
        iptables(SNS, "-A", drop_syns(port))
        inj_t, inj_box = in_thread(SNS, inject)
        time.sleep(0.1)
        cl_t, cl_box = in_thread(CNS, lambda: converse_after_connect(cport, port))
        result(inj_t, inj_box)
        time.sleep(0.3)
        iptables(SNS, "-D", drop_syns(port))
        result(cl_t, cl_box)
        result(srv_t, srv_box)
        notes.append("the bogus SYN-ACK (seq %d) acknowledged the client's ISN + 1001" % bogus["seq"])

    checks = [
        ("the bogus SYN-ACK", has(lambda r: r["flags"] == SYN | ACK and r["seq"] == 0x5EED0000)),
        ("the client's RST at SEQ=SEG.ACK", has(lambda r: r["src"] == cport and r["flags"] & RST
                                                 and r["seq"] == bogus.get("ack"))),
        ("a real SYN-ACK", has(lambda r: r["flags"] == SYN | ACK and r["seq"] != 0x5EED0000)),
        ("both FINs", lambda rows: {r["src"] for r in rows if r["flags"] & FIN} == {cport, port}),
        ("one stream", streams(1)),
    ]
    record("bad_syn_ack", [port], "tcp port %d" % port, run, checks,
           "client %s:%d -> %s:%d. The server namespace drops the client's SYNs (iptables) while a raw socket "
           "there answers the first one with a SYN-ACK acknowledging ISN+1001 (wrong); the client's kernel "
           "answers with RST <SEQ=SEG.ACK> and stays in SYN-SENT (RFC 9293 3.10.7.3). The DROP rule is removed "
           "0.3 s later: the client's next SYN retransmission reaches the real listener, the handshake completes, "
           "16-byte request and reply, client closes first." % (CIP, cport, SIP, port))


def converse_after_connect(cport, port):
    c = client(cport)
    c.connect((SIP, port))
    return converse(c)


def scan_probes():
    closed_port, open_port = 6099, 6002
    probes = [("null", 0), ("FIN", FIN), ("XMAS", FIN | PSH | URG), ("ACK", ACK)]

    def run(notes):
        srv = None

        def hold():
            nonlocal srv
            srv = listener(open_port)
            time.sleep(3.0)
            srv.close()

        t, box = in_thread(SNS, hold)
        time.sleep(0.2)

        def probe_all():
            n = 0
            for port in (closed_port, open_port):
                for what, flags in probes:
                    cport = 41020 + n
                    n += 1
                    send_raw(segment(CIP, cport, SIP, port, 0x1000 * n, 0x2000 * n if flags & ACK else 0, flags,
                                     window=1024))
                    time.sleep(0.2)
        result(*in_thread(CNS, probe_all))
        result(t, box)
        notes.append("probes from client ports 41020-41023 to the closed port, 41024-41027 to the open one")

    def answered(cport):
        return has(lambda r: r["src"] in (6099, 6002) and r["dst"] == cport and r["flags"] & RST)

    checks = [("closed port answers %d" % p, answered(p)) for p in range(41020, 41024)]
    checks += [("open port drops %d" % p, lambda rows, p=p: not answered(p)(rows)) for p in range(41024, 41027)]
    checks += [("open port answers the ACK probe", answered(41027)), ("eight streams", streams(8))]
    record("scan_probes", [closed_port, open_port], "tcp port %d or tcp port %d" % (closed_port, open_port), run,
           checks,
           "raw probes from %s (ports 41020-41027) in the order null (no flags), FIN, XMAS (FIN+PSH+URG), ACK: "
           "first to port %d where nothing listens (each answered by the kernel's RST), then to port %d where a "
           "listener drops null/FIN/XMAS silently and answers the ACK probe with RST (RFC 9293 3.10.7.1-2)."
           % (CIP, closed_port, open_port), ss=False)


def syn_client_rst():
    port = 6003

    def attempt(cport, give_up_with_rst):
        sn = Sniffer(CIF)
        c = client(cport)
        c.setblocking(False)
        try:
            try:
                c.connect((SIP, port))
            except BlockingIOError:
                pass
            syn = sn.next(lambda s: s["sport"] == cport and s["flags"] == SYN)
            sn.next(lambda s: s["sport"] == cport and s["flags"] == SYN, timeout=5)  # a retransmission
            time.sleep(0.3)
            if give_up_with_rst:
                send_raw(segment(CIP, cport, SIP, port, syn["seq"] + 1, 0, RST, window=0))
            time.sleep(0.1)
        finally:
            c.close()
            sn.close()

    def run(notes):
        iptables(SNS, "-A", drop_syns(port))
        srv_t, srv_box = in_thread(SNS, lambda: (listener(port), time.sleep(4.5)))
        try:
            result(*in_thread(CNS, attempt, 41004, False))
            result(*in_thread(CNS, attempt, 41003, True))
        finally:
            iptables(SNS, "-D", drop_syns(port))
        result(srv_t, srv_box)
        notes.append("the server namespace dropped every SYN: the listener never saw them")

    checks = [("client RST", has(lambda r: r["src"] == 41003 and r["flags"] == RST)),
              ("no answer", lambda rows: all(r["src"] != port for r in rows)),
              ("two streams", streams(2))]
    record("syn_client_rst", [port], "tcp port %d" % port, run, checks,
           "two connect() attempts from %s to %s:%d whose SYNs the server namespace drops (iptables): from port "
           "41004 the client sends its SYN and one retransmission, then close() (Linux sends nothing more); from "
           "port 41003 the same, then a raw RST <SEQ=ISS+1> from the client's port, as a client giving up with "
           "RST would send." % (CIP, SIP, port))


def rst_after_close():
    port, cport = 6004, 41005
    last = {}

    def watch():
        sn = Sniffer(CIF)
        try:
            sfin = sn.next(lambda s: s["sport"] == port and s["flags"] & FIN)
            last["ack"] = sn.next(lambda s: s["sport"] == cport and s["flags"] == ACK
                                  and s["ack"] == (sfin["seq"] + sfin["len"] + 1) & 0xFFFFFFFF)
        finally:
            sn.close()

    def run(notes):
        srv = None

        def serve():
            nonlocal srv
            srv = listener(port)
            serve_one(srv)
            time.sleep(1.5)
            srv.close()

        srv_t, srv_box = in_thread(SNS, serve)
        w_t, w_box = in_thread(CNS, watch)
        time.sleep(0.2)
        result(*in_thread(CNS, converse_after_connect, cport, port))
        result(w_t, w_box)
        time.sleep(0.3)
        a = last["ack"]
        # The TIME_WAIT side's last ACK again (as a network duplicate would
        # bring it): the server, CLOSED, answers it with RST.
        result(*in_thread(CNS, lambda: send_raw(segment(CIP, cport, SIP, port, a["seq"], a["ack"], ACK,
                                                           window=a["window"]))))
        time.sleep(0.3)
        result(srv_t, srv_box)
        notes.append("the duplicate of the client's last ACK was answered by the server kernel's RST")

    checks = [("server RST after the close", has(lambda r: r["src"] == port and r["flags"] & RST)),
              ("both FINs", lambda rows: {r["src"] for r in rows if r["flags"] & FIN} == {cport, port}),
              ("one stream", streams(1))]
    record("rst_after_close", [port], "tcp port %d" % port, run, checks,
           "client %s:%d -> %s:%d: request/reply, client closes first, server closes after EOF; 0.3 s later, "
           "with the client in TIME-WAIT and the server's socket gone, a raw copy of the client's last ACK is "
           "sent again; the server kernel answers it with RST <SEQ=SEG.ACK>, which ends the client's TIME-WAIT "
           "(net.ipv4.tcp_rfc1337=0, RFC 9293 3.10.7.4)." % (CIP, cport, SIP, port))


def tfo():
    tfo_port, plain_port = 6005, 6006
    TCP_FASTOPEN_NO_COOKIE = 34

    def run(notes):
        ns(CNS, "sysctl", "-qw", "net.ipv4.tcp_fastopen=1")
        ns(SNS, "sysctl", "-qw", "net.ipv4.tcp_fastopen=2")

        def serve():
            a = listener(tfo_port, [(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 5)])
            b = listener(plain_port)
            for s in (a, a, b):
                serve_one(s)
            a.close()
            b.close()

        srv_t, srv_box = in_thread(SNS, serve)
        time.sleep(0.2)

        def fastopen(cport, port, no_cookie=False):
            c = client(cport)
            if no_cookie:
                c.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN_NO_COOKIE, 1)
            c.settimeout(None)  # a timeout makes the socket non-blocking: EINPROGRESS
            c.sendto(b"Q" * 16, socket.MSG_FASTOPEN, (SIP, port))
            c.settimeout(15)
            got = recv_exact(c, 16)
            time.sleep(STEP)
            c.close()
            return got

        for cport, port, nc in ((41006, tfo_port, False), (41007, tfo_port, False), (41008, plain_port, True)):
            result(*in_thread(CNS, fastopen, cport, port, nc))
            time.sleep(0.3)
        result(srv_t, srv_box)
        notes.append("client net.ipv4.tcp_fastopen=1, server net.ipv4.tcp_fastopen=2")

    checks = [("SYN with data accepted", has(lambda r: r["src"] == 41007 and r["flags"] == SYN and r["len"] == 16)),
              ("SYN with data not accepted", has(lambda r: r["src"] == 41008 and r["flags"] == SYN and r["len"] == 16)),
              ("cookie request without data", has(lambda r: r["src"] == 41006 and r["flags"] == SYN and r["len"] == 0)),
              ("three streams", streams(3))]
    record("tfo", [tfo_port, plain_port], "tcp port %d or tcp port %d" % (tfo_port, plain_port), run, checks,
           "TCP Fast Open between %s and %s: 41006 -> %d (listener with TCP_FASTOPEN) asks for a cookie (SYN "
           "without data); 41007 -> %d sends its 16-byte request on the SYN with that cookie, and the SYN-ACK "
           "acknowledges it (accepted); 41008 -> %d (listener without TCP_FASTOPEN) sends it on the SYN with "
           "TCP_FASTOPEN_NO_COOKIE, the SYN-ACK acknowledges only the SYN and the client sends the data again "
           "after the handshake. Each: 16-byte reply, client closes first."
           % (CIP, SIP, tfo_port, tfo_port, plain_port))


def one_sided():
    port = 6007

    def run(notes):
        def serve():
            s = listener(port)
            serve_one(s)
            serve_one(s)
            s.close()

        srv_t, srv_box = in_thread(SNS, serve)
        time.sleep(0.2)
        for cport in (41009, 41010):
            result(*in_thread(CNS, converse_after_connect, cport, port))
            time.sleep(0.3)
        result(srv_t, srv_box)

    checks = [("41009 client->server only", lambda rows: all(r["dst"] == port for r in rows if 41009 in (r["src"], r["dst"]))),
              ("41010 server->client only", lambda rows: all(r["src"] == port for r in rows if 41010 in (r["src"], r["dst"]))),
              ("two streams", streams(2))]
    record("one_sided", [port], "(tcp src port 41009 and tcp dst port %d) or (tcp src port %d and tcp dst port 41010)"
           % (port, port), run, checks,
           "two ordinary connections %s:41009 and :41010 -> %s:%d (request/reply, client closes first), captured "
           "through a filter that keeps only the client->server direction of the first and only the "
           "server->client direction of the second, as a tap on one direction or asymmetric routing would."
           % (CIP, SIP, port), ss=True)


def cut_after_fin():
    port, cport = 6008, 41011
    full = os.path.join(OUT, "cut_after_fin_full.pcap")

    def run(notes):
        srv_t, srv_box = in_thread(SNS, lambda: serve_one(listener(port)))
        time.sleep(0.2)
        result(*in_thread(CNS, converse_after_connect, cport, port))
        result(srv_t, srv_box)

    rows = record("cut_after_fin_full", [port], "tcp port %d" % port, run,
                  [("client FIN first", lambda rows: next(r for r in rows if r["flags"] & FIN)["src"] == cport)],
                  "the whole of cut_after_fin.pcap's connection", ss=False)
    fin = next(r["frame"] for r in rows if r["flags"] & FIN)
    out = os.path.join(OUT, "cut_after_fin.pcap")
    sh("editcap", "-F", "pcap", "-r", full, out, "%d-%d" % (fin + 1, len(rows)))
    os.remove(full)
    st = os.stat(OUT)
    os.chown(out, st.st_uid, st.st_gid)
    print("cut_after_fin: kept frames %d-%d of %d" % (fin + 1, len(rows), len(rows)))


def out_of_window():
    port = 6009

    def fin_far_ahead(cport):
        sn = Sniffer(CIF)
        c = client(cport)
        try:
            c.connect((SIP, port))
            c.sendall(b"Q" * 16)
            recv_exact(c, 16)
            ack = sn.next(lambda s: s["sport"] == cport and s["flags"] & ACK and s["ack"] != 0
                          and s["len"] == 0 and s["seq"] != 0)
            time.sleep(STEP)
            # A FIN 5 MB past everything the client sent (and the server's window).
            send_raw(segment(CIP, cport, SIP, port, ack["seq"] + 5_000_000, ack["ack"], FIN | ACK,
                             window=ack["window"]))
            time.sleep(STEP)
            c.close()
            time.sleep(STEP)
        finally:
            sn.close()

    def raw_handshake(cport):
        sn = Sniffer(CIF)
        try:
            isn = 0x0C0FFEE0
            send_raw(segment(CIP, cport, SIP, port, isn, 0, SYN, window=64240, options=opts(mss=1460)))
            sa = sn.next(lambda s: s["sport"] == port and s["dport"] == cport and s["flags"] == SYN | ACK)
            time.sleep(STEP)
            # The handshake's ACK, 100000 bytes past the server's RCV.NXT: not acceptable.
            send_raw(segment(CIP, cport, SIP, port, isn + 1 + 100_000, sa["seq"] + 1, ACK, window=64240))
            sn.next(lambda s: s["sport"] == port and s["dport"] == cport and s["flags"] == ACK, timeout=3)
            time.sleep(STEP)
            send_raw(segment(CIP, cport, SIP, port, isn + 1, sa["seq"] + 1, ACK, window=64240))
            data = sn.next(lambda s: s["sport"] == port and s["dport"] == cport and s["len"] > 0)
            nxt = data["seq"] + data["len"]
            fin = data if data["flags"] & FIN else sn.next(
                lambda s: s["sport"] == port and s["dport"] == cport and s["flags"] & FIN)
            nxt = fin["seq"] + fin["len"] + 1
            time.sleep(STEP)
            send_raw(segment(CIP, cport, SIP, port, isn + 1, nxt, FIN | ACK, window=64240))
            time.sleep(0.3)
        finally:
            sn.close()

    def run(notes):
        cport2 = 41013
        # The client namespace has no socket for the raw handshake: keep its
        # kernel from resetting the server's segments.
        rst_rule = ["OUTPUT", "-p", "tcp", "--sport", str(cport2), "--tcp-flags", "RST", "RST", "-j", "DROP"]
        iptables(CNS, "-A", rst_rule)

        def serve():
            s = listener(port)
            serve_one(s)
            c, _ = s.accept()
            c.sendall(b"R" * 16)
            c.close()
            time.sleep(1.0)
            s.close()

        srv_t, srv_box = in_thread(SNS, serve)
        time.sleep(0.2)
        try:
            result(*in_thread(CNS, fin_far_ahead, 41012))
            time.sleep(0.3)
            result(*in_thread(CNS, raw_handshake, cport2))
        finally:
            iptables(CNS, "-D", rst_rule)
        result(srv_t, srv_box)

    checks = [("the FIN far ahead", has(lambda r: r["src"] == 41012 and r["flags"] & FIN and r["len"] == 0)),
              ("the ACK far ahead", has(lambda r: r["src"] == 41013 and r["flags"] == ACK)),
              ("two streams", streams(2))]
    record("out_of_window", [port], "tcp port %d" % port, run, checks,
           "two connections to %s:%d. From %s:41012 (a real socket): request/reply, then a raw FIN,ACK from the "
           "client's port 5,000,000 bytes past its next sequence number (the server's window is 64 KB): the server "
           "kernel answers with a duplicate ACK and ignores it; then the real close. From :41013 a raw client: SYN, "
           "the server's SYN-ACK, an ACK 100,000 bytes past the server's RCV.NXT (the server stays in SYN-RECV and "
           "answers with an ACK), then the right ACK; the server sends 16 bytes and closes, the raw client answers "
           "FIN,ACK." % (SIP, port, CIP))


def rst_below_rcv_nxt():
    port = 6010

    def below(cport):
        sn = Sniffer(CIF)
        c = client(cport)
        try:
            c.connect((SIP, port))
            c.sendall(b"Q" * 16)
            data = sn.next(from_port(cport, data=True))
            # At once, before the server's delayed ACK: a RST at the data's
            # first byte, which the server's last ACK named but its RCV.NXT
            # has passed.
            send_raw(segment(CIP, cport, SIP, port, data["seq"], 0, RST, window=0))
            recv_exact(c, 16)
            time.sleep(STEP)
            c.close()
        finally:
            sn.close()

    def challenged(cport):
        sn = Sniffer(CIF)
        c = client(cport)
        try:
            c.connect((SIP, port))
            c.sendall(b"Q" * 16)
            recv_exact(c, 16)
            ack = sn.next(lambda s: s["sport"] == cport and s["flags"] == ACK and s["len"] == 0
                          and s["seq"] != 0, timeout=3)
            time.sleep(STEP)
            send_raw(segment(CIP, cport, SIP, port, ack["seq"] + 100, 0, RST, window=0))
            time.sleep(STEP)
            c.close()
        finally:
            sn.close()

    def run(notes):
        def serve():
            s = listener(port)
            serve_one(s, quickack_off=True, pause=0.3)
            serve_one(s)
            s.close()

        srv_t, srv_box = in_thread(SNS, serve)
        time.sleep(0.2)
        result(*in_thread(CNS, below, 41014))
        time.sleep(0.3)
        result(*in_thread(CNS, challenged, 41018))
        result(srv_t, srv_box)

    def rst_before_ack(rows):
        mine = [r for r in rows if 41014 in (r["src"], r["dst"])]
        data = next(i for i, r in enumerate(mine) if r["src"] == 41014 and r["len"] > 0)
        rst = next((i for i, r in enumerate(mine) if r["flags"] & RST), None)
        acked = next((i for i, r in enumerate(mine) if r["src"] == port and r["ack"] >= mine[data]["seq"] + 16), None)
        return rst is not None and acked is not None and data < rst < acked

    checks = [("RST between the data and its ACK", rst_before_ack),
              ("both connections closed", lambda rows: len({r["src"] for r in rows if r["flags"] & FIN}) == 3),
              ("two streams", streams(2))]
    record("rst_below_rcv_nxt", [port], "tcp port %d" % port, run, checks,
           "two connections %s -> %s:%d. From 41014: the server's socket delays its ACKs (TCP_QUICKACK 0) and "
           "replies 0.3 s after the request; right after the client's 16-byte request a raw RST from the client's "
           "port at the request's first byte (where the server's last ACK pointed, below its RCV.NXT) is sent: "
           "Linux does not reset, answers with a challenge ACK, and the connection carries on. From 41018: after "
           "request/reply, a raw RST 100 bytes inside the server's window: the server sends a challenge ACK "
           "(RFC 5961) and stays open. Both close normally, client first." % (CIP, SIP, port))


def injected_rst():
    port = 6011

    def attempt(cport, kind):
        sn = Sniffer(SIF)
        try:
            syn = sn.next(lambda s: s["dport"] == port and s["sport"] == cport and s["flags"] == SYN)
            tsval = syn["ts"][0]
            if kind == "bad_tsecr":
                seg = segment(SIP, port, CIP, cport, 0x0BAD0000, syn["seq"] + 1, RST | ACK, window=0,
                              options=opts(ts=(12345, (tsval - 100000) & 0xFFFFFFFF)))
            elif kind == "bad_ack":
                seg = segment(SIP, port, CIP, cport, 0x0BAD0000, syn["seq"] + 5, RST | ACK, window=0)
            else:
                seg = segment(SIP, port, CIP, cport, 0x0BAD0000, syn["seq"] + 1, RST | ACK, window=0,
                              options=opts(ts=(12345, tsval)))
            send_raw(seg)
        finally:
            sn.close()

    def conn(cport):
        c = client(cport)
        try:
            c.connect((SIP, port))
        except ConnectionRefusedError:
            c.close()
            return "refused"
        return converse(c)

    def run(notes):
        def serve():
            s = listener(port)
            for _ in range(3):
                serve_one(s)
            s.close()

        srv_t, srv_box = in_thread(SNS, serve)
        time.sleep(0.2)
        for cport, kind in ((41015, "bad_tsecr"), (41016, "bad_ack"), (41017, "good")):
            iptables(SNS, "-A", drop_syns(port))
            inj = in_thread(SNS, attempt, cport, kind)
            time.sleep(0.1)
            cl = in_thread(CNS, conn, cport)
            result(*inj)
            time.sleep(0.3)
            iptables(SNS, "-D", drop_syns(port))
            got = result(*cl)
            notes.append("%d (%s): %s" % (cport, kind, "connect() refused" if got == "refused" else "completed"))
            time.sleep(0.3)
        # An ordinary connection after them.
        result(*in_thread(CNS, converse_after_connect, 41019, port))
        result(srv_t, srv_box)

    checks = [("three injected RSTs", lambda rows: sum(1 for r in rows if r["flags"] & RST and r["seq"] == 0x0BAD0000) == 3),
              ("41015 completed", has(lambda r: r["src"] == 41015 and r["flags"] & FIN)),
              ("41016 completed", has(lambda r: r["src"] == 41016 and r["flags"] & FIN)),
              ("41017 refused", lambda rows: not any(r["src"] == port and r["dst"] == 41017 and r["flags"] & SYN for r in rows)),
              ("four streams", streams(4))]
    record("injected_rst", [port], "tcp port %d" % port, run, checks,
           "connections %s -> %s:%d while the server namespace drops SYNs (iptables, removed 0.3 s after each "
           "injection): a raw socket there answers each SYN with a RST,ACK before the real SYN-ACK. 41015: the "
           "RST acknowledges the SYN but its timestamp echo (TSecr = the SYN's TSval - 100000) is not one the "
           "client sent: Linux discards it (PAWS, LINUX_MIB_PAWSACTIVEREJECTED), retransmits the SYN, the "
           "handshake completes. 41016: the RST acknowledges ISN+5: discarded (RFC 9293 3.10.7.3), the handshake "
           "completes. 41017: acknowledges the SYN and echoes its TSval: accepted, connect() fails with "
           "ECONNREFUSED. 41019: an ordinary connection. Completed ones: request/reply, client closes first."
           % (CIP, SIP, port))


SCENARIOS = [bad_syn_ack, scan_probes, syn_client_rst, rst_after_close, tfo, one_sided, cut_after_fin,
             out_of_window, rst_below_rcv_nxt, injected_rst]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (namespaces, tcpdump, iptables, raw sockets)")
    random.seed(14)
    setup()
    try:
        for sc in SCENARIOS:
            if not args.only or sc.__name__ in args.only:
                sc()
    finally:
        teardown()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Records real loopback traffic that exercises Wireshark's tcp.analysis flags.

Run as root (tcpdump, iptables); only 127.0.0.1 is used. Writes, into
testdata/real/:
  lossy_bulk.pcap   100 KB client->server with MSS 1000 (segmentation offload on lo
                    turned off for the run, needs ethtool) while iptables drops 4% of
                    the packets arriving at the server port and 4% of its ACKs:
                    retransmissions, duplicate ACKs, fast retransmissions, SACK.
  zero_window.pcap  a server with a 4 KB receive buffer that does not read for
                    2 s: zero windows, the kernel's window probes, window updates.
  keepalive.pcap    SO_KEEPALIVE with a 1 s idle time and interval, idle 3.5 s.
Captures use snaplen 96, so they stay small while the IP lengths keep every
segment's real size. Loss is random: re-running gives different files.
"""
import os
import socket
import subprocess
import sys
import threading
import time

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "real")


def tcpdump(path, port):
    p = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-s", "96", "-B", "32768", "-n", "-w", path, f"tcp port {port}"],
        stderr=subprocess.PIPE,
    )
    # Wait until tcpdump says it is listening.
    while b"listening" not in p.stderr.readline():
        pass
    return p


def stop(p):
    time.sleep(0.3)
    p.send_signal(2)
    p.wait()


def iptables(action, rules):
    for r in rules:
        subprocess.run(["iptables", action, "INPUT", "-i", "lo", "-p", "tcp"] + r, check=True)


def lossy_bulk():
    port = 5101
    rules = [
        ["--dport", str(port), "-m", "statistic", "--mode", "random", "--probability", "0.04", "-j", "DROP"],
        ["--sport", str(port), "-m", "statistic", "--mode", "random", "--probability", "0.04", "-j", "DROP"],
    ]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen()
    got = []

    def serve():
        c, _ = srv.accept()
        n = 0
        while True:
            b = c.recv(65536)
            if not b:
                break
            n += len(b)
        got.append(n)
        c.close()

    t = threading.Thread(target=serve)
    t.start()
    # Loopback segmentation offload would hand tcpdump 64 KB super-segments;
    # turn it off so the capture shows the segments TCP really sent.
    subprocess.run(["ethtool", "-K", "lo", "tso", "off", "gso", "off"], check=False)
    cap = tcpdump(os.path.join(OUT, "lossy_bulk.pcap"), port)
    iptables("-A", rules)
    try:
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1000)
        c.bind(("127.0.0.1", 31101))
        c.connect(("127.0.0.1", port))
        c.sendall(bytes(range(256)) * 400)
        c.close()
        t.join(timeout=30)
    finally:
        iptables("-D", rules)
        subprocess.run(["ethtool", "-K", "lo", "tso", "on", "gso", "on"], check=False)
    stop(cap)
    srv.close()
    print("lossy_bulk: server received", got)


def zero_window():
    port = 5102
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    srv.bind(("127.0.0.1", port))
    srv.listen()
    got = []

    def serve():
        c, _ = srv.accept()
        time.sleep(2.0)
        n = 0
        while True:
            b = c.recv(1024)
            if not b:
                break
            n += len(b)
            time.sleep(0.01)
        got.append(n)
        c.close()

    t = threading.Thread(target=serve)
    t.start()
    cap = tcpdump(os.path.join(OUT, "zero_window.pcap"), port)
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1000)
    c.bind(("127.0.0.1", 31102))
    c.connect(("127.0.0.1", port))
    c.sendall(b"z" * 60000)
    c.close()
    t.join(timeout=60)
    stop(cap)
    srv.close()
    print("zero_window: server received", got)


def keepalive():
    port = 5103
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen()

    def serve():
        c, _ = srv.accept()
        c.recv(100)
        c.sendall(b"pong")
        c.recv(100)
        c.close()

    t = threading.Thread(target=serve)
    t.start()
    cap = tcpdump(os.path.join(OUT, "keepalive.pcap"), port)
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    c.bind(("127.0.0.1", 31103))
    c.connect(("127.0.0.1", port))
    c.sendall(b"ping")
    c.recv(100)
    time.sleep(3.5)
    c.close()
    t.join(timeout=10)
    stop(cap)
    srv.close()
    print("keepalive: done")


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("run as root (tcpdump and iptables)")
    which = sys.argv[1:] or ["lossy_bulk", "zero_window", "keepalive"]
    for name in which:
        globals()[name]()
    for name in which:
        subprocess.run(["chown", "--reference", OUT, os.path.join(OUT, name + ".pcap")])

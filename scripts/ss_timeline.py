"""The kernel's view of TCP sockets over time, from `ss -tanH` snapshots taken
in a loop: each socket's state changes, in order, with their times. Shared by
the recording scripts (record_loopback.py on the host, record_corners.py in
network namespaces); a subclass says where a snapshot comes from."""

import threading
import time


class SsTimeline(threading.Thread):
    """Polls `snapshot()` every `period` seconds and records each change of
    each socket (keyed by local and peer address); state None = vanished."""

    def __init__(self, t0, period):
        super().__init__(daemon=True)
        self.t0 = t0
        self.period = period
        self.stop_ev = threading.Event()
        self.order = []        # socket keys in order of first appearance
        self.events = {}       # key -> [(t, state)]
        self.timeline = []     # (t, key, state)
        self.current = {}      # key -> state
        self.polls = 0
        self.max_gap = 0.0

    def snapshot(self):
        """The lines of `ss -tanH` output to look at now."""
        raise NotImplementedError

    def poll_once(self):
        seen = {}
        for line in self.snapshot():
            f = line.split()
            if len(f) >= 5:
                seen[(f[3], f[4])] = f[0]
        t = time.monotonic() - self.t0
        for key, st in seen.items():
            if self.current.get(key) != st:
                if key not in self.events:
                    self.order.append(key)
                    self.events[key] = []
                self.events[key].append((t, st))
                self.timeline.append((t, key, st))
                self.current[key] = st
        for key in list(self.current):
            if key not in seen and self.current[key] is not None:
                self.events[key].append((t, None))
                self.timeline.append((t, key, None))
                self.current[key] = None
        self.polls += 1

    def run(self):
        last = time.monotonic()
        while not self.stop_ev.is_set():
            start = time.monotonic()
            self.max_gap = max(self.max_gap, start - last)
            last = start
            self.poll_once()
            time.sleep(max(0.0, self.period - (time.monotonic() - start)))

    def stop(self):
        self.stop_ev.set()
        self.join()
        self.poll_once()  # the final picture

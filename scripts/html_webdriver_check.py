#!/usr/bin/env python3
"""Drives the HTML report in headless Chromium through chromedriver (W3C
WebDriver on localhost, Python's standard library only) as a person would:
scrolls the timeline, moves the pointer over a bar, reads the tooltip, clicks
the bar and checks the page jumped to that connection's ladder.

    html_webdriver_check.py PAGE.html [--last]

--last scrolls to the bottom of the timeline first (the virtualised rows must
follow). Prints one line per check; exit status 0 when all passed. Called by
scripts/html_browser_test.sh.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,1000",
]
ROW = 14  # pixels per timeline row, as in src/html/report.js


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.load(resp)["value"]
        except urllib.error.HTTPError as e:
            detail = json.load(e).get("value", {}).get("message", "")
            raise RuntimeError(f"{method} {path}: {e.code} {detail}") from None

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def script(self, source, *args):
        return self.s("POST", "/execute/sync", {"script": source, "args": list(args)})


def main():
    page = os.path.abspath(sys.argv[1])
    last = "--last" in sys.argv[2:]
    port = free_port()
    profile = tempfile.mkdtemp(prefix="tcpstate-wd-")
    driver = subprocess.Popen(["chromedriver", f"--port={port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wd = WebDriver(port)
    failed = 0

    def check(what, ok, got=""):
        nonlocal failed
        print(("ok: " if ok else "FAILED: ") + what + (f" ({got})" if got and not ok else ""))
        failed += 0 if ok else 1

    try:
        for _ in range(100):
            try:
                wd.call("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        caps = {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium", "args": FLAGS + [f"--user-data-dir={profile}"]}}
        wd.session = wd.call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})["sessionId"]
        wd.s("POST", "/url", {"url": "file://" + page})

        state = wd.script("""
            const root = document.querySelector('.timeline');
            const data = JSON.parse(root.querySelector("script[type='application/json']").textContent);
            return {rendered: document.documentElement.getAttribute('data-rendered'),
                    error: document.documentElement.getAttribute('data-script-error'),
                    rows: data.rows.length, first: data.rows[0], last: data.rows[data.rows.length - 1]};
        """)
        check("page rendered without script error", state["rendered"] == "yes" and state["error"] is None,
              json.dumps(state)[:200])
        row_index = state["rows"] - 1 if last else 0
        row = state["last"] if last else state["first"]
        if last:
            wd.script("const s = document.querySelector('.tl-scroll'); s.scrollTop = s.scrollHeight;")
            time.sleep(0.3)  # one animation frame for the redraw
        # Bring the timeline into view, then find where the wanted row is on screen.
        wd.script("document.querySelector('.timeline').scrollIntoView({block: 'center'});")
        time.sleep(0.2)
        canvas = wd.s("POST", "/element", {"using": "css selector", "value": ".tl-rows"})
        element = canvas  # the W3C element reference, as returned
        geo = wd.script("""
            const c = document.querySelector('.tl-rows'), s = document.querySelector('.tl-scroll');
            const r = c.getBoundingClientRect();
            return {w: r.width, h: r.height, scroll: s.scrollTop,
                    drawn: Number(document.querySelector('.timeline').getAttribute('data-drawn'))};
        """)
        check("the canvas follows the scroll position and drew rows", geo["drawn"] > 0, json.dumps(geo))
        y_in_canvas = row_index * ROW - geo["scroll"] + ROW / 2
        # WebDriver offsets are from the element's centre.
        x_off = int(geo["w"] / 4)
        y_off = int(y_in_canvas - geo["h"] / 2)
        pointer = {"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}}
        move = {"type": "pointerMove", "duration": 0,
                "origin": element, "x": x_off, "y": y_off}
        wd.s("POST", "/actions", {"actions": [dict(pointer, actions=[move])]})
        time.sleep(0.2)
        tip = wd.script("const t = document.querySelector('.tl-tip'); return {hidden: t.hidden, text: t.textContent};")
        want = f"stream {row[0]} "
        check(f"hovering row {row_index} shows its tooltip ({want.strip()}, endpoints, outcome)",
              not tip["hidden"] and tip["text"].startswith(want) and row[1] in tip["text"]
              and "outcome: " in tip["text"], json.dumps(tip))
        click = [move, {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}]
        wd.s("POST", "/actions", {"actions": [dict(pointer, actions=click)]})
        time.sleep(0.2)
        where = wd.script("""
            const t = document.querySelector(':target');
            return {hash: location.hash, target: t ? t.className : null,
                    top: t ? Math.round(t.getBoundingClientRect().top) : null};
        """)
        has_ladder = row[4] & 2
        if has_ladder:
            check("clicking the bar jumps to the connection's ladder",
                  where["hash"] == f"#conn-0-{row[0]}" and where["target"] == "ladder"
                  and 0 <= where["top"] < 1000, json.dumps(where))
        else:
            check("clicking a bar without a ladder stays put", where["hash"] == "", json.dumps(where))
    finally:
        if wd.session:
            try:
                wd.s("DELETE", "")
            except OSError:
                pass
        driver.terminate()
        driver.wait(timeout=30)
        subprocess.run(["rm", "-rf", profile], check=False)
    print(f"webdriver checks on {os.path.basename(page)}: {'all passed' if failed == 0 else f'{failed} failed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

// tcpstate HTML report: draws each capture's connection timeline onto a canvas.
//
// The data sit in a JSON script element inside each .timeline
// element (see src/html.rs for the row layout). Only the rows in view are
// drawn, on a canvas that follows the scroll position, so ten thousand
// connections cost no more than forty. Text for people goes through
// textContent, never innerHTML: file names and addresses are data.
(function () {
  "use strict";
  var ROW = 14;       // pixels per connection
  var GUTTER = 70;    // stream numbers on the left
  var PAD_RIGHT = 10;
  // Row fields, in the order src/html.rs writes them.
  var STREAM = 0, CLIENT = 1, SERVER = 2, OUTCOME = 3, FLAGS = 4, START = 5, END = 6,
      CSEGS = 7, SSEGS = 8, CODES = 9;
  var ABNORMAL = 1, HAS_LADDER = 2;

  function niceStep(range, ticks) {
    var raw = range / ticks;
    var mag = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (raw <= steps[i] * mag) { return steps[i] * mag; }
    }
    return 10 * mag;
  }

  function seconds(us) {
    return (us / 1e6).toFixed(6).replace(/\.?0+$/, "") + " s";
  }

  function sizeCanvas(canvas, w, h) {
    var dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(w * dpr));
    canvas.height = Math.max(1, Math.round(h * dpr));
    canvas.style.width = w + "px";
    canvas.style.height = h + "px";
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return ctx;
  }

  function setup(root) {
    var data = JSON.parse(root.querySelector("script[type='application/json']").textContent);
    var rows = data.rows;
    var scroll = root.querySelector(".tl-scroll");
    var spacer = root.querySelector(".tl-spacer");
    var canvas = root.querySelector(".tl-rows");
    var axis = root.querySelector(".tl-axis");
    var tip = root.querySelector(".tl-tip");
    var mode = root.querySelector("select");
    var span = Math.max(1, data.end);

    spacer.style.height = rows.length * ROW + "px";
    scroll.style.height = Math.min(rows.length * ROW + 2, 560) + "px";

    function ownScale() { return mode && mode.value === "own"; }

    // Horizontal position of time `t` (µs from capture start) for `row`.
    // States held past the last packet (TIME_WAIT) are clipped in "own" mode.
    function xOf(row, t, width) {
      var f = ownScale()
        ? (t - row[START]) / Math.max(1, row[END] - row[START])
        : t / span;
      return GUTTER + Math.min(1, Math.max(0, f)) * width;
    }

    function drawAxis() {
      var w = axis.clientWidth;
      var ctx = sizeCanvas(axis, w, 24);
      var width = w - GUTTER - PAD_RIGHT;
      ctx.clearRect(0, 0, w, 24);
      ctx.fillStyle = "#66707a";
      ctx.strokeStyle = "#b0b8c0";
      ctx.font = "11px system-ui, sans-serif";
      ctx.textBaseline = "top";
      if (ownScale()) {
        ctx.fillText("start", GUTTER, 4);
        ctx.textAlign = "right";
        ctx.fillText("end of each connection", GUTTER + width, 4);
        ctx.textAlign = "left";
        return;
      }
      var step = niceStep(span, Math.max(2, Math.floor(width / 110)));
      for (var t = 0; t <= span + 1e-9; t += step) {
        var x = Math.round(GUTTER + (t / span) * width) + 0.5;
        ctx.beginPath();
        ctx.moveTo(x, 16);
        ctx.lineTo(x, 24);
        ctx.stroke();
        ctx.fillText(seconds(t), x + 2, 3);
      }
    }

    function drawSegments(ctx, row, segs, y, h, width) {
      for (var i = 0; i + 2 < segs.length; i += 3) {
        var x0 = xOf(row, segs[i + 1], width);
        var x1 = xOf(row, segs[i + 2], width);
        ctx.fillStyle = data.colors[segs[i]];
        ctx.fillRect(x0, y, Math.max(1, x1 - x0), h);
      }
    }

    function draw() {
      var w = scroll.clientWidth;
      var h = scroll.clientHeight;
      var top = scroll.scrollTop;
      canvas.style.top = top + "px";
      var ctx = sizeCanvas(canvas, w, h);
      var width = w - GUTTER - PAD_RIGHT;
      ctx.clearRect(0, 0, w, h);
      ctx.font = "11px ui-monospace, 'DejaVu Sans Mono', monospace";
      ctx.textBaseline = "middle";
      var first = Math.floor(top / ROW);
      var last = Math.min(rows.length, Math.ceil((top + h) / ROW));
      var drawn = 0;
      for (var i = first; i < last; i++) {
        var row = rows[i];
        var y = i * ROW - top;
        if (i % 2 === 1) {
          ctx.fillStyle = "#f5f7f9";
          ctx.fillRect(0, y, w, ROW);
        }
        var bad = (row[FLAGS] & ABNORMAL) !== 0;
        ctx.fillStyle = bad ? "#c62828" : "#66707a";
        ctx.fillText((bad ? "! " : "  ") + "#" + row[STREAM], 4, y + ROW / 2);
        // The connection's extent, then the client's states above the server's.
        var x0 = xOf(row, row[START], width);
        var x1 = xOf(row, row[END], width);
        ctx.fillStyle = "#e3e7eb";
        ctx.fillRect(x0, y + 2, Math.max(1, x1 - x0), ROW - 4);
        drawSegments(ctx, row, row[CSEGS], y + 2, 5, width);
        drawSegments(ctx, row, row[SSEGS], y + 7, 5, width);
        drawn++;
      }
      if (data.abnormal > 0 && data.abnormal < rows.length) {
        var sep = data.abnormal * ROW - top;
        if (sep >= 0 && sep <= h) {
          ctx.fillStyle = "#c62828";
          ctx.fillRect(0, sep - 1, w, 2);
        }
      }
      root.setAttribute("data-drawn", String(drawn));
    }

    function rowAt(event) {
      var rect = canvas.getBoundingClientRect();
      var i = Math.floor((event.clientY - rect.top + scroll.scrollTop) / ROW);
      return i >= 0 && i < rows.length ? rows[i] : null;
    }

    function describe(row) {
      var codes = row[CODES].map(function (c) { return data.codes[c]; });
      var lines = [
        "stream " + row[STREAM] + "   (tcp.stream eq " + row[STREAM] + ")",
        row[CLIENT] + " \u2192 " + row[SERVER],
        "outcome: " + data.outcomes[row[OUTCOME]],
        "from " + seconds(row[START]) + " to " + seconds(row[END]),
        "anomalies: " + (codes.length ? codes.join(", ") : "none")
      ];
      if (row[FLAGS] & HAS_LADDER) {
        lines.push("click for its transitions");
      }
      return lines.join("\n");
    }

    canvas.addEventListener("mousemove", function (event) {
      var row = rowAt(event);
      if (!row) { tip.hidden = true; return; }
      tip.textContent = describe(row);
      tip.hidden = false;
      var box = root.getBoundingClientRect();
      var left = event.clientX - box.left + 14;
      tip.style.left = Math.min(left, box.width - 320) + "px";
      tip.style.top = (event.clientY - box.top + 14) + "px";
    });
    canvas.addEventListener("mouseleave", function () { tip.hidden = true; });
    canvas.addEventListener("click", function (event) {
      var row = rowAt(event);
      if (row && (row[FLAGS] & HAS_LADDER)) {
        window.location.hash = "conn-" + data.cap + "-" + row[STREAM];
      }
    });

    var pending = false;
    function redraw() {
      if (pending) { return; }
      pending = true;
      window.requestAnimationFrame(function () {
        pending = false;
        draw();
      });
    }
    scroll.addEventListener("scroll", redraw);
    window.addEventListener("resize", function () { drawAxis(); redraw(); });
    if (mode) {
      mode.addEventListener("change", function () { drawAxis(); draw(); });
    }
    drawAxis();
    draw();
  }

  var timelines = document.querySelectorAll(".timeline");
  for (var i = 0; i < timelines.length; i++) {
    setup(timelines[i]);
  }
  document.documentElement.setAttribute("data-rendered", "yes");
})();

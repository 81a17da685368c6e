// The plugin page's sparklines: the plugin's last hour from
// GET /api/v1/plugins/{name}/history (column arrays, oldest first), drawn
// with uPlot, then the new samples every 10 seconds (?since=), keeping at
// most the history's capacity. Labels come from the page (data-label-*),
// so the page's language is the charts'.
(function () {
  "use strict";

  var POLL_MS = 10000;
  var HEALTH = { ok: 1, degraded: 0.5, error: 0 };

  function start() {
    var root = document.getElementById("history");
    if (!root || typeof window.uPlot !== "function") {
      return;
    }
    var url = root.getAttribute("data-history");
    var label = function (k) { return root.getAttribute("data-label-" + k) || k; };
    var data = null;
    var charts = {};

    var defs = {
      health: { series: [{ label: label("health"), stroke: "#0a6b2b", fill: "rgba(10,107,43,0.12)" }],
        cols: function (d) { return [d.health.map(function (h) { return h in HEALTH ? HEALTH[h] : null; })]; },
        range: [0, 1] },
      restarts: { series: [{ label: label("restarts"), stroke: "#8a5300" }],
        cols: function (d) { return [d.restarts]; } },
      rss: { series: [{ label: label("rss"), stroke: "#0b57d0", fill: "rgba(11,87,208,0.12)" }],
        cols: function (d) { return [d.rss_bytes.map(function (b) { return b == null ? null : b / 1048576; })]; } },
      cpu: { series: [{ label: label("cpu"), stroke: "#6a1b9a" }],
        cols: function (d) { return [d.cpu_percent]; } },
      latency: { series: [{ label: label("p50"), stroke: "#0b57d0" }, { label: label("p99"), stroke: "#a11" }],
        cols: function (d) { return [d.latency_p50_ms, d.latency_p99_ms]; } }
    };

    function width(el) { return Math.max(160, el.clientWidth || 240); }

    function columns(def) { return [data.time].concat(def.cols(data)); }

    function draw() {
      Object.keys(defs).forEach(function (name) {
        var el = root.querySelector('[data-chart="' + name + '"]');
        if (!el) {
          return;
        }
        var def = defs[name];
        if (charts[name]) {
          charts[name].setData(columns(def));
          return;
        }
        var opts = {
          width: width(el), height: 90,
          legend: { show: false }, cursor: { show: false },
          scales: { x: { time: true } },
          axes: [{ show: false }, { size: 44, font: "11px system-ui, sans-serif" }],
          series: [{}].concat(def.series.map(function (s) {
            return { label: s.label, stroke: s.stroke, fill: s.fill, width: 1.5, spanGaps: false, points: { show: false } };
          }))
        };
        if (def.range) {
          opts.scales.y = { range: def.range };
        }
        charts[name] = new window.uPlot(opts, columns(def), el);
      });
    }

    function append(more) {
      ["time", "state", "health", "restarts", "rss_bytes", "cpu_percent", "calls", "errors",
        "latency_mean_ms", "latency_p50_ms", "latency_p99_ms"].forEach(function (k) {
        data[k] = data[k].concat(more[k] || []);
        var extra = data[k].length - (data.capacity || 720);
        if (extra > 0) {
          data[k] = data[k].slice(extra);
        }
      });
    }

    function fetchHistory() {
      var q = url;
      if (data && data.time.length > 0) {
        q += "?since=" + encodeURIComponent(data.time[data.time.length - 1]);
      }
      return fetch(q, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (res) {
          if (!res.ok) {
            throw new Error("history: " + res.status);
          }
          return res.json();
        })
        .then(function (d) {
          if (data === null) {
            data = d;
          } else {
            append(d);
          }
          draw();
          root.setAttribute("data-samples", String(data.time.length));
        });
    }

    function poll() {
      fetchHistory().catch(function () { /* the next poll tries again */ }).then(function () {
        window.setTimeout(poll, POLL_MS);
      });
    }
    poll();

    window.addEventListener("resize", function () {
      Object.keys(charts).forEach(function (name) {
        var el = root.querySelector('[data-chart="' + name + '"]');
        charts[name].setSize({ width: width(el), height: 90 });
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());

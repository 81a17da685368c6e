// The dashboard's charts: fetch the numbers from the API (the URL in
// #charts' data-src) and draw each .chart with uPlot: revenue per gateway
// for one currency (data-currency), or payments per gateway. The page's
// tables hold the same numbers for screen readers.
(function () {
  'use strict';

  var colors = ['#0b57d0', '#b3261e', '#0a6b2b', '#8a5300', '#6d28a8', '#00677d', '#a1327a', '#3d5a00'];
  var height = 220;

  function seriesOf(el, d) {
    if (el.dataset.chart === 'payments') {
      return d.payments;
    }
    for (var i = 0; i < d.revenue.length; i++) {
      if (d.revenue[i].currency === el.dataset.currency) {
        return d.revenue[i].gateways;
      }
    }
    return [];
  }

  function draw(el, d, dayLabel) {
    var div = Math.pow(10, Number(el.dataset.exponent) || 0);
    var days = d.days;
    var data = [days.map(function (_, i) { return i; })];
    var opts = {
      width: Math.max(el.clientWidth, 240),
      height: height,
      scales: { x: { time: false } },
      axes: [
        { values: function (u, splits) { return splits.map(function (i) { return Number.isInteger(i) && days[i] ? days[i].slice(5) : ''; }); } },
        { size: 70 }
      ],
      series: [{ label: dayLabel, value: function (u, i) { return i == null || !days[i] ? '' : days[i]; } }]
    };
    seriesOf(el, d).forEach(function (s, n) {
      data.push(s.values.map(function (v) { return v / div; }));
      opts.series.push({ label: s.gateway, stroke: colors[n % colors.length], width: 2, points: { show: true } });
    });
    el.textContent = '';
    return new uPlot(opts, data, el);
  }

  function start() {
    var box = document.getElementById('charts');
    if (!box || typeof uPlot === 'undefined') {
      return;
    }
    fetch(box.dataset.src, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) {
        if (!r.ok) {
          throw new Error('dashboard numbers: HTTP ' + r.status);
        }
        return r.json();
      })
      .then(function (d) {
        var plots = [];
        box.querySelectorAll('.chart').forEach(function (el) {
          plots.push({ el: el, plot: draw(el, d, box.dataset.day) });
        });
        var pending = 0;
        window.addEventListener('resize', function () {
          clearTimeout(pending);
          pending = setTimeout(function () {
            plots.forEach(function (p) { p.plot.setSize({ width: Math.max(p.el.clientWidth, 240), height: height }); });
          }, 150);
        });
        box.dataset.drawn = 'true';
      })
      .catch(function (err) {
        box.dataset.drawn = 'failed';
        console.error(err);
      });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();

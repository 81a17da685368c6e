// The reports page's charts: each .chart fetches its report from the API
// (its data-src; one request per URL) and is drawn with uPlot: the income
// per group for one currency (data-currency), or the active and new
// subscribers. The tables under the charts hold the same numbers for
// screen readers.
(function () {
  'use strict';

  var colors = ['#0b57d0', '#b3261e', '#0a6b2b', '#8a5300', '#6d28a8', '#00677d', '#a1327a', '#3d5a00'];
  var height = 240;

  function seriesOf(el, d, box) {
    if (el.dataset.chart === 'subscribers') {
      return [{ name: box.dataset.active, values: d.active }, { name: box.dataset.new, values: d.new }];
    }
    for (var i = 0; i < d.currencies.length; i++) {
      if (d.currencies[i].currency === el.dataset.currency) {
        return d.currencies[i].groups.map(function (g) { return { name: g.name, values: g.amounts }; });
      }
    }
    return [];
  }

  function draw(el, d, box) {
    var div = Math.pow(10, Number(el.dataset.exponent) || 0);
    var periods = d.periods;
    var data = [periods.map(function (_, i) { return i; })];
    var opts = {
      width: Math.max(el.clientWidth, 240),
      height: height,
      scales: { x: { time: false } },
      axes: [
        { values: function (u, splits) { return splits.map(function (i) { return Number.isInteger(i) && periods[i] ? periods[i] : ''; }); } },
        { size: 70 }
      ],
      series: [{ label: box.dataset.day, value: function (u, i) { return i == null || !periods[i] ? '' : periods[i]; } }]
    };
    seriesOf(el, d, box).forEach(function (s, n) {
      data.push(s.values.map(function (v) { return v / div; }));
      opts.series.push({ label: s.name, stroke: colors[n % colors.length], width: 2, points: { show: true } });
    });
    el.textContent = '';
    return new uPlot(opts, data, el);
  }

  function start() {
    var box = document.getElementById('report-charts');
    if (!box || typeof uPlot === 'undefined') {
      return;
    }
    var charts = Array.prototype.slice.call(box.querySelectorAll('.chart'));
    var answers = {};
    charts.forEach(function (el) {
      var src = el.dataset.src;
      if (!answers[src]) {
        answers[src] = fetch(src, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
          .then(function (r) {
            if (!r.ok) {
              throw new Error('report ' + src + ': HTTP ' + r.status);
            }
            return r.json();
          });
      }
    });
    Promise.all(charts.map(function (el) {
      return answers[el.dataset.src].then(function (d) { return { el: el, plot: draw(el, d, box) }; });
    })).then(function (plots) {
      var pending = 0;
      window.addEventListener('resize', function () {
        clearTimeout(pending);
        pending = setTimeout(function () {
          plots.forEach(function (p) { p.plot.setSize({ width: Math.max(p.el.clientWidth, 240), height: height }); });
        }, 150);
      });
      box.dataset.drawn = 'true';
    }).catch(function (err) {
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

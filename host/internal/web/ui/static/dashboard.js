// The dashboard's charts: fetch the numbers from the API (the URL in
// #charts' data-src) and draw each .chart with charts.js: revenue per
// gateway for one currency (data-currency), or payments per gateway. The
// page's tables hold the same numbers for screen readers.
(function () {
  'use strict';

  var height = 220;

  function seriesOf(el, d) {
    var list = [];
    if (el.dataset.chart === 'payments') {
      list = d.payments;
    }
    for (var i = 0; i < d.revenue.length && el.dataset.chart !== 'payments'; i++) {
      if (d.revenue[i].currency === el.dataset.currency) {
        list = d.revenue[i].gateways;
      }
    }
    return list.map(function (s) { return { name: s.gateway, values: s.values }; });
  }

  function start() {
    var box = document.getElementById('charts');
    if (!box || typeof uPlot === 'undefined' || !window.mikrobillCharts) {
      return;
    }
    var charts = window.mikrobillCharts;
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
          plots.push({ el: el, plot: charts.draw(el, d.days, seriesOf(el, d), box.dataset.day, function (day) { return day.slice(5); }, height) });
        });
        charts.fitOnResize(plots, height);
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

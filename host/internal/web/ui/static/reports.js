// The reports page's charts: each .chart fetches its report from the API
// (its data-src; one request per URL) and is drawn with charts.js: the
// income per group for one currency (data-currency), or the active and new
// subscribers. The tables under the charts hold the same numbers for
// screen readers.
(function () {
  'use strict';

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

  function start() {
    var box = document.getElementById('report-charts');
    if (!box || typeof uPlot === 'undefined' || !window.mikrobillCharts) {
      return;
    }
    var charts = window.mikrobillCharts;
    var els = Array.prototype.slice.call(box.querySelectorAll('.chart'));
    var answers = {};
    els.forEach(function (el) {
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
    Promise.all(els.map(function (el) {
      return answers[el.dataset.src].then(function (d) {
        return { el: el, plot: charts.draw(el, d.periods, seriesOf(el, d, box), box.dataset.day, function (p) { return p; }, height) };
      });
    })).then(function (plots) {
      charts.fitOnResize(plots, height);
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

// The line charts the dashboard (dashboard.js) and the reports page
// (reports.js) draw with uPlot: one x value per period, one line per
// series, amounts in the currency's major units (the chart's
// data-exponent), and the redraw at a new width. Load it after uPlot and
// before the page's script.
(function () {
  'use strict';

  var colors = ['#0b57d0', '#b3261e', '#0a6b2b', '#8a5300', '#6d28a8', '#00677d', '#a1327a', '#3d5a00'];

  // draw replaces el's content with a chart of series ([{name, values}],
  // one value per label) over labels; xLabel names the x axis in the
  // legend, tick writes a label under the axis.
  function draw(el, labels, series, xLabel, tick, height) {
    var div = Math.pow(10, Number(el.dataset.exponent) || 0);
    var data = [labels.map(function (_, i) { return i; })];
    var opts = {
      width: Math.max(el.clientWidth, 240),
      height: height,
      scales: { x: { time: false } },
      axes: [
        { values: function (u, splits) { return splits.map(function (i) { return Number.isInteger(i) && labels[i] ? tick(labels[i]) : ''; }); } },
        { size: 70 }
      ],
      series: [{ label: xLabel, value: function (u, i) { return i == null || !labels[i] ? '' : labels[i]; } }]
    };
    series.forEach(function (s, n) {
      data.push(s.values.map(function (v) { return v / div; }));
      opts.series.push({ label: s.name, stroke: colors[n % colors.length], width: 2, points: { show: true } });
    });
    el.textContent = '';
    return new uPlot(opts, data, el);
  }

  // fitOnResize redraws plots ([{el, plot}]) at their boxes' widths when
  // the window's size settles.
  function fitOnResize(plots, height) {
    var pending = 0;
    window.addEventListener('resize', function () {
      clearTimeout(pending);
      pending = setTimeout(function () {
        plots.forEach(function (p) { p.plot.setSize({ width: Math.max(p.el.clientWidth, 240), height: height }); });
      }, 150);
    });
  }

  window.mikrobillCharts = { draw: draw, fitOnResize: fitOnResize };
})();

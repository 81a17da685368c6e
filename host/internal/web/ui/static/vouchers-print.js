// The voucher sheet's print button: the browser's print dialog, with the
// sheet laid out for A4 by vouchers.css. The button is a file of its own
// because the pages allow no inline scripts (CSP).
(function () {
  'use strict';

  function start() {
    var button = document.getElementById('print');
    if (button) {
      button.addEventListener('click', function () { window.print(); });
    }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();

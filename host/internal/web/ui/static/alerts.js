// What a person sees when an htmx request fails. htmx swaps nothing for a
// 4xx or 5xx answer and nothing when the host cannot be reached, so a
// refused button press would otherwise show nothing at all. The message
// goes into the layout's alert region (#flash, role=alert): the text of the
// host's answer (the fragment Fail renders for htmx requests, already in
// the page's language), else the region's own translated fallbacks
// (data-refused, with the status; data-network). A network message goes
// away at the next request that succeeds; a refusal at the next successful
// request the person made (not a poll), so they have time to read it.
(function () {
  "use strict";

  var kind = "";

  function region() { return document.getElementById("flash"); }

  function show(text, k) {
    var r = region();
    if (!r) {
      return;
    }
    kind = k;
    // Emptied first, so that the same message again is announced again.
    r.textContent = "";
    var p = document.createElement("p");
    p.textContent = text;
    r.appendChild(p);
  }

  function clear() {
    var r = region();
    if (r) {
      r.textContent = "";
    }
    kind = "";
  }

  // messageOf is the text of the host's HTML answer, or "".
  function messageOf(xhr) {
    var type = xhr.getResponseHeader("Content-Type") || "";
    if (type.indexOf("text/html") !== 0 || !xhr.responseText) {
      return "";
    }
    var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
    var el = doc.querySelector("[data-message]") || doc.querySelector("main .problem") || doc.body;
    return el ? el.textContent.replace(/\s+/g, " ").trim() : "";
  }

  document.addEventListener("htmx:responseError", function (e) {
    var r = region();
    if (!r) {
      return;
    }
    var xhr = e.detail.xhr;
    show(messageOf(xhr) || (r.getAttribute("data-refused") || "").replace("%d", String(xhr.status)), "refused");
  });

  document.addEventListener("htmx:sendError", function () {
    var r = region();
    if (r) {
      show(r.getAttribute("data-network") || "", "network");
    }
  });

  document.addEventListener("htmx:afterRequest", function (e) {
    var d = e.detail;
    if (!d.successful || kind === "") {
      return;
    }
    if (kind === "network" || (d.requestConfig && d.requestConfig.triggeringEvent)) {
      clear();
    }
  });
})();

// An order's page, live: when the order's event stream reports a change (paid, shipped,
// cancelled, refunded), the page's order section is fetched again and swapped in, so the
// customer sees "Shipped" without reloading. Without this script a reload shows the same.
(function () {
  "use strict";
  var box = document.getElementById("order");
  if (!box || !window.EventSource || !window.fetch || !window.DOMParser) return;
  var url = box.getAttribute("data-events");
  if (!url) return;
  var source = new EventSource(url);
  var busy = false;
  function refresh() {
    if (busy) return;
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        busy = false;
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("order");
        var now = document.getElementById("order");
        if (fresh && now) now.innerHTML = fresh.innerHTML;
      })
      .catch(function () { busy = false; });
  }
  ["order.paid", "order.partially_fulfilled", "order.fulfilled", "order.completed",
   "order.cancelled", "order.partially_refunded", "order.refunded"].forEach(function (type) {
    source.addEventListener(type, refresh);
  });
})();

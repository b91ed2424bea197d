// The vendor home, live: a new order (or an order just paid, so ready to ship) arriving over the
// vendor event stream is announced at the top of the page, with a link to it, without a reload.
// The page works without this script (reload shows the same orders).
(function () {
  "use strict";
  var box = document.getElementById("live-orders");
  var status = document.getElementById("live-status");
  if (!box || !status || !window.EventSource) return;
  var after = box.getAttribute("data-after") || "0";
  var source = new EventSource("/api/vendor/events?last_event_id=" + encodeURIComponent(after));
  source.onopen = function () { status.textContent = "Live: new orders appear here as they come in."; };
  source.onerror = function () { status.textContent = "Connection lost; reconnecting…"; };
  function announce(event) {
    var data = {};
    try { data = JSON.parse(event.data); } catch (ignored) { return; }
    if (!data.vendor_order_id || !data.order_id) return;
    var id = "live-" + data.vendor_order_id + "-" + event.type;
    if (document.getElementById(id)) return;
    var number = "#" + String(data.order_id).replace(/-/g, "").slice(24).toUpperCase();
    var item = document.createElement("li");
    item.id = id;
    item.className = "flash";
    var what = event.type === "order.paid" ? "Paid, ready to ship: order " : "New order ";
    item.appendChild(document.createTextNode(what));
    var link = document.createElement("a");
    link.href = "/vendor/orders/" + encodeURIComponent(data.vendor_order_id);
    link.textContent = number;
    item.appendChild(link);
    box.insertBefore(item, box.firstChild);
  }
  source.addEventListener("order.created", announce);
  source.addEventListener("order.paid", announce);
})();

// The admin live feed: events arrive over the admin event stream and appear at the top of the
// list without a reload. The page works without this script (it lists the latest events).
(function () {
  "use strict";
  var list = document.getElementById("feed");
  var status = document.getElementById("feed-status");
  if (!list || !status || !window.EventSource) return;
  var after = list.getAttribute("data-after") || "0";
  var source = new EventSource("/api/admin/events?last_event_id=" + encodeURIComponent(after));
  source.onopen = function () { status.textContent = "Live: new events appear at the top as they happen."; };
  source.onerror = function () { status.textContent = "Connection lost; reconnecting…"; };
  function add(event) {
    var id = "event-" + event.lastEventId;
    if (document.getElementById(id)) return;
    var data = {};
    try { data = JSON.parse(event.data); } catch (ignored) { data = {}; }
    var item = document.createElement("li");
    item.id = id;
    item.className = "new";
    var time = document.createElement("time");
    time.textContent = new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC";
    var what = document.createElement("strong");
    what.textContent = event.type;
    item.appendChild(time);
    item.appendChild(what);
    if (data.status) {
      var state = document.createElement("span");
      state.className = "muted";
      state.textContent = " " + data.status;
      item.appendChild(state);
    }
    if (data.order_id) {
      item.appendChild(document.createTextNode(" — "));
      var link = document.createElement("a");
      link.href = "/admin/orders/" + encodeURIComponent(data.order_id);
      link.textContent = "order";
      item.appendChild(link);
    }
    list.insertBefore(item, list.firstChild);
    var empty = document.getElementById("feed-empty");
    if (empty) empty.remove();
  }
  (list.getAttribute("data-types") || "").split(" ").forEach(function (type) {
    if (type) source.addEventListener(type, add);
  });
})();

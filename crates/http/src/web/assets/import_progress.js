// The import page, live: while the import runs, its progress bar and count follow the server
// (polled twice a second); when it ends the page reloads to show the final report. Without
// this script the page reloads itself every two seconds instead.
(function () {
  "use strict";
  var box = document.getElementById("import");
  if (!box || box.getAttribute("data-status") !== "running" || !window.fetch) return;
  var url = box.getAttribute("data-progress-url");
  var bar = document.getElementById("import-progress");
  var percent = document.getElementById("import-percent");
  var written = document.getElementById("import-written");
  function poll() {
    fetch(url, { headers: { accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (!p) { setTimeout(poll, 2000); return; }
        bar.value = p.written;
        percent.textContent = p.percent;
        written.textContent = p.written;
        if (p.status === "running") setTimeout(poll, 500);
        else window.location.reload();
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 300);
})();

// Image uploads on the product page: images dropped on the drop zone are put in the form's file
// input and the form is sent, as if chosen with the button. The plain file input and button
// work without this script.
(function () {
  "use strict";
  var zone = document.querySelector("[data-dropzone]");
  if (!zone) return;
  var form = zone.closest("form");
  var input = form && form.querySelector("input[type=file]");
  if (!input || !window.DataTransfer) return;
  zone.classList.add("droppable");
  function over(event) {
    event.preventDefault();
    zone.classList.add("dragging");
  }
  function leave() {
    zone.classList.remove("dragging");
  }
  zone.addEventListener("dragenter", over);
  zone.addEventListener("dragover", over);
  zone.addEventListener("dragleave", leave);
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    leave();
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) return;
    input.files = files;
    var status = zone.querySelector("[role=status]");
    if (status) status.textContent = "Uploading " + files.length + (files.length === 1 ? " image…" : " images…");
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  });
})();

// The cart, updated in place: its forms (quantity, remove, coupon, shipping) are sent with
// fetch and the page's content is replaced by the cart page the server answers with (the same
// page a plain form post leads to), so totals change without a reload and the scroll position
// stays. A quantity typed in is sent once the shopper stops typing. Without this script every
// form works as a normal post.
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main || !window.fetch || !window.DOMParser || !window.URLSearchParams) return;
  var live = document.createElement("p");
  live.className = "sr";
  live.setAttribute("role", "status");
  document.body.appendChild(live);
  var busy = false;

  function send(form) {
    if (busy) return;
    busy = true;
    var focused = document.activeElement && document.activeElement.id;
    main.setAttribute("aria-busy", "true");
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
      headers: { accept: "text/html" },
    })
      .then(function (r) {
        // A refusal answers with the cart page and the message beside the field (422, 409);
        // anything else (signed out, a server error) is left to a normal post.
        var page = r.headers.get("content-type") || "";
        if (!page.startsWith("text/html") || r.status >= 500 || !new URL(r.url).pathname.startsWith("/cart")) {
          throw new Error("not the cart");
        }
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main");
        if (!fresh) throw new Error("not a page");
        main.innerHTML = fresh.innerHTML;
        var count = doc.querySelector(".cart-link");
        var here = document.querySelector(".cart-link");
        if (count && here) here.innerHTML = count.innerHTML;
        var message = main.querySelector(".flash, .error");
        live.textContent = message ? message.textContent : "Your cart is updated.";
        var again = focused && document.getElementById(focused);
        (again || main.querySelector("h1")).focus({ preventScroll: true });
        main.removeAttribute("aria-busy");
        busy = false;
      })
      .catch(function () {
        main.removeAttribute("aria-busy");
        busy = false;
        form.submit();
      });
  }

  main.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.closest || !form.closest(".cart")) return;
    event.preventDefault();
    send(form);
  });

  var typing = null;
  main.addEventListener("input", function (event) {
    var field = event.target;
    if (!field.matches || !field.matches("form.qty input[name='quantity']")) return;
    clearTimeout(typing);
    typing = setTimeout(function () {
      if (field.value !== "" && field.checkValidity()) send(field.form);
    }, 600);
  });
})();

// Card payment on an order's page with Stripe's Payment Element. Stripe.js (loaded before this
// script) draws the card fields in its own frames; the card never touches Souk. On success
// Stripe sends the browser back to this page, which asks Stripe (server-side) whether the
// payment went through: the address's `redirect_status` is never trusted.
(function () {
  "use strict";
  var box = document.getElementById("pay");
  var form = document.getElementById("pay-form");
  if (!box || !form || typeof window.Stripe !== "function") return;
  var secret = box.getAttribute("data-secret");
  if (!secret) return;
  var stripe = window.Stripe(box.getAttribute("data-key"));
  var elements = stripe.elements({ clientSecret: secret });
  elements.create("payment").mount("#payment-element");
  var needed = box.querySelector(".js-needed");
  if (needed) needed.hidden = true;
  form.hidden = false;
  var error = document.getElementById("pay-error");
  var button = form.querySelector("button");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    error.hidden = true;
    // Back to this page as it was opened (with a guest's access token), without the
    // parameters a previous attempt's return added.
    var back = new URL(window.location.href);
    ["payment_intent", "payment_intent_client_secret", "redirect_status"].forEach(function (k) {
      back.searchParams.delete(k);
    });
    stripe.confirmPayment({ elements: elements, confirmParams: { return_url: back.toString() } })
      .then(function (result) {
        // Only an error comes back here; success leaves the page.
        if (result && result.error) {
          error.textContent = result.error.message || "The payment did not go through.";
          error.hidden = false;
          button.disabled = false;
        }
      });
  });
})();

// The variant picker by option: for a product with several options (size and colour), one
// select per option instead of the list of every combination. The list stays in the form,
// hidden, and remains what is sent: choosing in the selects checks the matching variant, shows
// its price and stock, and says so when that combination is not sold or is sold out. Without
// this script the list is the picker.
(function () {
  "use strict";
  var form = document.querySelector("form.add");
  var picker = form && form.querySelector(".picker");
  var list = form && form.querySelector("fieldset.variants");
  if (!picker || !list) return;
  var selects = Array.prototype.slice.call(picker.querySelectorAll("select"));
  var radios = Array.prototype.slice.call(list.querySelectorAll("input[type=radio]"));
  var said = picker.querySelector(".picked");
  var button = form.querySelector("button[type=submit]");

  function values(radio) {
    return selects.map(function (s) { return radio.getAttribute("data-o" + s.getAttribute("data-index")); });
  }
  function matching() {
    var wanted = selects.map(function (s) { return s.value; });
    return radios.filter(function (r) {
      var have = values(r);
      return have.every(function (v, i) { return v === wanted[i]; });
    })[0];
  }
  function show() {
    var radio = matching();
    radios.forEach(function (r) { r.checked = false; });
    if (!radio) {
      said.textContent = "This combination is not sold.";
    } else if (radio.disabled) {
      said.textContent = "Sold out in this combination.";
    } else {
      radio.checked = true;
      var label = list.querySelector("label[for='" + radio.id + "']");
      var price = label && label.querySelector(".vp");
      var stock = label && label.querySelector(".stock");
      said.textContent = (price ? price.textContent : "") + (stock ? " · " + stock.textContent : "");
    }
    if (button) button.disabled = !radio || radio.disabled;
  }

  var start = radios.filter(function (r) { return r.checked; })[0];
  if (start) {
    values(start).forEach(function (v, i) { if (v !== null) selects[i].value = v; });
  }
  selects.forEach(function (s) { s.addEventListener("change", show); });
  list.hidden = true;
  picker.hidden = false;
  show();
})();

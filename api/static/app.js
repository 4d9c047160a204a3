// anjian pages: optional conveniences only; every page works without this file.
// Pickers: an <input data-picker="/picker/enterprises"> paired with a <datalist> fills its options
// from the server as the user types (the form still posts what was typed or chosen).
(function () {
  "use strict";
  function debounce(fn, ms) { var t; return function () { var a = arguments, self = this; clearTimeout(t); t = setTimeout(function () { fn.apply(self, a); }, ms); }; }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-picker]").forEach(function (input) {
      var list = document.getElementById(input.getAttribute("list"));
      if (!list) return;
      input.addEventListener("input", debounce(function () {
        var q = input.value.trim();
        if (!q) return;
        fetch(input.getAttribute("data-picker") + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { items: [] }; })
          .then(function (data) {
            list.innerHTML = "";
            (data.items || []).forEach(function (item) {
              var o = document.createElement("option");
              o.value = item.value; o.textContent = item.label; list.appendChild(o);
            });
          }).catch(function () {});
      }, 200));
    });
  });
})();

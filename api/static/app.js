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
      var latest = 0;  // answers may arrive out of order: only the last question's answer fills the list
      input.addEventListener("input", debounce(function () {
        var q = input.value.trim(), asked = ++latest;
        if (!q) return;
        fetch(input.getAttribute("data-picker") + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { items: [] }; })
          .then(function (data) {
            if (asked !== latest) return;
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

// ---- forms (helper "forms"): the accident grade as it is typed, computed by the server's own rule.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-accident-grade]");
    var out = document.getElementById("accident-grade");
    if (!form || !out) return;
    var names = { deaths: "deaths", serious_injuries: "serious", direct_loss: "loss" };
    var latest = 0;  // answers may arrive out of order: only the last question's answer is shown
    function update() {
      var asked = ++latest, params = [];
      Object.keys(names).forEach(function (n) {
        var el = form.elements[n];
        params.push(names[n] + "=" + encodeURIComponent(el ? el.value : ""));
      });
      fetch(form.getAttribute("data-accident-grade") + "?" + params.join("&"), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data && asked === latest) { out.textContent = data.label; out.setAttribute("data-grade", data.grade || ""); }
        })
        .catch(function () {});
    }
    Object.keys(names).forEach(function (n) { var el = form.elements[n]; if (el) el.addEventListener("input", update); });
  });
  // A picker shows the name of the option chosen (its value is the id); the catalogue select, the item's text.
  document.addEventListener("change", function (e) {
    var input = e.target, text = "";
    if (!input.matches) return;
    if (input.matches("input[data-picker]")) {
      var list = document.getElementById(input.getAttribute("list"));
      var option = list && Array.prototype.find.call(list.options, function (o) { return o.value === input.value; });
      text = option ? "已选：" + option.label : "";
    } else if (input.matches("select.hazard-item")) {
      var chosen = input.options[input.selectedIndex];
      text = chosen && chosen.value ? "已选条目：" + chosen.title : "";
    } else {
      return;
    }
    var note = input.parentNode.querySelector("p.chosen");
    if (!note) { note = document.createElement("p"); note.className = "chosen"; input.parentNode.appendChild(note); }
    note.textContent = text;
  });
  // Date inputs draw the date in the browser's locale (e.g. 11/30/2026): next to each one, the same
  // date as a person here reads it (2026年11月30日, with the time for datetime-local).
  function chineseDate(value) {
    var m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?/.exec(value || "");
    if (!m) return "";
    return m[1] + "年" + Number(m[2]) + "月" + Number(m[3]) + "日" + (m[4] ? " " + m[4] + ":" + m[5] : "");
  }
  function showChineseDate(input) {
    var note = input.nextElementSibling;
    if (!note || !note.classList.contains("cn-date")) {
      note = document.createElement("span");
      note.className = "cn-date muted";
      note.setAttribute("aria-live", "polite");
      input.insertAdjacentElement("afterend", note);
    }
    note.textContent = chineseDate(input.value);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll('input[type="date"], input[type="datetime-local"]').forEach(function (input) {
      showChineseDate(input);
      input.addEventListener("input", function () { showChineseDate(input); });
      input.addEventListener("change", function () { showChineseDate(input); });
    });
  });
})();

// The header's menus (<details class="nav-menu">) open without JavaScript; with it, one menu is open
// at a time and a click elsewhere closes it.
document.addEventListener("click", (ev) => {
  for (const menu of document.querySelectorAll("details.nav-menu[open]")) {
    if (!menu.contains(ev.target)) menu.removeAttribute("open");
  }
});

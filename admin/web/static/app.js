// Smart Links admin: small helpers shared by every page (no framework, no inline script).
"use strict";
(function () {
  var meta = document.querySelector('meta[name="csrf-token"]');
  var SL = (window.SL = {
    csrf: meta ? meta.getAttribute("content") : "",
    getJSON: function (url) {
      return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(
        function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        }
      );
    },
    postJSON: function (url, body) {
      return fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": SL.csrf, Accept: "application/json" },
        body: JSON.stringify(body || {}),
      }).then(function (r) {
        return r.json().then(function (data) {
          if (!r.ok) throw Object.assign(new Error("HTTP " + r.status), { data: data });
          return data;
        });
      });
    },
    // Poll fn every `ms` while the page is visible; a failure slows down, never stops.
    poll: function (fn, ms) {
      var timer = null;
      var wait = ms;
      var stopped = false;
      function tick() {
        if (stopped) return;
        if (document.hidden) { timer = setTimeout(tick, ms); return; }
        Promise.resolve()
          .then(fn)
          .then(function () { wait = ms; }, function () { wait = Math.min(wait * 2, 15000); })
          .then(function () { if (!stopped) timer = setTimeout(tick, wait); });
      }
      tick();
      return function stop() { stopped = true; clearTimeout(timer); };
    },
    debounce: function (fn, ms) {
      var t = null;
      return function () {
        var args = arguments;
        clearTimeout(t);
        t = setTimeout(function () { fn.apply(null, args); }, ms);
      };
    },
    el: function (tag, attrs, children) {
      var node = document.createElement(tag);
      Object.keys(attrs || {}).forEach(function (k) {
        if (k === "text") node.textContent = attrs[k];
        else if (k === "class") node.className = attrs[k];
        else node.setAttribute(k, attrs[k]);
      });
      (children || []).forEach(function (c) { if (c) node.appendChild(c); });
      return node;
    },
    fmt: function (n) { return Number(n || 0).toLocaleString(); },
  });

  document.addEventListener("click", function (ev) {
    var target = ev.target.closest("[data-confirm]");
    if (target && !window.confirm(target.getAttribute("data-confirm"))) {
      ev.preventDefault();
      return;
    }
    var copy = ev.target.closest("[data-copy]");
    if (copy) {
      ev.preventDefault();
      var text = copy.getAttribute("data-copy");
      var done = function () {
        var old = copy.textContent;
        copy.textContent = "Copied";
        setTimeout(function () { copy.textContent = old; }, 1200);
      };
      if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, function () {});
    }
  });

  // On a phone the main menu folds behind one button; Escape folds it again.
  var menu = document.getElementById("menu-toggle");
  if (menu) {
    var bar = menu.closest(".topbar");
    bar.classList.add("menu-js");
    menu.hidden = false;
    var setMenu = function (open) {
      bar.classList.toggle("open", open);
      menu.setAttribute("aria-expanded", open ? "true" : "false");
    };
    menu.addEventListener("click", function () { setMenu(!bar.classList.contains("open")); });
    bar.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && bar.classList.contains("open")) { setMenu(false); menu.focus(); }
    });
  }

  // Bulk selection: a header box ticks every box of its name; each bulk bar counts the boxes
  // ticked for its form (on the Lists & tags page, lists and tags together).
  var ticked = function (name) {
    return document.querySelectorAll('input[type=checkbox][name="' + name + '"]');
  };
  var recount = function (name) {
    var boxes = Array.prototype.slice.call(ticked(name));
    var n = boxes.filter(function (b) { return b.checked; }).length;
    document.querySelectorAll("[data-selected-count]").forEach(function (out) {
      var form = out.closest("form");
      var mine = Array.prototype.filter.call(document.querySelectorAll("input[type=checkbox][form]"),
        function (b) { return b.form === form && b.checked; }).length;
      if (!out.hasAttribute("data-hint")) out.setAttribute("data-hint", out.textContent);
      out.textContent = mine ? mine + " ticked" : out.getAttribute("data-hint");
    });
    document.querySelectorAll('[data-select-all="' + name + '"]').forEach(function (all) {
      all.checked = n > 0 && n === boxes.length;
      all.indeterminate = n > 0 && n < boxes.length;
    });
  };
  document.addEventListener("change", function (ev) {
    var t = ev.target;
    if (!t || t.type !== "checkbox") return;
    var all = t.getAttribute("data-select-all");
    if (all) {
      ticked(all).forEach(function (b) { b.checked = t.checked; });
      recount(all);
    } else if (t.name) {
      recount(t.name);
    }
  });

  // Filter selects submit their form on change (the form still has a button without JS).
  document.querySelectorAll("[data-autosubmit]").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });
})();

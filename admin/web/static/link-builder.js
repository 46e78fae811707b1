// Link form: merge-field inserter, presets, live merged URL for a contact, preview card,
// warnings (public shorteners, Apple's card limits) and the actions editor.
"use strict";
(function () {
  var form = document.getElementById("link-form");
  if (!form) return;
  var dest = form.querySelector("#destination");
  var shorteners = JSON.parse(form.getAttribute("data-shorteners") || "[]");
  var imageWidth = parseInt(form.getAttribute("data-image-width") || "0", 10) || null;
  var TITLE_LIMIT = 44;
  var MIN_WIDTH = 900;

  // --- Merge fields -------------------------------------------------------------------
  function insertAtCaret(text) {
    var start = dest.selectionStart, end = dest.selectionEnd;
    if (typeof start !== "number" || document.activeElement !== dest && dest.getAttribute("data-touched") !== "1") {
      start = end = dest.value.length;
    }
    dest.value = dest.value.slice(0, start) + text + dest.value.slice(end);
    dest.focus();
    dest.setSelectionRange(start + text.length, start + text.length);
    dest.dispatchEvent(new Event("input"));
  }
  ["click", "keyup", "select"].forEach(function (ev) {
    dest.addEventListener(ev, function () { dest.setAttribute("data-touched", "1"); });
  });
  document.getElementById("merge-insert").addEventListener("click", function () {
    var name = document.getElementById("merge-field").value;
    var def = document.getElementById("merge-default").value.replace(/[{}|]/g, "");
    insertAtCaret("{{" + name + (def ? "|" + def : "") + "}}");
  });

  // --- Presets: the server's (admin/services/presets.py), attribution with {{source}} ------
  var PRESETS = JSON.parse(form.getAttribute("data-presets") || "{}");
  function addParams(url, params) {
    var hash = "";
    var at = url.indexOf("#");
    if (at >= 0) { hash = url.slice(at); url = url.slice(0, at); }
    var q = url.indexOf("?");
    var existing = q >= 0 ? url.slice(q + 1).split("&").map(function (p) { return p.split("=")[0]; }) : [];
    params.forEach(function (kv) {
      if (existing.indexOf(kv[0]) >= 0) return;
      url += (url.indexOf("?") >= 0 ? (/[?&]$/.test(url) ? "" : "&") : "?") + kv[0] + "=" + kv[1];
    });
    return url + hash;
  }
  document.getElementById("preset-apply").addEventListener("click", function () {
    var preset = PRESETS[document.getElementById("preset").value];
    if (!preset) return;
    var current = dest.value.trim() || preset.base;
    dest.value = addParams(current, Object.keys(preset.params).map(function (k) { return [k, preset.params[k]]; }));
    dest.dispatchEvent(new Event("input"));
  });

  // --- Merged URL for a chosen contact -------------------------------------------------
  var merged = document.getElementById("merged-url");
  var contactChoice = document.getElementById("contact-choice");
  var contactSearch = document.getElementById("contact-search");
  var seq = 0;
  var refreshMerged = SL.debounce(function () {
    var mine = ++seq;
    if (!dest.value.trim()) { merged.textContent = "—"; merged.classList.remove("bad"); return; }
    var url = "/links/merge-preview.json?destination=" + encodeURIComponent(dest.value.trim()) +
      "&contact_id=" + encodeURIComponent(contactChoice.value);
    SL.getJSON(url).then(function (data) {
      if (mine !== seq) return;
      merged.textContent = data.error || data.url;
      merged.classList.toggle("bad", !!data.error);
    }, function () { if (mine === seq) merged.textContent = "(preview unavailable)"; });
  }, 200);
  var searchContacts = SL.debounce(function () {
    SL.getJSON("/contacts/search.json?q=" + encodeURIComponent(contactSearch.value)).then(function (data) {
      var keep = contactChoice.value;
      while (contactChoice.options.length > 1) contactChoice.remove(1);
      data.contacts.forEach(function (c) {
        var label = ((c.first_name + " " + c.last_name).trim() || "(no name)") + " · " + c.phone;
        contactChoice.appendChild(SL.el("option", { value: String(c.id), text: label }));
      });
      var ids = data.contacts.map(function (c) { return String(c.id); });
      if (keep && ids.indexOf(keep) >= 0) contactChoice.value = keep;
      else if (ids.length) contactChoice.value = ids[0];
      refreshMerged();
    });
  }, 250);
  contactSearch.addEventListener("input", searchContacts);
  contactChoice.addEventListener("change", refreshMerged);
  searchContacts();

  // --- Warnings --------------------------------------------------------------------------
  function hostOf(url) {
    var m = /^[a-z][a-z0-9+.-]*:\/\/([^\/?#{]+)/i.exec(url.trim());
    if (!m) return "";
    return m[1].replace(/^.*@/, "").replace(/:\d+$/, "").toLowerCase().replace(/\.$/, "").replace(/^www\./, "");
  }
  function showWarnings(box, list) {
    box.textContent = "";
    list.forEach(function (text) { box.appendChild(SL.el("div", { class: "warning", role: "status", text: text })); });
  }
  function destinationWarnings() {
    var host = hostOf(dest.value);
    var list = [];
    if (host && shorteners.indexOf(host) >= 0) {
      list.push("The destination is on " + host + ", a public shortener: carriers filter such links. Use the final URL instead.");
    }
    var blanks = dest.value.match(/your-[a-z]+(?:-[a-z]+)*/gi);
    if (blanks) {
      list.push("The destination still holds '" + blanks.join("', '") + "' from a preset's example: put your own page's address there.");
    }
    showWarnings(document.getElementById("destination-warnings"), list);
  }
  dest.addEventListener("input", function () { destinationWarnings(); refreshMerged(); });
  destinationWarnings();
  refreshMerged();

  // --- Short URL example and the card ---------------------------------------------------
  var domain = form.querySelector("#domain_id");
  var ext = form.querySelector("#extension");
  function refreshShort() {
    var host = domain && domain.selectedOptions[0] ? domain.selectedOptions[0].textContent : "your.domain";
    document.getElementById("short-host").textContent = host;
    document.getElementById("imsg-host").textContent = host;
    document.getElementById("short-ext").textContent = ext.value.trim() ? "/" + ext.value.trim() : "";
  }
  if (domain) domain.addEventListener("change", refreshShort);
  ext.addEventListener("input", refreshShort);
  refreshShort();

  var title = form.querySelector("#preview_title");
  var image = document.getElementById("imsg-image");
  var fileInput = form.querySelector("#preview_image");
  var removeBox = form.querySelector("#remove_image");
  function cardWarnings() {
    var list = [];
    var t = title.value.trim();
    if (t.length > TITLE_LIMIT) list.push("The title has " + t.length + " characters; iMessage shows about " + TITLE_LIMIT + ".");
    if (!image.hidden && imageWidth && imageWidth < MIN_WIDTH) {
      list.push("The image is " + imageWidth + " px wide; iMessage shows a large card only from " + MIN_WIDTH + " px, otherwise a small thumbnail.");
    }
    image.classList.toggle("small", !image.hidden && !!imageWidth && imageWidth < MIN_WIDTH);
    showWarnings(document.getElementById("card-warnings"), list);
  }
  title.addEventListener("input", function () {
    document.getElementById("imsg-title").textContent = title.value.trim() || "Title of the card";
    cardWarnings();
  });
  fileInput.addEventListener("change", function () {
    var file = fileInput.files && fileInput.files[0];
    if (!file) return;
    var url = URL.createObjectURL(file);
    var probe = new Image();
    probe.onload = function () { imageWidth = probe.naturalWidth; cardWarnings(); };
    probe.src = url;
    image.src = url;
    image.hidden = false;
    if (removeBox) removeBox.checked = false;
  });
  if (removeBox) removeBox.addEventListener("change", function () { image.hidden = removeBox.checked; cardWarnings(); });
  if (image.getAttribute("src") && !imageWidth) {
    image.addEventListener("load", function () { imageWidth = image.naturalWidth; cardWarnings(); });
  }
  cardWarnings();

  // --- Actions editor ---------------------------------------------------------------------
  var box = document.getElementById("actions");
  function wireRow(row) {
    var type = row.querySelector("[data-action-type]");
    var value = row.querySelector("[data-action-value]");
    function sync() {
      var t = type.value;
      var needs = t === "add_tag" || t === "remove_tag" || t === "add_to_list" || t === "remove_from_list";
      value.parentNode.hidden = !needs;
      value.setAttribute("list", t.indexOf("tag") >= 0 ? "tag-names" : "list-names");
      value.placeholder = t.indexOf("tag") >= 0 ? "tag name" : "list name";
    }
    type.addEventListener("change", sync);
    sync();
  }
  Array.prototype.forEach.call(box.querySelectorAll("[data-action-row]"), wireRow);
  document.getElementById("action-add").addEventListener("click", function () {
    var rows = box.querySelectorAll("[data-action-row]");
    var last = rows[rows.length - 1];
    var copy = last.cloneNode(true);
    var index = rows.length;
    copy.querySelectorAll("select, input").forEach(function (input) {
      input.name = input.name.replace(/actions-\d+-/, "actions-" + index + "-");
      input.id = input.name;
      if (input.tagName === "SELECT") input.value = ""; else input.value = "";
    });
    copy.querySelectorAll(".error").forEach(function (e) { e.remove(); });
    box.appendChild(copy);
    wireRow(copy);
    copy.querySelector("select").focus();
  });
})();

// Sending pages: the live segment count of the broadcast composer, and the paperclip of a
// conversation's composer (attaches a smart link as a visible [link: name] placeholder).
"use strict";
(function () {
  var SL = window.SL;

  // -- broadcast composer: recipients and segments, asked of the server as you type --------
  var form = document.getElementById("broadcast-form");
  if (form && SL) {
    // The browser's offset east of UTC, so that "send at" is the organiser's local time.
    var minutes = -new Date().getTimezoneOffset();
    var tz = document.getElementById("tz_offset");
    if (tz) tz.value = String(minutes);
    var offsetText = function () {
      var m = Math.abs(minutes), pad = function (n) { return (n < 10 ? "0" : "") + n; };
      return (minutes < 0 ? "-" : "+") + pad(Math.floor(m / 60)) + ":" + pad(m % 60);
    };
    var out = {};
    form.querySelectorAll("[data-preview]").forEach(function (node) {
      out[node.getAttribute("data-preview")] = node;
    });
    var payload = function () {
      var data = new FormData(form);
      var body = { body: data.get("body") || "", link_id: data.get("link_id") || null };
      var to = data.get("to") || "list";
      body.quiet_hours = data.get("quiet_hours") === "on";
      if (data.get("send_at")) body.send_at = data.get("send_at") + offsetText();
      if (to === "follow_up") body.follow_up = {
        broadcast_id: Number(data.get("follow_up_broadcast")), segment: data.get("follow_up_segment")
      };
      else if (to === "contacts") body.contact_ids = data.getAll("contact_ids").map(Number);
      else if (to === "tag") body.tag = data.get("tag") || "";
      else body.list = data.get("list") || "";
      return body;
    };
    var show = function (result) {
      out.error.classList.add("hidden");
      Object.keys(out).forEach(function (key) {
        if (key in result) out[key].textContent = String(result[key]);
      });
    };
    var fail = function (err) {
      var e = (err && err.data && err.data.error) || {};
      out.error.textContent = e.message || "Cannot count yet.";
      out.error.classList.remove("hidden");
      ["recipients", "opted_out", "unreachable", "segments", "encoding", "characters", "segments_total", "held_by_quiet_hours"].forEach(function (k) {
        out[k].textContent = "—";
      });
      out.sample.textContent = "";
    };
    var refresh = SL.debounce(function () {
      if (!(form.elements.body.value || "").trim()) return;
      SL.postJSON("/broadcasts/preview", payload()).then(show, fail);
    }, 300);
    form.addEventListener("input", refresh);
    form.addEventListener("change", refresh);
    refresh();
  }

  // -- conversation composer: the paperclip picks a smart link ------------------------------
  var clip = document.getElementById("paperclip");
  var picker = document.getElementById("link-picker");
  var text = document.getElementById("composer-body");
  var select = document.getElementById("composer-link");
  if (clip && picker && text && select) {
    clip.hidden = false;
    var label = document.getElementById("link-select-label");
    if (label) label.classList.add("hidden");
    var options = function () {
      return Array.prototype.slice.call(picker.querySelectorAll("[data-link-id]"));
    };
    var focusOption = function (index) {
      var all = options();
      if (!all.length) return;
      var i = (index + all.length) % all.length;
      all.forEach(function (o, j) { o.setAttribute("aria-selected", j === i ? "true" : "false"); });
      all[i].focus();
    };
    var toggle = function (open, focusFirst) {
      picker.classList.toggle("hidden", !open);
      clip.setAttribute("aria-expanded", open ? "true" : "false");
      if (open && focusFirst) focusOption(0);
    };
    clip.addEventListener("click", function () {
      toggle(picker.classList.contains("hidden"), true);
    });
    clip.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        toggle(true, false);
        focusOption(event.key === "ArrowDown" ? 0 : -1);
      }
    });
    var pick = function (item) {
      var id = item.getAttribute("data-link-id");
      if (!id) return;
      var placeholder = "[link: " + item.getAttribute("data-name") + "]";
      // One link per message: a new pick replaces the previous placeholder.
      var current = text.value.replace(/\[link:[^\]\n]*\]/, "");
      var at = Math.min(text.selectionStart || current.length, current.length);
      var before = current.slice(0, at);
      var after = current.slice(at);
      var spaceBefore = before && !/\s$/.test(before) ? " " : "";
      var spaceAfter = after && !/^\s/.test(after) ? " " : "";
      text.value = before + spaceBefore + placeholder + spaceAfter + after;
      select.value = id;
      toggle(false);
      text.focus();
      // The counter listens for input: a pick by mouse or keyboard recounts the same way.
      text.dispatchEvent(new Event("input", { bubbles: true }));
    };
    picker.addEventListener("click", function (event) {
      var item = event.target.closest("[data-link-id]");
      if (item) pick(item);
    });
    picker.addEventListener("keydown", function (event) {
      var item = event.target.closest("[data-link-id]");
      var at = options().indexOf(item);
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        focusOption(at + (event.key === "ArrowDown" ? 1 : -1));
      } else if (event.key === "Home" || event.key === "End") {
        event.preventDefault();
        focusOption(event.key === "Home" ? 0 : -1);
      } else if (event.key === "Escape") {
        event.preventDefault();
        toggle(false);
        clip.focus();
      } else if (item && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        pick(item);
      }
    });
    // Deleting the placeholder detaches the link.
    text.addEventListener("input", function () {
      if (select.value && !/\[link:[^\]\n]*\]/.test(text.value) && text.value.indexOf("{{link}}") < 0) select.value = "";
    });
  }

  // -- conversation composer: segments of this contact's text, as you type ------------------
  var counter = document.getElementById("composer-count");
  if (counter && text && select && SL) {
    var recount = SL.debounce(function () {
      if (!text.value.trim()) { counter.classList.add("hidden"); return; }
      SL.postJSON(counter.getAttribute("data-preview-url"), { body: text.value, link_id: select.value || null }).then(
        function (r) {
          counter.textContent = r.segments + " segment" + (r.segments === 1 ? "" : "s") + " · " + r.encoding + " · " + r.units + " characters";
          counter.classList.remove("hidden");
        },
        function (err) {
          var e = (err && err.data && err.data.error) || {};
          counter.textContent = e.message || "";
          counter.classList.toggle("hidden", !e.message);
        }
      );
    }, 300);
    text.addEventListener("input", recount);
    select.addEventListener("change", recount);
  }
})();

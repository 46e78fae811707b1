// Links list: click counts refresh every few seconds without a reload.
"use strict";
(function () {
  var table = document.querySelector("[data-live-counts]");
  if (!table) return;
  var rows = Array.prototype.slice.call(table.querySelectorAll("tr[data-link-id]"));
  var ids = rows.map(function (r) { return r.getAttribute("data-link-id"); });
  if (!ids.length) return;
  SL.poll(function () {
    return SL.getJSON("/links/counts.json?ids=" + ids.join(",")).then(function (data) {
      rows.forEach(function (row) {
        var counts = data.counts[row.getAttribute("data-link-id")];
        if (!counts) return;
        row.querySelectorAll("[data-count]").forEach(function (cell) {
          var value = String(counts[cell.getAttribute("data-count")]);
          if (cell.textContent !== value) cell.textContent = value;
        });
      });
    });
  }, 3000);
})();

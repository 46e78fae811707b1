// Import progress: the bar and the error list follow the job until it ends.
"use strict";
(function () {
  var root = document.getElementById("import-job");
  if (!root) return;
  var id = root.getAttribute("data-job-id");
  var bar = document.getElementById("import-bar");
  var progress = document.getElementById("import-progress");
  bar.style.width = (bar.getAttribute("data-percent") || "0") + "%";
  var stop = null;
  function render(job) {
    bar.style.width = job.percent + "%";
    bar.classList.toggle("done", job.status === "done");
    progress.setAttribute("aria-valuenow", String(job.percent));
    document.getElementById("import-status").textContent = job.status.charAt(0).toUpperCase() + job.status.slice(1);
    document.getElementById("import-counts").textContent = SL.fmt(job.processed_rows) + " / " + SL.fmt(job.total_rows) + " rows";
    document.getElementById("import-summary").textContent = SL.fmt(job.imported_rows) + " imported, " + SL.fmt(job.failed_rows) + " rejected.";
    var body = document.getElementById("import-errors");
    if (body.children.length !== job.errors.length) {
      body.textContent = "";
      job.errors.forEach(function (e) {
        body.appendChild(SL.el("tr", {}, [
          SL.el("td", { class: "num", text: String(e.line) }),
          SL.el("td", { class: "mono", text: e.field || "" }),
          SL.el("td", { text: e.message }),
          SL.el("td", {}, [SL.el("span", { class: e.kept ? "badge badge-ok" : "badge badge-bad", text: e.kept ? "kept" : "rejected" })]),
        ]));
      });
    }
    document.getElementById("import-errors-card").hidden = job.errors.length === 0;
    document.getElementById("rejected-csv").hidden = !job.rejected;
    if ((job.status === "done" || job.status === "failed") && stop) stop();
  }
  stop = SL.poll(function () { return SL.getJSON("/contacts/imports/" + id + ".json").then(render); }, 700);
})();

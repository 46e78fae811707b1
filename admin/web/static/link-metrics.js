// A link's metrics: counts, chart and devices refresh every second without a reload.
"use strict";
(function () {
  var root = document.getElementById("metrics");
  if (!root) return;
  var linkId = root.getAttribute("data-link-id");
  var range = root.getAttribute("data-range");
  var svg = document.getElementById("chart");
  var NS = "http://www.w3.org/2000/svg";
  var last = null;

  function svgEl(tag, attrs, text) {
    var node = document.createElementNS(NS, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Minutes and hours in the person's zone (the page names it); a day bucket is a UTC day, so
  // it is labelled by its UTC date, not shifted into the day before west of Greenwich.
  var zone = root.getAttribute("data-zone") || "UTC";
  function label(iso, seconds) {
    var d = new Date(iso);
    try {
      if (seconds >= 86400) return d.toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
      return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", timeZone: zone });
    } catch (e) {  // a zone this browser does not know
      return d.toISOString().slice(seconds >= 86400 ? 5 : 11, seconds >= 86400 ? 10 : 16);
    }
  }

  var BUCKET_SECONDS = { minute: 60, hour: 3600, day: 86400 };

  function drawChart(series) {
    series.seconds = BUCKET_SECONDS[series.bucket] || 60;
    var w = Math.max(svg.clientWidth || 600, 200), h = 220, left = 34, bottom = 22, top = 10;
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.removeAttribute("preserveAspectRatio");
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var n = series.human.length;
    var max = 1;
    for (var i = 0; i < n; i++) max = Math.max(max, series.human[i] + series.preview[i]);
    var plotW = w - left - 4, plotH = h - top - bottom;
    var step = plotW / n, barW = Math.max(1, step * 0.72);
    svg.appendChild(svgEl("line", { class: "axis", x1: left, x2: w - 4, y1: top + plotH, y2: top + plotH }));
    svg.appendChild(svgEl("line", { class: "axis", x1: left, x2: w - 4, y1: top, y2: top, "stroke-dasharray": "3 3" }));
    svg.appendChild(svgEl("text", { x: left - 6, y: top + 4, "text-anchor": "end" }, String(max)));
    svg.appendChild(svgEl("text", { x: left - 6, y: top + plotH, "text-anchor": "end" }, "0"));
    for (var j = 0; j < n; j++) {
      var x = left + j * step + (step - barW) / 2;
      var hh = (series.human[j] / max) * plotH;
      var hp = (series.preview[j] / max) * plotH;
      var title = label(series.starts[j], series.seconds) + ": " + series.human[j] + " clicks, " + series.preview[j] + " previews";
      if (hh > 0) {
        var bar = svgEl("rect", { class: "bar", x: x, y: top + plotH - hh, width: barW, height: hh, "data-clicks": series.human[j] });
        bar.appendChild(svgEl("title", {}, title));
        svg.appendChild(bar);
      }
      if (hp > 0) {
        var pbar = svgEl("rect", { class: "bar-preview", x: x, y: top + plotH - hh - hp, width: barW, height: hp });
        pbar.appendChild(svgEl("title", {}, title));
        svg.appendChild(pbar);
      }
    }
    [0, Math.floor(n / 2), n - 1].forEach(function (k, idx) {
      var anchor = idx === 0 ? "start" : idx === 2 ? "end" : "middle";
      var x = idx === 2 ? w - 4 : left + k * step + (idx === 0 ? 0 : step / 2);
      svg.appendChild(svgEl("text", { x: x, y: h - 6, "text-anchor": anchor }, label(series.starts[k], series.seconds)));
    });
  }

  function drawBars(box, items) {
    box.textContent = "";
    if (!items.length) { box.appendChild(SL.el("p", { class: "muted small", text: "No clicks yet." })); return; }
    var max = items.reduce(function (m, it) { return Math.max(m, it.count); }, 1);
    items.forEach(function (it) {
      var fill = SL.el("div", { class: "hbar-fill" });
      fill.style.width = Math.round((it.count / max) * 100) + "%";
      box.appendChild(SL.el("div", { class: "hbar" }, [
        SL.el("span", { text: it.name }),
        SL.el("div", { class: "hbar-track" }, [fill]),
        SL.el("span", { class: "right", text: SL.fmt(it.count) }),
      ]));
    });
  }

  function update(data) {
    Object.keys(data.counts).forEach(function (key) {
      var tile = root.querySelector('[data-stat="' + key + '"]');
      if (!tile) return;
      var value = tile.querySelector("[data-value]");
      var text = String(data.counts[key]);
      if (value.textContent !== text) {
        value.textContent = text;
        tile.classList.remove("bump");
        void tile.offsetWidth; // restart the animation
        tile.classList.add("bump");
      }
    });
    var key = JSON.stringify([data.series, data.devices, data.os]);
    if (key !== last) {
      last = key;
      drawChart(data.series);
      drawBars(document.getElementById("devices"), data.devices);
      drawBars(document.getElementById("systems"), data.os);
    }
  }

  // Counters every half second (one row); the chart and devices when a counter moved, and
  // every 30 s so that the time axis moves on.
  var dot = document.getElementById("live-dot");
  var shownCounts = null;
  var fullAt = 0;
  SL.poll(function () {
    var base = "/links/" + linkId + "/metrics.json?range=" + encodeURIComponent(range);
    return SL.getJSON(base).then(function (data) {
      dot.classList.add("on");
      var counts = JSON.stringify(data.counts);
      if (counts === shownCounts && Date.now() - fullAt < 30000) return;
      return SL.getJSON(base + "&full=1").then(function (full) {
        shownCounts = JSON.stringify(full.counts);
        fullAt = Date.now();
        update(full);
      });
    }).catch(function (err) { dot.classList.remove("on"); throw err; });
  }, 500);
  window.addEventListener("resize", SL.debounce(function () { last = null; fullAt = 0; }, 200));

  // Issue form: show the input of the chosen audience.
  var audience = document.getElementById("audience");
  if (audience) {
    var sync = function () {
      document.querySelectorAll("[data-audience]").forEach(function (box) {
        box.hidden = box.getAttribute("data-audience") !== audience.value;
      });
    };
    audience.addEventListener("change", sync);
    sync();
  }
})();

// dse report / live dashboard: renders the page's plotly figures, shows a trial's full
// configuration when a point is hovered or clicked, sorts tables, and (live mode) polls the
// server and redraws when the study changes. No external requests.
(function () {
  "use strict";
  var TRIALS = {};

  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }

  function rows(title, obj) {
    if (!obj) { return ""; }
    var keys = Object.keys(obj);
    if (!keys.length) { return ""; }
    var out = "<tr><th colspan=2>" + esc(title) + "</th></tr>";
    keys.forEach(function (k) {
      out += "<tr><td>" + esc(k) + "</td><td>" + esc(obj[k]) + "</td></tr>";
    });
    return out;
  }

  function showTrial(number) {
    var panel = document.getElementById("details");
    var t = TRIALS[String(number)];
    if (!panel || !t) { return; }
    var head = "Trial #" + t.trial + " (" + t.state.toLowerCase() +
      (t.pareto ? ", Pareto" : "") + (t.feasible ? "" : ", infeasible") + ")";
    var link = document.body.dataset.configs && t.pareto ?
      ' <a href="' + esc(document.body.dataset.configs + "/trial-" + t.trial + ".json") +
      '">config</a>' : "";
    panel.innerHTML = "<h3>" + esc(head) + link + "</h3><table>" +
      rows("objectives", t.values) + rows("parameters", t.params) +
      rows("metrics", t.metrics) + rows("constraints", t.constraints) +
      (t.fail_reason ? rows("failure", { reason: t.fail_reason }) : "") + "</table>";
    panel.dataset.trial = String(t.trial);
  }

  // Per-layer views of one design: a click on a point or a Pareto-set row dims every other
  // design in the engine, serving, cluster and training views (heatmap rows get a frame).
  var DOMAIN_PLOTS = ["engine", "serving", "cluster", "training"];

  // Plotly's JSON keeps numeric arrays base64-encoded ({dtype, bdata}) in div.data.
  var TYPED = { i1: Int8Array, u1: Uint8Array, i2: Int16Array, u2: Uint16Array,
                i4: Int32Array, u4: Uint32Array, f4: Float32Array, f8: Float64Array };

  function plainArray(a) {
    if (!a || !a.bdata || !TYPED[a.dtype]) { return a; }
    var bin = atob(a.bdata), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    return new TYPED[a.dtype](bytes.buffer);
  }

  function highlightTrial(number) {
    var n = Number(number);
    if (!window.Plotly) { return; }
    DOMAIN_PLOTS.forEach(function (id) {
      var div = document.getElementById("plot-" + id);
      if (!div || !div.data) { return; }
      div.data.forEach(function (tr, k) {
        if (tr.type === "heatmap") {
          var row = (tr.y || []).indexOf("#" + n);
          Plotly.relayout(div, { shapes: row < 0 ? [] : [{
            type: "rect", xref: "paper", x0: 0, x1: 1, yref: "y", y0: row - 0.5,
            y1: row + 0.5, line: { color: "#d62728", width: 3 } }] });
          return;
        }
        var cd = plainArray(tr.customdata);
        if (!cd || !cd.length) { return; }
        var op = Array.prototype.map.call(cd, function (c) {
          return Number(Array.isArray(c) ? c[0] : c) === n ? 1.0 : 0.15;
        });
        if (tr.mode === "lines") {
          Plotly.restyle(div, { opacity: op[0] }, [k]);  // one line per design
        } else {
          Plotly.restyle(div, { "marker.opacity": [op] }, [k]);
        }
      });
    });
  }

  function pointTrial(ev) {
    if (!ev || !ev.points || !ev.points.length) { return null; }
    var cd = ev.points[0].customdata;
    if (Array.isArray(cd)) { cd = cd[0]; }
    return cd === undefined || cd === null ? null : cd;
  }

  // Parallel coordinates: abbreviated axis labels get their full name as a hover title, and
  // a row of checkboxes under the plot turns each axis on or off (layout.meta).
  function labelTitles(div) {
    var meta = (div.layout && div.layout.meta) || {};
    var full = meta.fullLabels;
    if (!full) { return; }
    div.querySelectorAll("text.axis-title").forEach(function (t) {
      var name = full[t.textContent];
      if (!name || t.querySelector("title")) { return; }
      var title = document.createElementNS("http://www.w3.org/2000/svg", "title");
      title.textContent = name;
      t.appendChild(title);
      t.style.pointerEvents = "all";
    });
  }

  function axisPicker(div) {
    var meta = (div.layout && div.layout.meta) || {};
    var trace = div.data && div.data[0];
    if (!meta.axisPicker || !trace || !trace.dimensions) { return; }
    var box = div.nextElementSibling;
    if (!box || !box.classList.contains("axis-picker")) {
      box = document.createElement("div");
      box.className = "axis-picker";
      div.parentNode.insertBefore(box, div.nextSibling);
    }
    var full = meta.fullLabels || {};
    box.innerHTML = "<span>axes:</span> ";
    trace.dimensions.forEach(function (d, i) {
      var label = document.createElement("label");
      var input = document.createElement("input");
      input.type = "checkbox";
      input.checked = d.visible !== false;
      input.addEventListener("change", function () {
        var upd = {};
        upd["dimensions[" + i + "].visible"] = input.checked;
        Plotly.restyle(div, upd, [0]);
      });
      label.title = full[d.label] || d.label;
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + d.label));
      box.appendChild(label);
    });
  }

  function renderFigures(figs) {
    var config = { responsive: true, displaylogo: false };
    Object.keys(figs || {}).forEach(function (id) {
      var div = document.getElementById("plot-" + id);
      if (!div) { return; }
      var fig = figs[id];
      Plotly.react(div, fig.data, fig.layout, config);
      labelTitles(div);
      axisPicker(div);
      if (!div.dataset.bound) {
        div.dataset.bound = "1";
        div.on("plotly_afterplot", function () { labelTitles(div); });
        div.on("plotly_hover", function (ev) { var n = pointTrial(ev); if (n !== null) { showTrial(n); } });
        div.on("plotly_click", function (ev) {
          var n = pointTrial(ev);
          if (n !== null) { showTrial(n); highlightTrial(n); }
        });
      }
    });
  }

  function sortBy(th) {
    var table = th.closest("table");
    var col = Number(th.dataset.col);
    var asc = !th.classList.contains("sorted-asc");
    table.querySelectorAll("th").forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
    th.classList.add(asc ? "sorted-asc" : "sorted-desc");
    var body = table.tBodies[0];
    var list = Array.prototype.slice.call(body.rows);
    list.sort(function (a, b) {
      var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
      if (x === undefined) { x = a.cells[col].textContent; }
      if (y === undefined) { y = b.cells[col].textContent; }
      var fx = parseFloat(x), fy = parseFloat(y);
      var cmp = (!isNaN(fx) && !isNaN(fy)) ? fx - fy : String(x).localeCompare(String(y));
      return asc ? cmp : -cmp;
    });
    list.forEach(function (r) { body.appendChild(r); });
  }

  function bindTables(root) {
    root.querySelectorAll("table.sortable th").forEach(function (th, i) {
      if (th.dataset.col === undefined) { th.dataset.col = String(th.cellIndex); }
      th.addEventListener("click", function () { sortBy(th); });
    });
    root.querySelectorAll("tr[data-trial]").forEach(function (tr) {
      tr.addEventListener("click", function (ev) {
        if (ev.target.tagName === "A") { return; }
        root.querySelectorAll("tr.selected").forEach(function (r) { r.classList.remove("selected"); });
        tr.classList.add("selected");
        showTrial(tr.dataset.trial);
        highlightTrial(tr.dataset.trial);
      });
    });
  }

  function render() {
    TRIALS = readJSON("trials") || {};
    bindTables(document);
    renderFigures(readJSON("figures"));
  }

  // -- live mode ----------------------------------------------------------------------------
  function poll() {
    var body = document.body;
    var every = Number(body.dataset.refreshMs || 0);
    if (!body.dataset.live || !every) { return; }
    var version = body.dataset.version || "";
    var busy = false;  // a slow rebuild must not stack up requests
    setInterval(function () {
      if (busy) { return; }
      busy = true;
      fetch(body.dataset.summaryUrl, { cache: "no-store" })
        .then(function (r) { return r.json(); })
        .then(function (s) {
          if (s.version === version) { return null; }
          version = s.version;
          return fetch(body.dataset.pageUrl, { cache: "no-store" }).then(function (r) { return r.json(); });
        })
        .then(function (page) {
          if (!page) { return; }
          body.dataset.version = page.version;
          document.getElementById("summary").innerHTML = page.summary;
          var n = document.getElementById("trial-count");
          if (n) { n.textContent = String(page.n_trials); }
          if (page.sections !== undefined) {
            var sections = document.getElementById("sections");
            sections.innerHTML = page.sections;
            bindTables(sections);
          }
          if (page.trials) { TRIALS = page.trials; }
          renderFigures(page.figures || {});
          var shown = document.getElementById("details").dataset.trial;
          if (shown) { showTrial(shown); }
        })
        .then(function () {
          var s = document.getElementById("status");
          if (s) { s.textContent = ""; }
        })
        .catch(function (err) {
          var s = document.getElementById("status");
          if (s) { s.textContent = "server unreachable: " + err; }
        })
        .finally(function () { busy = false; });
    }, every);
  }

  window.dseReport = { showTrial: showTrial, render: render };
  document.addEventListener("DOMContentLoaded", function () { render(); poll(); });
})();

// The runs list: filters and pages over window.PROVISION_RUNS (assets/runs-data.js). Every
// value goes in as text (textContent), never as markup.
(function () {
  "use strict";
  var PAGE = 50;
  var rows = window.PROVISION_RUNS || [];
  var COL = { id: 0, kind: 1, env: 2, status: 3, who: 4, started: 5, commit: 6, page: 7, changed: 8, tone: 9 };
  var filters = { env: "f-env", kind: "f-kind", status: "f-status", who: "f-who" };
  var text = document.getElementById("f-text");
  var body = document.querySelector("#runs tbody");
  var count = document.getElementById("count");
  var prev = document.getElementById("prev");
  var next = document.getElementById("next");
  var page = 0;

  function fill(key) {
    var seen = {};
    rows.forEach(function (r) { seen[r[COL[key]]] = true; });
    var select = document.getElementById(filters[key]);
    Object.keys(seen).sort().forEach(function (value) {
      var option = document.createElement("option");
      option.value = value;
      option.textContent = value;
      select.appendChild(option);
    });
    select.addEventListener("change", function () { page = 0; update(true); });
  }

  function wanted() {
    var want = {};
    Object.keys(filters).forEach(function (key) {
      want[key] = document.getElementById(filters[key]).value;
    });
    return want;
  }

  function cell(tr, value, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = value;
    tr.appendChild(td);
    return td;
  }

  function render(shown) {
    body.textContent = "";
    var start = page * PAGE;
    shown.slice(start, start + PAGE).forEach(function (r) {
      var tr = document.createElement("tr");
      var td = cell(tr, "");
      var a = document.createElement("a");
      a.className = "mono";
      a.href = "runs/" + encodeURIComponent(r[COL.page]) + ".html";
      a.textContent = r[COL.id];
      td.appendChild(a);
      cell(tr, r[COL.kind]);
      cell(tr, r[COL.env]);
      var pill = document.createElement("span");
      pill.className = "pill " + r[COL.tone];
      pill.textContent = r[COL.status];
      cell(tr, "").appendChild(pill);
      cell(tr, r[COL.who], "text");
      cell(tr, r[COL.started], "when");
      cell(tr, String(r[COL.changed]), "num");
      cell(tr, r[COL.commit], "mono");
      body.appendChild(tr);
    });
    if (!shown.length) {
      var tr = document.createElement("tr");
      cell(tr, "No run matches these filters.", "muted").colSpan = 8;
      body.appendChild(tr);
    }
    var pages = Math.max(1, Math.ceil(shown.length / PAGE));
    count.textContent = shown.length + " of " + rows.length + " runs · page " + (page + 1) + " of " + pages;
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }

  var shown = rows;
  function update(keepHash) {
    var want = wanted();
    var needle = text.value.trim().toLowerCase();
    shown = rows.filter(function (r) {
      for (var key in want) {
        if (want[key] && r[COL[key]] !== want[key]) return false;
      }
      return !needle || r[COL.id].indexOf(needle) >= 0 || r[COL.commit].indexOf(needle) >= 0;
    });
    render(shown);
    if (keepHash) {
      var parts = [];
      Object.keys(want).forEach(function (key) {
        if (want[key]) parts.push(key + "=" + encodeURIComponent(want[key]));
      });
      try {  // some browsers refuse history changes on file:// pages; the filters still work
        history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname);
      } catch (e) { /* the address just does not follow the filters */ }
    }
  }

  function fromHash() {
    location.hash.replace(/^#/, "").split("&").forEach(function (part) {
      var kv = part.split("=");
      if (filters[kv[0]]) {
        var select = document.getElementById(filters[kv[0]]);
        var value = decodeURIComponent(kv[1] || "");
        for (var i = 0; i < select.options.length; i++) {
          if (select.options[i].value === value) select.value = value;
        }
      }
    });
  }

  Object.keys(filters).forEach(fill);
  text.addEventListener("input", function () { page = 0; update(false); });
  prev.addEventListener("click", function () { page -= 1; render(shown); });
  next.addEventListener("click", function () { page += 1; render(shown); });
  fromHash();
  update(false);
})();

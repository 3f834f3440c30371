// mirrorwatch status pages: sorts the mirror table in the browser when a column header is
// clicked, without a round trip. The server sorts the same way from `?sort=`, so the page
// works without this script. A `#sort=<key>` or `#sort=-<key>` in the address applies a sort
// on load. Each cell sorts by its `data-v` if it has one, else by its text.
"use strict";
(function () {
  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) return "";
    var v = cell.getAttribute("data-v");
    return v === null ? cell.textContent.trim() : v;
  }
  function compare(a, b) {
    var empty = (a === "") - (b === "");
    if (empty) return empty; // empty cells last
    var x = Number(a), y = Number(b);
    if (a !== "" && b !== "" && !isNaN(x) && !isNaN(y)) return x - y;
    return a.localeCompare(b);
  }
  function sortTable(table, spec) {
    var descending = spec.charAt(0) === "-";
    var key = descending ? spec.slice(1) : spec;
    var headers = table.tHead.rows[0].cells, index = -1;
    for (var i = 0; i < headers.length; i++) {
      if (headers[i].getAttribute("data-key") === key) index = i;
    }
    if (index < 0) return false;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      var a = cellValue(r, index), b = cellValue(s, index);
      if ((a === "") !== (b === "")) return a === "" ? 1 : -1;
      var c = compare(a, b);
      if (descending) c = -c;
      return c || compare(cellValue(r, 0), cellValue(s, 0));
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.setAttribute("data-sort", spec);
    table.setAttribute("data-sorted-by", "script");
    return true;
  }
  function fromHash(table) {
    var m = /(?:^#|&)sort=(-?[a-z]+)/.exec(location.hash);
    if (m) sortTable(table, m[1]);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var table = document.getElementById("mirror-table");
    if (!table) return;
    table.tHead.addEventListener("click", function (event) {
      var th = event.target.closest("th[data-key]");
      if (!th) return;
      event.preventDefault();
      var key = th.getAttribute("data-key");
      var spec = table.getAttribute("data-sort") === key ? "-" + key : key;
      if (sortTable(table, spec)) history.replaceState(null, "", "#sort=" + spec);
    });
    fromHash(table);
    window.addEventListener("hashchange", function () { fromHash(table); });
  });
})();

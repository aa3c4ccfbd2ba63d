// Progressive enhancement only: sortable columns and a row filter for long
// tables. With scripts off, every table is complete and readable.
(function () {
  "use strict";
  function cellValue(row, col) {
    var cell = row.cells[col];
    var text = cell ? cell.textContent.trim() : "";
    var num = parseFloat(text.replace(/[,%×]|pp|ms/g, ""));
    return isNaN(num) || !/^[-+]?[\d.,]/.test(text) ? text.toLowerCase() : num;
  }
  function sortBy(table, col, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute("aria-sort") !== "ascending";
    rows.sort(function (a, b) {
      var x = cellValue(a, col), y = cellValue(b, col);
      if (typeof x === typeof y) { return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1); }
      return (typeof x === "number" ? -1 : 1) * (asc ? 1 : -1);
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.setAttribute("aria-sort", "none"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function addFilter(table, index) {
    var wrap = document.createElement("p");
    wrap.className = "filter";
    var id = "filter-" + index;
    var label = document.createElement("label");
    label.setAttribute("for", id);
    label.textContent = "Filter rows: ";
    var input = document.createElement("input");
    input.type = "search";
    input.id = id;
    input.addEventListener("input", function () {
      var q = input.value.toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
        r.hidden = q !== "" && r.textContent.toLowerCase().indexOf(q) === -1;
      });
    });
    wrap.appendChild(label);
    wrap.appendChild(input);
    table.parentNode.parentNode.insertBefore(wrap, table.parentNode);
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table, index) {
    var body = table.tBodies[0];
    if (!table.tHead || !body || body.rows.length < 2) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = th.textContent;
      th.textContent = "";
      th.appendChild(button);
      th.setAttribute("aria-sort", "none");
      button.addEventListener("click", function () { sortBy(table, col, th); });
    });
    if (body.rows.length > 10) { addFilter(table, index); }
  });
})();

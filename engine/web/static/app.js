// The dashboard's only script: draws the plotly charts whose figures the page carries as JSON, and
// keeps the transition log live through server-sent events (rows built with textContent: no HTML
// from the journal is ever interpreted).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const block of document.querySelectorAll("script[data-chart]")) {
    const target = document.getElementById(block.dataset.chart);
    if (!target || !window.Plotly) continue;
    const figure = JSON.parse(block.textContent);
    window.Plotly.newPlot(target, figure.data, figure.layout || {}, {responsive: true, displaylogo: false});
  }
  const stream = document.getElementById("log-stream");
  const rows = document.getElementById("log-rows");
  if (!stream || !rows) return;
  const status = document.getElementById("live-status");
  const columns = ["label", "time", "position", "symbol", "event", "edge", "details"];
  const source = new EventSource(stream.dataset.src);
  source.onopen = () => { if (status) status.textContent = "(connected)"; };
  source.onerror = () => { if (status) status.textContent = "(reconnecting…)"; };
  source.onmessage = (message) => {
    const cells = JSON.parse(message.data);
    const tr = document.createElement("tr");
    tr.className = "new";
    for (const key of columns) {
      const td = document.createElement("td");
      td.textContent = cells[key];
      tr.appendChild(td);
    }
    rows.insertBefore(tr, rows.firstChild);
    while (rows.children.length > 500) rows.removeChild(rows.lastChild);
  };
});

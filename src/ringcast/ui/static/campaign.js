// The campaign page's charts, drawn with uPlot from charts.json (every 30 s) and
// forecast.json (on load and every 5 minutes: on a large campaign it takes seconds). Times are shown in the campaign's zone.
(function () {
  "use strict";
  const root = document.getElementById("charts");
  if (!root || !window.uPlot) return;
  const zone = root.dataset.zone;
  const tzDate = (ts) => uPlot.tzDate(new Date(ts * 1e3), zone);
  const plots = {};
  const colours = {
    answered: "#1e7a35", no_answer: "#8a5a00", busy: "#6a3d9a", voicemail: "#0b5cad",
    failed: "#a4161a", in_progress: "#6b7280",
  };
  const labels = {
    answered: "answered", no_answer: "no answer", busy: "busy", voicemail: "voicemail",
    failed: "failed", in_progress: "in progress",
  };

  function size(div) {
    return { width: Math.max(260, div.clientWidth - 4), height: 220 };
  }

  function draw(id, opts, data) {
    const div = document.getElementById(id);
    if (!div) return;
    if (!data[0].length) {
      if (plots[id]) { plots[id].destroy(); delete plots[id]; }
      div.textContent = "Nothing to draw yet.";
      return;
    }
    if (plots[id]) { plots[id].setData(data); return; }
    div.textContent = "";
    // half an hour either side of the data (uPlot widens a single instant to years)
    const xs = (u) => u.data[0];
    const range = (u) => [xs(u)[0] - 1800, xs(u)[xs(u).length - 1] + 1800];
    const scales = { x: { time: true, range } };
    plots[id] = new uPlot(Object.assign({ tzDate, scales }, size(div), opts), data, div);
  }

  function hourly(h) {
    const bars = uPlot.paths.bars({ size: [0.8, 40] });
    draw("chart-hourly", {
      series: [{}, { label: "attempts", stroke: "#0b5cad", fill: "rgba(11,92,173,0.35)", paths: bars }],
      axes: [{}, { label: "attempts" }],
    }, [h.x, h.attempts]);
    const groups = ["answered", "no_answer", "busy", "voicemail", "failed", "in_progress"];
    draw("chart-outcomes", {
      series: [{}].concat(groups.map((g) => ({
        label: labels[g], stroke: colours[g], width: 2, points: { show: true, size: 6 },
      }))),
      axes: [{}, { label: "calls per hour" }],
    }, [h.x].concat(groups.map((g) => h[g])));
  }

  let achieved = [];
  let predicted = null;

  function completion() {
    const a = [achieved.map((p) => p[0]), achieved.map((p) => p[1])];
    const tables = [a];
    if (predicted) tables.push([predicted.points.map((p) => p[0]), predicted.points.map((p) => p[1])]);
    const data = tables.length > 1 ? uPlot.join(tables) : a;
    const series = [{}, { label: "achieved", stroke: "#1e7a35", width: 2, spanGaps: true }];
    if (predicted) series.push({ label: "forecast", stroke: "#0b5cad", width: 2, dash: [6, 4], spanGaps: true });
    if (plots["chart-forecast"] && plots["chart-forecast"].series.length !== series.length) {
      plots["chart-forecast"].destroy(); delete plots["chart-forecast"];
    }
    const scales = { x: { time: true } };  // the curves' own span, unpadded
    draw("chart-forecast", { series, scales, axes: [{}, { label: "final contacts" }] }, data);
  }

  async function load() {
    try {
      const r = await fetch(root.dataset.src, { credentials: "same-origin" });
      if (!r.ok) return;
      const body = await r.json();
      hourly(body.hourly);
      achieved = body.achieved;
      completion();
    } catch (e) { /* the next round tries again */ }
  }

  async function loadForecast() {
    const out = document.getElementById("forecast-end");
    try {
      const r = await fetch(root.dataset.forecast, { credentials: "same-origin" });
      if (!r.ok) { out.textContent = "Forecast unavailable."; return; }
      predicted = await r.json();
      out.textContent = predicted.end_text
        ? "Predicted end: " + predicted.end_text + (predicted.all_final ? "" : " (some contacts would still be waiting)")
        : "Predicted end: none (nothing more would be dialled from the campaign's current state).";
      completion();
    } catch (e) { out.textContent = "Forecast unavailable."; }
  }

  window.addEventListener("resize", () => {
    for (const id in plots) plots[id].setSize(size(document.getElementById(id)));
  });
  load();
  loadForecast();
  setInterval(load, 30000);
  setInterval(loadForecast, 300000);
})();

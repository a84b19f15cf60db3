// The forecast page's charts, drawn with uPlot from the JSON the page carries: attempts per
// local day (bars) and final contacts over time, in the campaign's zone.
(function () {
  "use strict";
  const source = document.getElementById("forecast-data");
  if (!source || !window.uPlot) return;
  const data = JSON.parse(source.textContent);
  const tzDate = (ts) => uPlot.tzDate(new Date(ts * 1e3), data.zone);
  const plots = [];

  function size(div) {
    return { width: Math.max(260, div.clientWidth - 4), height: 220 };
  }

  function draw(id, opts, table) {
    const div = document.getElementById(id);
    if (!div) return;
    if (!table[0].length) { div.textContent = "Nothing to draw."; return; }
    plots.push([div, new uPlot(Object.assign(size(div), opts), table, div)]);
  }

  // one bar per local day, at 0, 1, 2...; a label on at most about eight of them
  const labels = data.days.labels;
  const every = Math.max(1, Math.ceil(labels.length / 8));
  const ticks = labels.map((_, i) => i).filter((i) => i % every === 0);
  draw("chart-days", {
    scales: { x: { time: false, range: [-0.5, Math.max(0.5, labels.length - 0.5)] } },
    series: [{ label: "day", value: (u, i) => (i == null ? "--" : labels[i]) }, {
      label: "attempts", stroke: "#0b5cad", fill: "rgba(11,92,173,0.35)",
      paths: uPlot.paths.bars({ size: [0.7, 60] }),
    }],
    axes: [
      { splits: () => ticks, values: (u, splits) => splits.map((i) => labels[i] || "") },
      { label: "attempts" },
    ],
  }, [labels.map((_, i) => i), data.days.attempts]);

  const points = data.completion;
  draw("chart-completion", {
    tzDate,
    series: [{}, { label: "final contacts", stroke: "#1e7a35", width: 2 }],
    axes: [{}, { label: "final of " + data.contacts }],
    scales: { y: { range: [0, Math.max(1, data.contacts)] } },
  }, [points.map((p) => p[0]), points.map((p) => p[1])]);

  window.addEventListener("resize", () => {
    for (const [div, plot] of plots) plot.setSize(size(div));
  });
})();

// Usage charts: draws each <canvas data-usage-chart="calls|errors|error_rate|latency">
// with Chart.js from the numbers the page embeds as JSON (json_script with
// id "usage-series"). No inline script or style: the CSP allows only 'self'.
(function () {
  "use strict";
  const source = document.getElementById("usage-series");
  if (!source || typeof window.Chart === "undefined") return;
  const series = JSON.parse(source.textContent);
  const css = getComputedStyle(document.documentElement);
  const color = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  const palette = {
    accent: color("--accent", "#0b5cad"),
    warn: color("--warn", "#8a5a00"),
    danger: color("--danger", "#b42318"),
    ok: color("--ok", "#0f6b3a"),
    muted: color("--muted", "#4d5661"),
    line: color("--line", "#d0d7de"),
  };
  const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  // Lines differ by dash and point style as well as colour, so they can be
  // told apart without seeing colour.
  const charts = {
    calls: {
      type: "bar",
      unit: "calls",
      datasets: [{ label: "Calls", key: "calls", color: palette.accent }],
    },
    errors: {
      type: "line",
      unit: "responses",
      datasets: [
        { label: "4xx errors", key: "errors_4xx", color: palette.warn, pointStyle: "circle" },
        { label: "5xx errors", key: "errors_5xx", color: palette.danger, pointStyle: "rect", dash: [6, 3] },
        { label: "429 throttled", key: "throttled", color: palette.muted, pointStyle: "triangle", dash: [2, 2] },
      ],
    },
    error_rate: { // the staff overview
      type: "line",
      unit: "%",
      datasets: [{ label: "Error rate (%)", key: "error_rate_pct", color: palette.danger, pointStyle: "rect" }],
    },
    latency: {
      type: "line",
      unit: "ms",
      datasets: [
        { label: "p50 (ms)", key: "p50_ms", color: palette.ok, pointStyle: "circle" },
        { label: "p95 (ms)", key: "p95_ms", color: palette.danger, pointStyle: "rect", dash: [6, 3] },
      ],
    },
  };

  document.querySelectorAll("canvas[data-usage-chart]").forEach((canvas) => {
    const spec = charts[canvas.dataset.usageChart];
    if (!spec) return;
    new window.Chart(canvas, {
      type: spec.type,
      data: {
        labels: series.labels,
        datasets: spec.datasets.map((d) => ({
          label: d.label,
          data: series[d.key],
          borderColor: d.color,
          backgroundColor: d.color,
          borderDash: d.dash || [],
          pointStyle: d.pointStyle || "circle",
          pointRadius: series.labels.length > 60 ? 0 : 2,
          borderWidth: 2,
          spanGaps: false,
        })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: reduceMotion ? false : { duration: 300 },
        interaction: { mode: "index", intersect: false },
        scales: {
          x: {
            offset: true, // keeps the newest point clear of the edge
            ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 12 },
            grid: { color: palette.line },
          },
          y: {
            beginAtZero: true,
            ticks: { precision: spec.unit === "ms" || spec.unit === "%" ? undefined : 0 },
            title: { display: true, text: spec.unit },
            grid: { color: palette.line },
          },
        },
        plugins: { legend: { display: spec.datasets.length > 1, labels: { usePointStyle: true } } },
      },
    });
    canvas.dataset.rendered = "true";
  });
})();

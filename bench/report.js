// report.js: draws herdbench's charts as inline SVG from REPORT (the JSON
// of the run). No libraries, no network. Sets body[data-rendered] when done.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const PALETTE = ["#4c78a8", "#2ca02c", "#e45756", "#f58518", "#9467bd", "#8c564b", "#17becf"];
const NAMED = {direct: "#4c78a8", shepherd: "#2ca02c", nutcracker: "#e45756",
  off: "#e45756", on: "#4c78a8", origin: "#2ca02c", add: "#4c78a8", remove: "#f58518"};

function color(name, i) { return NAMED[name] || PALETTE[i % PALETTE.length]; }

function svg(tag, attrs, parent) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

function text(parent, x, y, s, attrs) {
  const t = svg("text", Object.assign({x: x, y: y, "font-size": 11, fill: "#333"}, attrs || {}), parent);
  t.textContent = s;
  return t;
}

function fmtNum(v) {
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
  if (a >= 1e3) return (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + "k";
  if (a >= 10 || a === 0) return v.toFixed(0);
  return v.toFixed(a >= 1 ? 1 : 2);
}

function fmtUs(v) {
  if (v >= 1e6) return (v / 1e6).toFixed(v >= 1e7 ? 0 : 1) + "s";
  if (v >= 1e3) return (v / 1e3).toFixed(v >= 1e4 ? 0 : 1) + "ms";
  return v.toFixed(0) + "µs";
}

// ticks returns about n round values spanning [lo, hi].
function ticks(lo, hi, n) {
  if (hi <= lo) hi = lo + 1;
  const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
  return out;
}

function logTicks(lo, hi) {
  const out = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(Math.pow(10, e));
  return out;
}

// box makes the card, title and svg of one chart.
function box(parent, title, w, h) {
  const div = document.createElement("div");
  div.className = "chart";
  const t = document.createElement("div");
  t.className = "title";
  t.textContent = title;
  div.appendChild(t);
  parent.appendChild(div);
  return svg("svg", {width: w, height: h, viewBox: "0 0 " + w + " " + h}, div);
}

// legend draws series names in a row under the plot.
function legend(s, items, x, y) {
  let cx = x;
  items.forEach(it => {
    svg("rect", {x: cx, y: y - 9, width: 12, height: 4, fill: it.color}, s);
    const t = text(s, cx + 16, y - 4, it.name);
    cx += 24 + 7 * it.name.length;
  });
}

// lineChart: opts.series [{name, color, points: [[x, y|null]], dash}],
// opts.events [{t, label}], opts.bands [{from, to, label}], opts.strips
// [{name, color, spans: [[from, to]]}], opts.logY, opts.yFmt, opts.yLabel.
function lineChart(parent, opts) {
  const W = opts.width || 560, strips = opts.strips || [], H = (opts.height || 240) + strips.length * 12;
  const m = {l: 58, r: 12, t: 10, b: 44 + strips.length * 12};
  const s = box(parent, opts.title, W, H);
  const pw = W - m.l - m.r, ph = H - m.t - m.b;
  const pts = [].concat(...opts.series.map(se => se.points.filter(p => p[1] !== null && (!opts.logY || p[1] > 0))));
  const xs = pts.map(p => p[0]).concat((opts.events || []).map(e => e.t));
  let x0 = Math.min(0, ...xs), x1 = Math.max(1, ...xs);
  let y0 = 0, y1 = Math.max(1e-9, ...pts.map(p => p[1]));
  if (opts.logY) { y0 = Math.max(1, Math.min(...pts.map(p => p[1]), 10)); y1 = Math.max(y1, y0 * 10); }
  if (opts.yMax) y1 = opts.yMax;
  const X = v => m.l + (v - x0) / (x1 - x0) * pw;
  const Y = opts.logY ? v => m.t + ph - (Math.log10(v) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0)) * ph
                      : v => m.t + ph - (v - y0) / (y1 - y0) * ph;
  (opts.bands || []).forEach(b => svg("rect", {x: X(b.from), y: m.t, width: Math.max(1, X(b.to) - X(b.from)), height: ph, fill: "#fde9e7"}, s));
  const yt = opts.logY ? logTicks(y0, y1) : ticks(y0, y1, 5);
  const yf = opts.yFmt || fmtNum;
  yt.filter(v => v >= y0 && v <= y1).forEach(v => {
    svg("line", {x1: m.l, x2: m.l + pw, y1: Y(v), y2: Y(v), stroke: "#e6e9ef"}, s);
    text(s, m.l - 5, Y(v) + 4, yf(v), {"text-anchor": "end"});
  });
  ticks(x0, x1, 8).forEach(v => text(s, X(v), m.t + ph + 14, fmtNum(v), {"text-anchor": "middle"}));
  text(s, m.l + pw, m.t + ph + 27, opts.xLabel || "seconds", {"text-anchor": "end", fill: "#666"});
  if (opts.yLabel) text(s, 12, m.t + ph / 2, opts.yLabel, {"text-anchor": "middle", transform: "rotate(-90 12 " + (m.t + ph / 2) + ")", fill: "#666"});
  svg("rect", {x: m.l, y: m.t, width: pw, height: ph, fill: "none", stroke: "#c9ced8"}, s);
  opts.series.forEach(se => {
    let d = "", pen = false;
    se.points.forEach(p => {
      const ok = p[1] !== null && (!opts.logY || p[1] > 0);
      if (ok) { d += (pen ? "L" : "M") + X(p[0]).toFixed(1) + "," + Y(Math.min(p[1], y1)).toFixed(1); }
      pen = ok;
    });
    if (d) svg("path", {d: d, fill: "none", stroke: se.color, "stroke-width": 1.6, "stroke-dasharray": se.dash || "none"}, s);
  });
  (opts.events || []).forEach((e, i) => {
    svg("line", {x1: X(e.t), x2: X(e.t), y1: m.t, y2: m.t + ph, stroke: e.color || "#555", "stroke-dasharray": "3,3"}, s);
    text(s, X(e.t) + 3, m.t + 11 + (i % 4) * 11, e.label, {fill: e.color || "#555", "font-size": 10});
  });
  strips.forEach((st, i) => {
    const y = m.t + ph + 32 + i * 12;
    text(s, m.l - 5, y + 8, st.name, {"text-anchor": "end", "font-size": 10});
    svg("rect", {x: m.l, y: y, width: pw, height: 9, fill: "#eef6ee"}, s);
    st.spans.forEach(sp => svg("rect", {x: X(sp[0]), y: y, width: Math.max(2, X(sp[1]) - X(sp[0])), height: 9, fill: st.color}, s));
  });
  legend(s, opts.series.filter(se => !se.noLegend), m.l, H - 2);
}

// barChart: opts.groups [label], opts.series [{name, color, values}].
function barChart(parent, opts) {
  const W = opts.width || 560, H = opts.height || 240, m = {l: 58, r: 12, t: 10, b: 44};
  const s = box(parent, opts.title, W, H);
  const pw = W - m.l - m.r, ph = H - m.t - m.b;
  const y1 = Math.max(1e-9, ...[].concat(...opts.series.map(se => se.values)));
  const Y = v => m.t + ph - v / y1 * ph;
  ticks(0, y1, 5).filter(v => v <= y1).forEach(v => {
    svg("line", {x1: m.l, x2: m.l + pw, y1: Y(v), y2: Y(v), stroke: "#e6e9ef"}, s);
    text(s, m.l - 5, Y(v) + 4, (opts.yFmt || fmtNum)(v), {"text-anchor": "end"});
  });
  const gw = pw / opts.groups.length, bw = gw * 0.8 / opts.series.length;
  opts.groups.forEach((g, gi) => {
    text(s, m.l + gi * gw + gw / 2, m.t + ph + 14, g, {"text-anchor": "middle", "font-size": 10});
    opts.series.forEach((se, si) => {
      const v = se.values[gi] || 0, x = m.l + gi * gw + gw * 0.1 + si * bw;
      svg("rect", {x: x, y: Y(v), width: Math.max(1, bw - 2), height: m.t + ph - Y(v), fill: se.color}, s);
    });
  });
  svg("rect", {x: m.l, y: m.t, width: pw, height: ph, fill: "none", stroke: "#c9ced8"}, s);
  if (opts.yLabel) text(s, 12, m.t + ph / 2, opts.yLabel, {"text-anchor": "middle", transform: "rotate(-90 12 " + (m.t + ph / 2) + ")", fill: "#666"});
  legend(s, opts.series, m.l, H - 2);
}

function uniq(xs) { return xs.filter((x, i) => xs.indexOf(x) === i); }

// series maps samples to [t + offset, field] points.
function pts(samples, field, offset) {
  return (samples || []).map(x => [x.t + (offset || 0), x[field] === undefined ? null : x[field]]);
}

function throughputCharts(c, tp) {
  const labels = uniq(tp.points.map(p => p.label));
  const value = (t, l, f) => { const p = tp.points.find(p => p.target === t && p.label === l); return p ? f(p) : 0; };
  const bars = (title, f, yFmt) => barChart(c, {title: title, groups: labels, yFmt: yFmt,
    series: tp.targets.map((t, i) => ({name: t, color: color(t, i), values: labels.map(l => value(t, l, f))}))});
  bars("ops/s per point", p => p.ops_per_s);
  bars("ratio to direct (ops/s)", p => p.ratio_to_direct || 0, v => v.toFixed(2));
  bars("p99 latency per point", p => p.latency.p99_us, fmtUs);
  const cost = f => p => p.cost ? f(p.cost) : 0;
  bars("CPU µs per request (the target's own processes)", cost(c => c.cpu_us_per_req), v => v.toFixed(1));
  bars("read+write syscalls per request", cost(c => c.syscalls_per_req), v => v.toFixed(2));
  bars("context switches per request", cost(c => c.ctx_switches_per_req), v => v.toFixed(2));
  const over = (title, field, logY, yFmt) => lineChart(c, {title: title, logY: logY, yFmt: yFmt,
    series: tp.targets.map((t, i) => ({name: t, color: color(t, i),
      points: [].concat(...tp.points.filter(p => p.target === t).map(p => pts(p.series, field, p.start).concat([[p.start + p.seconds, null]])))}))});
  over("throughput over time (each target's points in turn)", "ops_per_s", false);
  over("p99 latency over time", "p99_us", true, fmtUs);
}

function herdCharts(c, h) {
  const modes = h.modes;
  const events = (modes[0] && modes[0].events || []).map(e => ({t: e.t, label: e.label}));
  const per = (title, f, logY, yFmt) => lineChart(c, {title: title, events: events, logY: logY, yFmt: yFmt,
    series: modes.map((m, i) => ({name: m.mode + (m.active ? "" : " (no rule)"), color: color(m.mode, i), points: f(m)}))});
  per("origin fills per second, with and without protection", m => (m.fill_series || []).map(x => [x.t, x.clients_per_s + x.shepherd_per_s]));
  per("misses handed to clients per second", m => pts(m.series, "misses_per_s"));
  per("reader p99 latency (time until a reader holds a value)", m => pts(m.series, "p99_us"), true, fmtUs);
  per("reads per second", m => pts(m.series, "ops_per_s"));
}

// spans turns node samples flagged ejected into [from, to] intervals.
function spans(samples, width) {
  const out = [];
  (samples || []).forEach(x => {
    if (!x.ejected) return;
    const last = out[out.length - 1];
    if (last && x.t - last[1] <= width * 1.5) last[1] = x.t; else out.push([x.t, x.t + width / 2]);
  });
  return out;
}

function failoverCharts(c, fo) {
  fo.runs.forEach(run => {
    const band = [{from: run.fault_at, to: run.return_at}];
    const events = [].concat(...run.targets.map(t => (t.events || []).filter(e => !/^fault|^return/.test(e.label))
      .map(e => ({t: e.t, label: t.target + " " + e.label, color: color(t.target, 0)}))));
    events.push({t: run.fault_at, label: run.variant, color: "#b00020"}, {t: run.return_at, label: "return", color: "#b00020"});
    const width = run.targets[0] && run.targets[0].series.length > 1 ? run.targets[0].series[1].t - run.targets[0].series[0].t : 0.1;
    const strips = run.targets.map((t, i) => ({name: t.target, color: color(t.target, i), spans: spans(t.node_series, width)}));
    lineChart(c, {title: run.variant + ": requests/s (solid) and errors/s (dashed) seen by clients; bars: node out of the proxy's ring", bands: band, events: events, strips: strips,
      series: [].concat(...run.targets.map((t, i) => [
        {name: t.target, color: color(t.target, i), points: pts(t.series, "ops_per_s")},
        {name: t.target + " errors", color: color(t.target, i), dash: "4,3", points: pts(t.series, "errors_per_s")}]))});
    lineChart(c, {title: run.variant + ": requests/s reaching the faulted node (gap: not answering)", bands: band, events: events, strips: strips,
      series: run.targets.map((t, i) => ({name: t.target, color: color(t.target, i),
        points: (t.node_series || []).map(x => [x.t, x.requests_per_s < 0 ? null : x.requests_per_s])}))});
    lineChart(c, {title: run.variant + ": slowest request per " + width.toFixed(1) + " s", bands: band, logY: true, yFmt: fmtUs,
      series: run.targets.map((t, i) => ({name: t.target, color: color(t.target, i), points: pts(t.series, "max_us")}))});
  });
}

function rebalanceCharts(c, rb) {
  const rate = x => (x.hits_per_s + x.misses_per_s) > 0 ? 100 * x.hits_per_s / (x.hits_per_s + x.misses_per_s) : null;
  lineChart(c, {title: "hit rate (%) over time; dashed line: the change", yMax: 100, yFmt: v => v.toFixed(0) + "%",
    events: rb.runs.map((r, i) => ({t: r.change_at, label: r.change, color: color(r.change, i)})),
    series: rb.runs.map((r, i) => ({name: r.change + " " + r.from_nodes + "→" + r.to_nodes + " (" + r.method + ")", color: color(r.change, i),
      points: (r.series || []).map(x => [x.t, rate(x)])}))});
  lineChart(c, {title: "client gets per second",
    series: rb.runs.map((r, i) => ({name: r.change, color: color(r.change, i), points: pts(r.series, "ops_per_s")}))});
}

function commentsCharts(c, cm) {
  const kinds = cm.kinds || [];
  const reqs = pts(cm.series, "ops_per_s");
  lineChart(c, {title: "requests/s and DB queries/s (the service's own count, X-DB-Queries)", series: [
    {name: "requests/s", color: PALETTE[0], points: reqs},
    {name: "DB queries/s", color: PALETTE[2], points: pts(cm.cost_series, "db_queries_per_s")}]});
  const perReq = (cm.cost_series || []).map((x, i) => {
    const r = cm.series && cm.series[i] ? cm.series[i].ops_per_s : 0;
    return [x.t, r > 0 ? x.db_queries_per_s / r : null];
  });
  lineChart(c, {title: "DB queries per request over time", yFmt: v => v.toFixed(2),
    series: [{name: "queries / request", color: PALETTE[2], points: perReq}]});
  lineChart(c, {title: "p99 latency by kind", logY: true, yFmt: fmtUs,
    series: kinds.map((k, i) => ({name: k.kind, color: PALETTE[i], points: pts(k.series, "p99_us")}))});
}

function render() {
  (REPORT.results || []).forEach((r, i) => {
    const c = document.getElementById("charts" + i);
    if (!c) return;
    if (r.throughput) throughputCharts(c, r.throughput);
    if (r.herd) herdCharts(c, r.herd);
    if (r.failover) failoverCharts(c, r.failover);
    if (r.rebalance) rebalanceCharts(c, r.rebalance);
    if (r.comments) commentsCharts(c, r.comments);
  });
  document.body.setAttribute("data-rendered", "1");
}

render();

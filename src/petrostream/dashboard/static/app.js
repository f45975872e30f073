// PetroStream dashboard: plain JavaScript, charts drawn in SVG, data from /api (see /api/openapi.json).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#0b6bcb", "#e04f16", "#099250", "#7a5af8", "#c11574", "#0e9384", "#b54708", "#344054"];
// One tint per 3W event class (1-9); transients are drawn lighter and hatched.
const EVENT_COLORS = {
  1: "#fdb022", 2: "#f04438", 3: "#9e77ed", 4: "#2e90fa", 5: "#ee46bc",
  6: "#15b79e", 7: "#a15c07", 8: "#66c61c", 9: "#6172f3",
};
const POLL = { fleet: 4000, alerts: 2000, health: 3000, chart: 5000 };

const state = {
  well: null,
  sensors: [],           // [{column, tag, unit, kind}]
  chosen: new Set(["p_pdg", "p_tpt", "t_tpt"]),
  last: "",              // range select value (seconds) or "" for all
  zoom: null,            // {start, end} in ms while zoomed
  series: null,
  seenAlerts: new Set(),
  firstAlerts: true,
  sqlBusy: false,
  lastOk: Date.now(),
};

const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ helpers

async function api(path, options) {
  const response = await fetch(path, options);
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const message = body && body.error ? body.error : `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  state.lastOk = Date.now();
  return body;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function sv(tag, attrs, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.append(node);
  return node;
}

const fmtInt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
const bar = (pa) => (pa === null || pa === undefined ? "–" : (pa / 1e5).toFixed(1));
const deg = (c) => (c === null || c === undefined ? "–" : Number(c).toFixed(1));

function age(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, seconds);
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

function ageOf(iso) {
  if (!iso) return null;
  return (Date.now() - Date.parse(iso)) / 1000;
}

function hms(ms) {
  return new Date(ms).toISOString().slice(11, 19);
}

function short(eventType) {
  return (eventType || "").toLowerCase().replace(/_/g, " ");
}

// Value in display units: pressures in bar, the rest as stored.
function display(sensor, v) {
  if (v === null || v === undefined) return null;
  return sensor.kind === "pressure" ? v / 1e5 : v;
}

function displayUnit(sensor) {
  if (sensor.kind === "pressure") return "bar";
  if (sensor.unit === "degC") return "°C";
  return sensor.unit || "";
}

function colorOf(column) {
  const i = state.sensors.findIndex((s) => s.column === column);
  return COLORS[(i < 0 ? 0 : i) % COLORS.length];
}

// ------------------------------------------------------------------ fleet

async function loadFleet() {
  let fleet;
  try {
    fleet = await api("/api/fleet");
  } catch (err) {
    $("fleet-note").textContent = err.message;
    return;
  }
  const t = fleet.totals;
  $("kpi-wells").textContent = fmtInt(t.wells);
  $("kpi-readings").textContent = fmtInt(t.readings);
  $("kpi-open").textContent = fmtInt(t.open_alerts);
  $("kpi-open").classList.toggle("bad", t.open_alerts > 0);
  $("kpi-fresh").textContent = t.freshest_age_s === null ? "–" : `${age(t.freshest_age_s)} ago`;
  $("fleet-note").textContent = fleet.wells.length ? `${fleet.wells.length} wells` : "no data yet";
  const body = $("fleet-table").querySelector("tbody");
  body.replaceChildren();
  for (const w of fleet.wells) {
    const ageClass = w.age_s !== null && w.age_s < 120 ? "age-ok" : "age-old";
    const evt = w.event_type || "";
    const row = el("tr", { "data-well": w.well_id, class: w.well_id === state.well ? "selected" : "" },
      el("td", {}, w.well_id, w.synthetic
        ? el("span", { class: "tag synthetic", "data-testid": "synthetic-tag", title: "a synthetic well (WELL-90001 on), not 3W data", text: "synthetic" })
        : ""),
      el("td", { class: ageClass, text: w.age_s === null || w.age_s === undefined ? "–" : age(w.age_s) }),
      el("td", { class: "num", text: bar(w.p_pdg) }),
      el("td", { class: "num", text: bar(w.p_tpt) }),
      el("td", { class: "num", text: deg(w.t_tpt) }),
      el("td", {}, el("span", { class: `evt ${evt === "NORMAL" ? "normal" : ""}`, title: evt, text: short(evt) || "–" })),
      el("td", { class: "num" },
        el("span", { class: `badge ${w.open_alerts ? "hot" : ""}`, text: `${w.open_alerts || 0}/${w.alerts || 0}` })));
    row.addEventListener("click", () => selectWell(w.well_id));
    body.append(row);
  }
  const select = $("well-select");
  const wells = fleet.wells.filter((w) => w.readings > 0).map((w) => w.well_id);
  const current = [...select.options].map((o) => o.value);
  if (wells.join() !== current.join()) {
    select.replaceChildren(...wells.map((w) => el("option", { value: w, text: w })));
  }
  if (!state.well && wells.length) {
    // Start on the real well with the most alerts: it tells the best story.
    const withData = fleet.wells.filter((w) => w.readings > 0);
    const real = withData.filter((w) => !w.synthetic);
    const pool = real.length ? real : withData;
    const busiest = pool.reduce((best, w) => ((w.alerts || 0) > (best.alerts || 0) ? w : best), pool[0]);
    selectWell(busiest.well_id);
  } else if (state.well) {
    select.value = state.well;
  }
}

function selectWell(wellId) {
  if (!wellId) return;
  state.well = wellId;
  state.zoom = null;
  $("well-select").value = wellId;
  for (const row of $("fleet-table").querySelectorAll("tbody tr")) {
    row.classList.toggle("selected", row.dataset.well === wellId);
  }
  $("chart-well").textContent = wellId;
  loadSeries();
  loadAlerts();
}

// ------------------------------------------------------------------ sensors

async function loadSensors() {
  try {
    const { sensors } = await api("/api/sensors");
    if (!sensors.length) return;
    const wanted = ["pressure", "temperature", "flow"];
    state.sensors = sensors.filter((s) => wanted.includes(s.kind));
  } catch (err) {
    return;
  }
  const picks = $("sensor-picks");
  picks.replaceChildren();
  for (const s of state.sensors) {
    const box = el("input", { type: "checkbox", value: s.column });
    box.checked = state.chosen.has(s.column);
    box.addEventListener("change", () => {
      if (box.checked) state.chosen.add(s.column);
      else state.chosen.delete(s.column);
      loadSeries();
    });
    picks.append(el("label", { title: s.description },
      box, el("span", { class: "swatch", style: `background:${colorOf(s.column)}` }), `${s.tag}`));
  }
}

// ------------------------------------------------------------------ series + chart

let seriesSeq = 0;

async function loadSeries() {
  if (!state.well) return;
  const chosen = state.sensors.map((s) => s.column).filter((c) => state.chosen.has(c));
  const params = new URLSearchParams();
  params.set("sensors", chosen.join(","));
  const width = $("chart").clientWidth || 800;
  params.set("points", String(Math.max(60, Math.min(1200, Math.round(width / 2)))));
  if (state.zoom) {
    params.set("start", new Date(state.zoom.start).toISOString());
    params.set("end", new Date(state.zoom.end).toISOString());
  } else if (state.last) {
    params.set("last", state.last);
  }
  const seq = ++seriesSeq;
  try {
    const data = await api(`/api/wells/${encodeURIComponent(state.well)}/series?${params}`);
    if (seq !== seriesSeq) return;  // a newer request is on its way
    state.series = data;
    drawChart();
  } catch (err) {
    if (seq !== seriesSeq) return;
    state.series = null;
    drawChart(err.message);
  }
}

function drawChart(message) {
  const svg = $("chart");
  svg.replaceChildren();
  const W = svg.clientWidth || 800;
  const H = svg.clientHeight || 300;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const data = state.series;
  const m = { l: 52, r: 52, t: 18, b: 24 };
  if (!data || !data.t.length) {
    sv("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, svg)
      .textContent = message || (state.well ? "no readings in this range" : "waiting for data…");
    $("chart-info").textContent = "";
    return;
  }
  const x0 = Date.parse(data.start);
  const x1 = Math.max(Date.parse(data.end), x0 + 1000);
  const X = (ms) => m.l + ((ms - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sensors = Object.entries(data.series).map(([column, s]) => ({ column, ...s }));
  const groups = { left: sensors.filter((s) => s.kind === "pressure"), right: sensors.filter((s) => s.kind !== "pressure") };
  const scales = {};
  for (const [side, list] of Object.entries(groups)) {
    let lo = Infinity, hi = -Infinity;
    for (const s of list) {
      for (let i = 0; i < data.t.length; i++) {
        for (const v of [s.min[i], s.max[i]]) {
          const d = display(s, v);
          if (d === null || !Number.isFinite(d)) continue;
          if (d < lo) lo = d;
          if (d > hi) hi = d;
        }
      }
    }
    if (!Number.isFinite(lo)) continue;
    if (hi === lo) { hi += 1; lo -= 1; }
    const pad = (hi - lo) * 0.06;
    lo -= pad; hi += pad;
    scales[side] = { lo, hi, Y: (v) => m.t + (1 - (v - lo) / (hi - lo)) * (H - m.t - m.b) };
  }

  // 3W event spans behind everything.
  const defs = sv("defs", {}, svg);
  const seenClasses = new Map();
  for (const span of data.events) {
    const base = span.event_class % 100;
    const color = EVENT_COLORS[base] || "#98a2b3";
    seenClasses.set(base, span.event_type);
    const a = Math.max(X(span.from), m.l), b = Math.min(X(span.to), W - m.r);
    if (b <= a) continue;
    let fill = color;
    if (span.transient) {
      const id = `hatch-${base}`;
      if (!defs.querySelector(`#${id}`)) {
        const p = sv("pattern", { id, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, defs);
        sv("rect", { width: 6, height: 6, fill: color, opacity: 0.08 }, p);
        sv("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: color, "stroke-width": 2, opacity: 0.35 }, p);
      }
      fill = `url(#${id})`;
    }
    const rect = sv("rect", { x: a, y: m.t, width: b - a, height: H - m.t - m.b, fill, opacity: span.transient ? 1 : 0.14, class: "event-span" }, svg);
    sv("title", {}, rect).textContent = `${span.transient ? "transient of " : ""}${span.event_type} (3W class ${span.event_class})`;
  }

  // Grid and axes.
  const axis = sv("g", { class: "axis" }, svg);
  const ticks = niceTicks(x0, x1, Math.max(3, Math.floor((W - m.l - m.r) / 110)));
  for (const t of ticks) {
    const x = X(t);
    sv("line", { x1: x, x2: x, y1: m.t, y2: H - m.b, class: "grid-line" }, axis);
    sv("text", { x, y: H - m.b + 14, "text-anchor": "middle" }, axis).textContent = hms(t);
  }
  for (const [side, scale] of Object.entries(scales)) {
    const list = groups[side];
    const unit = displayUnit(list[0]);
    const xPos = side === "left" ? m.l - 6 : W - m.r + 6;
    const step = niceStep(scale.hi - scale.lo, 5);
    const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9) + (step / Math.pow(10, Math.floor(Math.log10(step))) === 2.5 ? 1 : 0));
    for (const v of niceValues(scale.lo, scale.hi, 5)) {
      const y = scale.Y(v);
      if (side === "left" || !scales.left) sv("line", { x1: m.l, x2: W - m.r, y1: y, y2: y, class: "grid-line" }, axis);
      sv("text", { x: xPos, y: y + 3, "text-anchor": side === "left" ? "end" : "start" }, axis).textContent = v.toFixed(Math.min(digits, 4));
    }
    sv("text", { x: side === "left" ? 4 : W - 4, y: 11, "text-anchor": side === "left" ? "start" : "end", class: "axis-title" }, axis)
      .textContent = side === "left" ? `pressure, ${unit}` : `${list.map((s) => s.tag).join(", ")}, ${unit}`;
  }

  // Min/max bands, then mean lines.
  for (const s of sensors) {
    const scale = scales[s.kind === "pressure" ? "left" : "right"];
    if (!scale) continue;
    const color = colorOf(s.column);
    const top = [], bottom = [];
    for (let i = 0; i < data.t.length; i++) {
      const lo = display(s, s.min[i]), hi = display(s, s.max[i]);
      if (lo === null || hi === null) continue;
      const x = X(data.t[i] + (data.bucket_seconds * 500));
      top.push(`${x.toFixed(1)},${scale.Y(hi).toFixed(1)}`);
      bottom.push(`${x.toFixed(1)},${scale.Y(lo).toFixed(1)}`);
    }
    if (top.length > 1) sv("polygon", { points: top.concat(bottom.reverse()).join(" "), fill: color, class: "band" }, svg);
    let d = "", pen = "M", points = 0;
    for (let i = 0; i < data.t.length; i++) {
      const v = display(s, s.avg[i]);
      if (v === null) { pen = "M"; continue; }
      d += `${pen}${X(data.t[i] + data.bucket_seconds * 500).toFixed(1)},${scale.Y(v).toFixed(1)}`;
      pen = "L";
      points++;
    }
    const path = sv("path", { d, stroke: color, class: "series-line", "data-sensor": s.column, "data-points": points }, svg);
    sv("title", {}, path).textContent = `${s.tag} (${displayUnit(s)})`;
  }

  // Alert markers on top.
  for (const a of data.alerts) {
    if (!a.ts_ms || a.ts_ms < x0 || a.ts_ms > x1) continue;
    const x = X(a.ts_ms);
    const color = a.severity === "critical" ? "#d92d20" : a.severity === "warning" ? "#dc6803" : "#1570ef";
    const g = sv("g", { class: "alert-mark", "data-status": a.status }, svg);
    sv("line", { x1: x, x2: x, y1: m.t, y2: H - m.b, stroke: color, "stroke-dasharray": "3 3", opacity: a.status === "open" ? 0.7 : 0.3 }, g);
    const tri = a.status === "open" ? `${x - 5},${m.t - 9} ${x + 5},${m.t - 9} ${x},${m.t - 1}` : `${x - 4},${m.t - 1} ${x + 4},${m.t - 1} ${x},${m.t - 8}`;
    sv("polygon", { points: tri, fill: a.status === "open" ? color : "#fff", stroke: color }, g);
    sv("title", {}, g).textContent = `${hms(a.ts_ms)} ${a.rule} ${a.status}: ${a.message}` +
      (a.diagnosis ? ` (${a.diagnosis} ${a.confidence == null ? "" : a.confidence.toFixed(2)})` : "");
  }

  // Legend of the event classes in view.
  const legend = $("event-legend");
  legend.replaceChildren(...[...seenClasses.entries()].sort((a, b) => a[0] - b[0]).map(([c, name]) =>
    el("span", {}, el("i", { style: `background:${EVENT_COLORS[c] || "#98a2b3"};opacity:.5` }), short(name))));
  const bucket = data.bucket_seconds;
  $("chart-info").textContent =
    `${fmtInt(data.readings)} readings in ${fmtInt(data.t.length)} buckets of ${bucket} s · ` +
    `${new Date(x0).toISOString().slice(0, 19).replace("T", " ")} – ${hms(x1)} UTC` +
    (state.zoom ? " · zoomed (drag again, or reset)" : " · drag to zoom");
  installChartEvents(svg, X, x0, x1, m, W, H, scales, sensors);
}

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * mag >= raw) return f * mag;
  return 10 * mag;
}

function niceValues(lo, hi, count) {
  const step = niceStep(hi - lo, count);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) out.push(v);
  return out;
}

function niceTicks(x0, x1, count) {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400].map((s) => s * 1000);
  const raw = (x1 - x0) / count;
  const step = steps.find((s) => s >= raw) || steps[steps.length - 1];
  const out = [];
  for (let t = Math.ceil(x0 / step) * step; t <= x1; t += step) out.push(t);
  return out;
}

function installChartEvents(svg, X, x0, x1, m, W, H, scales, sensors) {
  const data = state.series;
  const tip = $("tooltip");
  const cursor = sv("line", { class: "cursor", y1: m.t, y2: H - m.b, x1: -10, x2: -10 }, svg);
  let brush = null, dragFrom = null;
  const toMs = (px) => x0 + ((px - m.l) / (W - m.l - m.r)) * (x1 - x0);
  const localX = (evt) => {
    const box = svg.getBoundingClientRect();
    return ((evt.clientX - box.left) / box.width) * W;
  };
  svg.onmousemove = (evt) => {
    const px = localX(evt);
    if (dragFrom !== null && brush) {
      brush.setAttribute("x", Math.min(dragFrom, px));
      brush.setAttribute("width", Math.abs(px - dragFrom));
    }
    if (px < m.l || px > W - m.r) { tip.hidden = true; return; }
    const ms = toMs(px);
    let best = 0;
    for (let i = 0; i < data.t.length; i++) {
      if (Math.abs(data.t[i] - ms) < Math.abs(data.t[best] - ms)) best = i;
    }
    cursor.setAttribute("x1", px);
    cursor.setAttribute("x2", px);
    const lines = [`<b>${hms(data.t[best])} UTC</b> · ${data.n[best]} readings`];
    for (const s of sensors) {
      const v = display(s, s.avg[best]);
      lines.push(`<span style="color:${colorOf(s.column)}">■</span> ${s.tag}: ${v === null ? "–" : v.toFixed(2)} ${displayUnit(s)}`);
    }
    const span = data.events.find((e) => e.from <= data.t[best] && data.t[best] < e.to);
    if (span) lines.push(`3W: ${span.transient ? "transient of " : ""}${short(span.event_type)}`);
    tip.innerHTML = lines.join("<br>");
    tip.hidden = false;
    const box = svg.getBoundingClientRect();
    const left = evt.clientX - box.left + 14;
    tip.style.left = `${Math.min(left, box.width - tip.offsetWidth - 4)}px`;
    tip.style.top = `${Math.max(0, evt.clientY - box.top - 10)}px`;
  };
  svg.onmouseleave = () => { tip.hidden = true; cursor.setAttribute("x1", -10); cursor.setAttribute("x2", -10); };
  svg.onmousedown = (evt) => {
    dragFrom = localX(evt);
    brush = sv("rect", { class: "brush", x: dragFrom, y: m.t, width: 0, height: H - m.t - m.b }, svg);
  };
  svg.onmouseup = (evt) => {
    if (dragFrom === null) return;
    const px = localX(evt);
    const a = Math.min(dragFrom, px), b = Math.max(dragFrom, px);
    dragFrom = null;
    if (brush) brush.remove();
    brush = null;
    if (b - a < 8) return;
    state.zoom = { start: toMs(Math.max(a, m.l)), end: toMs(Math.min(b, W - m.r)) };
    $("zoom-reset").hidden = false;
    loadSeries();
  };
}

// ------------------------------------------------------------------ alerts

async function loadAlerts() {
  const params = new URLSearchParams({ limit: "100" });
  if ($("alerts-this-well").checked && state.well) params.set("well_id", state.well);
  let body;
  try {
    body = await api(`/api/alerts?${params}`);
  } catch (err) {
    return;
  }
  const summary = $("alert-summary");
  const s = body.summary;
  summary.replaceChildren(
    el("span", { class: "chip", text: `${fmtInt(s.alerts)} alerts · ${fmtInt(s.open_alerts)} open` }),
    ...Object.entries(s.by_rule).map(([rule, n]) => el("span", { class: "chip", text: `${rule.replace(/_/g, " ")} ${n}` })));
  const feed = $("alert-feed");
  feed.replaceChildren();
  if (!body.alerts.length) {
    feed.append(el("li", { class: "empty-note", text: "no alerts yet: they appear here as the detector raises them" }));
  }
  for (const a of body.alerts) {
    const fresh = !state.firstAlerts && !state.seenAlerts.has(a.key);
    state.seenAlerts.add(a.key);
    const item = el("li", {
      class: `alert-item sev-${a.severity} ${a.status}${fresh ? " fresh" : ""}`,
      "data-testid": "alert-item",
      title: "show this well",
    },
      el("div", { class: "row1" },
        el("span", {}, el("span", { class: "rule", text: a.rule.replace(/_/g, " ") }), ` · ${a.well_id}`),
        el("span", { class: `status ${a.status}`, text: a.status })),
      el("div", { class: "row1" },
        el("span", { class: "hint", text: `${a.severity}${a.sensor ? " · " + a.sensor : ""}` }),
        el("span", { class: "when", text: a.ts ? a.ts.slice(11, 19) : "" })),
      el("div", { class: "msg", text: a.message }),
      a.diagnosis ? el("div", { class: "diagnosis", "data-testid": "alert-diagnosis",
        text: `${a.diagnosis.replace(/_/g, " ").toLowerCase()}` +
          (a.confidence == null ? "" : ` · ${Math.round(a.confidence * 100)} %`) +
          (a.revision ? ` · revision ${a.revision}` : "") }) : "");
    item.addEventListener("click", () => selectWell(a.well_id));
    feed.append(item);
  }
  state.firstAlerts = false;
}

// ------------------------------------------------------------------ SQL console

async function loadNamed() {
  try {
    const { queries } = await api("/api/queries");
    const select = $("named-select");
    for (const q of queries) select.append(el("option", { value: q.name, text: `${q.name} — ${q.description}` }));
    select.addEventListener("change", () => {
      const q = queries.find((x) => x.name === select.value);
      if (!q) return;
      let sql = q.sql.split("\n").filter((l) => !l.trim().startsWith("--")).join("\n").trim();
      for (const [name, value] of Object.entries(q.params)) {
        const v = value !== null ? value : (name === "well_id" ? state.well || "" : "");
        const literal = /^-?\d+(\.\d+)?$/.test(v) ? v : `'${v.replace(/'/g, "''")}'`;
        sql = sql.replaceAll(`:${name}`, literal);
      }
      $("sql-text").value = sql;
      select.value = "";
    });
  } catch (err) {
    /* examples are optional */
  }
}

async function runSql() {
  if (state.sqlBusy) return;
  const sql = $("sql-text").value;
  const status = $("sql-status");
  state.sqlBusy = true;
  $("sql-run").disabled = true;
  status.className = "sql-status";
  status.textContent = "running…";
  try {
    const r = await api("/api/query", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sql, limit: 1000 }),
    });
    const table = $("sql-result");
    table.querySelector("thead").replaceChildren(el("tr", {}, ...r.columns.map((c, i) => el("th", { title: r.types[i], text: c }))));
    const body = table.querySelector("tbody");
    body.replaceChildren(...r.rows.map((row) => el("tr", {}, ...row.map((v, i) => el("td", {
      class: /int|double|real|decimal|bigint/.test(r.types[i]) ? "num" : "",
      text: v === null ? "NULL" : typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(8)).toString() : String(v),
    })))));
    status.textContent = `${fmtInt(r.rows.length)} row${r.rows.length === 1 ? "" : "s"} in ${r.elapsed_ms} ms` +
      (r.truncated ? " (first 1,000: download the CSV for up to 10,000)" : "");
  } catch (err) {
    status.className = "sql-status error";
    status.textContent = err.message;
  } finally {
    state.sqlBusy = false;
    $("sql-run").disabled = false;
  }
}

async function downloadCsv() {
  const status = $("sql-status");
  try {
    const text = await api("/api/query?format=csv", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sql: $("sql-text").value }),
    });
    const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    const link = el("a", { href: url, download: "petrostream-query.csv" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 5000);
  } catch (err) {
    status.className = "sql-status error";
    status.textContent = err.message;
  }
}

// ------------------------------------------------------------------ health

function kv(pairs) {
  const box = el("div", { class: "kv" });
  for (const [k, v, cls] of pairs) box.append(el("span", { text: k }), el("span", { class: cls || "", text: v }));
  return box;
}

async function loadHealth() {
  let h;
  try {
    h = await api("/api/health");
  } catch (err) {
    return;
  }
  const lag = h.stream.consumers.reduce((sum, c) => sum + c.lag_records, 0);
  $("kpi-lag").textContent = h.stream.exists ? `${fmtInt(lag)} rec` : "–";
  const flush = h.lake.last_flush;
  $("kpi-flush").textContent = flush ? `${age(ageOf(flush.committed_at))} ago` : "–";
  const tables = h.lake.tables;
  const box = $("health");
  const stream = el("div", { class: "box" }, el("h3", { text: "stream" }), kv([
    ["records held", fmtInt(h.stream.records)],
    ["shards", fmtInt(h.stream.shards)],
    ...h.stream.consumers.map((c) => [`lag · ${c.consumer}`, `${fmtInt(c.lag_records)}`, c.lag_records > 1000 ? "lag-bad" : "lag-ok"]),
  ]));
  const lake = el("div", { class: "box" }, el("h3", { text: "lake" }), kv([
    ["last flush", flush ? `${age(ageOf(flush.committed_at))} ago (#${flush.number}, ${fmtInt(flush.rows)} rows)` : "none yet"],
    ["commits", fmtInt(h.lake.commits)],
    ...Object.entries(tables).map(([name, t]) => [`${name}`, `${fmtInt(t.files)} files · ${fmtInt(t.rows)} rows`]),
  ]));
  const m = h.detector.metrics;
  const detector = el("div", { class: "box" }, el("h3", { text: "detector" }), kv([
    ["records processed", fmtInt(m.records_processed)],
    ["alerts raised", fmtInt(h.detector.alerts)],
    ["latency p50 / p99", m.detection_latency_p50_ms === null ? "–" : `${Math.round(m.detection_latency_p50_ms)} / ${Math.round(m.detection_latency_p99_ms)} ms`],
    ["pending deliveries", fmtInt(h.detector.pending_deliveries)],
  ]));
  const r = h.rejects;
  const rejects = el("div", { class: "box" }, el("h3", { text: "rejects" }), kv([
    ["replay (bad rows)", fmtInt(r.replay), r.replay ? "lag-bad" : ""],
    ["lake (bad records)", fmtInt(r.lake), r.lake ? "lag-bad" : ""],
    ["detector dead letters", fmtInt(r.dead_letters), r.dead_letters ? "lag-bad" : ""],
    ["failed batches", fmtInt(h.detector.failed_batches)],
  ]));
  box.replaceChildren(stream, lake, detector, rejects);
  $("health-time").textContent = `updated ${h.generated_at.slice(11, 19)} UTC`;
}

// ------------------------------------------------------------------ wiring

function every(ms, fn) {
  const tick = async () => {
    if (!document.hidden) {
      try { await fn(); } catch (err) { /* shown where it happened */ }
    }
    setTimeout(tick, ms);
  };
  setTimeout(tick, ms);
}

function liveIndicator() {
  const live = $("live");
  const stale = Date.now() - state.lastOk > 10000;
  live.classList.toggle("stale", stale);
  live.lastChild.textContent = stale ? "offline" : "live";
  live.classList.remove("pulse");
  void live.offsetWidth;
  if (!stale) live.classList.add("pulse");
}

async function main() {
  $("well-select").addEventListener("change", (e) => selectWell(e.target.value));
  $("range-select").addEventListener("change", (e) => { state.last = e.target.value; state.zoom = null; $("zoom-reset").hidden = true; loadSeries(); });
  $("zoom-reset").addEventListener("click", () => { state.zoom = null; $("zoom-reset").hidden = true; loadSeries(); });
  $("alerts-this-well").addEventListener("change", loadAlerts);
  $("sql-run").addEventListener("click", runSql);
  $("sql-csv").addEventListener("click", downloadCsv);
  $("sql-text").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); runSql(); } });
  window.addEventListener("resize", () => drawChart());
  await loadSensors();
  await Promise.all([loadFleet(), loadAlerts(), loadHealth(), loadNamed()]);
  if (!state.sensors.length) await loadSensors();
  every(POLL.fleet, async () => { if (!state.sensors.length) await loadSensors(); await loadFleet(); });
  every(POLL.alerts, loadAlerts);
  every(POLL.health, loadHealth);
  every(POLL.chart, () => (state.zoom ? null : loadSeries()));
  every(2000, liveIndicator);
}

main();

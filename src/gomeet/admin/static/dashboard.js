// The GoMeet cache dashboard: signs in with the API's login, keeps the access token in
// sessionStorage, polls /api/v1/admin/dashboard/data every 2 s. No library: the charts are
// SVG drawn here, and every value is inserted as text (never as HTML).
"use strict";

const API = "/api/v1";
const TOKEN = "gomeet.dashboard.token";
const POLL_MS = 2000;
const COLORS = ["#2e6be6", "#e8590c", "#2f9e44", "#ae3ec9", "#f08c00", "#1098ad", "#c2255c",
  "#5c940d", "#495057"];
const SVG = "http://www.w3.org/2000/svg";
let timer = null;

const $ = (id) => document.getElementById(id);
const pct = (x) => (x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)} %`);
const num = (x, digits = 1) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    if (cell instanceof Node) {
      const td = document.createElement("td");
      td.appendChild(cell);
      tr.appendChild(td);
    } else {
      const [text, className] = Array.isArray(cell) ? cell : [cell, ""];
      tr.appendChild(el("td", text, className));
    }
  }
  return tr;
}

function fill(tableId, rows) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren(...rows);
}

async function call(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  const token = sessionStorage.getItem(TOKEN);
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(API + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = await response.json().catch(() => ({}));
  return { status: response.status, payload };
}

function showLogin(message) {
  clearTimeout(timer);
  sessionStorage.removeItem(TOKEN);
  $("board").hidden = true;
  $("sign-out").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("status").textContent = "signed out";
}

async function signIn(event) {
  event.preventDefault();
  $("login-error").textContent = "";
  const { status, payload } = await call("POST", "/auth/login", {
    email: $("email").value, password: $("password").value,
  });
  if (status !== 200) {
    $("login-error").textContent = payload.error ? payload.error.message : `error ${status}`;
    return;
  }
  if (payload.data.user.role !== "admin") {
    $("login-error").textContent = "This account is not an administrator.";
    return;
  }
  sessionStorage.setItem(TOKEN, payload.data.accessToken);
  $("password").value = "";
  start();
}

function start() {
  $("login").hidden = true;
  $("board").hidden = false;
  $("sign-out").hidden = false;
  poll();
}

async function poll() {
  clearTimeout(timer);
  try {
    const { status, payload } = await call("GET", "/admin/dashboard/data");
    if (status === 401) return showLogin("Your session ended: sign in again.");
    if (status === 403) return showLogin("This account is not an administrator.");
    if (status !== 200) throw new Error(payload.error ? payload.error.message : `error ${status}`);
    render(payload.data);
    $("status").textContent = `live · updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    $("status").textContent = `could not refresh: ${error.message}`;
  }
  timer = setTimeout(poll, POLL_MS);
}

function render(data) {
  const stats = data.stats;
  const families = Object.keys(stats.ttlAdvice).sort();
  const color = (family) => COLORS[families.indexOf(family) % COLORS.length];
  renderSummary(stats, data.backlog, data.instances);
  renderCharts(data.series, families, color);
  renderFamilies(stats);
  renderAdvice(stats.ttlAdvice);
  renderInstances(data.instances, data.instance);
  renderBacklog(data.backlog);
  renderSignaling(data.signaling);
  fill("hot-keys", stats.hotKeys.map((hot) => row([hot.key, [hot.reads, "num"]])));
}

function renderSummary(stats, backlog, instances) {
  const reads = Object.values(stats.families).reduce((n, f) => n + (f.readsPerSecond || 0), 0);
  const open = instances.filter((i) => i.circuit && i.circuit !== "closed").length;
  const cards = [
    ["hit ratio", pct(stats.hitRatio)],
    ["reads / s", num(reads)],
    ["errors", stats.errors],
    ["instances", `${instances.filter((i) => i.reporting).length} reporting`],
    ["breakers open", open],
    ["outbox pending", backlog.outbox === null ? "–" : backlog.outbox],
    ["invalidations pending", backlog.pendingInvalidations],
  ];
  $("summary").replaceChildren(...cards.map(([label, value]) => {
    const card = el("div", null, "card");
    card.append(el("div", label, "label"), el("div", value, "value"));
    card.dataset.label = label;
    return card;
  }));
}

function renderCharts(series, families, color) {
  // From the first slot with any reads: an idle stretch before it would only squeeze the lines.
  const all = series ? series.points : [];
  const first = all.findIndex((p) => families.some((f) => p[f]));
  const points = first < 0 ? [] : all.slice(first);
  drawChart($("hit-chart"), points, families, color, (p) => p.hitRatio, 1, (v) => pct(v));
  const loads = points.flatMap((p) => families.map((f) => (p[f] ? p[f].loadP99Ms : null)));
  const top = Math.max(1, ...loads.filter((v) => v !== null));
  drawChart($("load-chart"), points, families, color, (p) => p.loadP99Ms, top,
    (v) => `${num(v)} ms`);
  $("legend").replaceChildren(...families.map((family) => {
    const item = el("span", family);
    item.style.setProperty("--swatch", color(family));
    return item;
  }));
}

function drawChart(svg, points, families, color, value, top, label) {
  const width = 640, height = 240, left = 48, right = 8, topPad = 8, bottom = 22;
  const plotW = width - left - right, plotH = height - topPad - bottom;
  const nodes = [];
  for (const share of [0, 0.5, 1]) {
    const y = topPad + plotH * (1 - share);
    nodes.push(svgNode("line", { x1: left, x2: width - right, y1: y, y2: y, class: "axis" }));
    nodes.push(svgNode("text", { x: 4, y: y + 3 }, label(top * share)));
  }
  if (points.length > 0) {
    const t0 = points[0].t, t1 = Math.max(points[points.length - 1].t, t0 + 1);
    const x = (t) => left + (plotW * (t - t0)) / Math.max(1, t1 - t0);
    nodes.push(svgNode("text", { x: left, y: height - 6 }, new Date(t0 * 1000).toLocaleTimeString()));
    nodes.push(svgNode("text", { x: width - right - 60, y: height - 6 }, "now"));
    for (const family of families) {
      const coords = points
        .filter((p) => p[family] && value(p[family]) !== null)
        .map((p) => `${x(p.t).toFixed(1)},${(topPad + plotH * (1 - Math.min(1, value(p[family]) / top))).toFixed(1)}`);
      if (coords.length === 0) continue;
      const line = svgNode("polyline", { points: coords.join(" "), stroke: color(family) });
      line.dataset.family = family;
      nodes.push(line);
      const [cx, cy] = coords[coords.length - 1].split(",");
      nodes.push(svgNode("circle", { cx, cy, r: 3, fill: color(family) }));
    }
  }
  svg.replaceChildren(...nodes);
}

function svgNode(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderFamilies(stats) {
  const rows = Object.entries(stats.families).sort().map(([family, f]) => {
    const tr = row([family, [num(f.readsPerSecond), "num"], [pct(f.hitRatio), "num"],
      [pct(f.l1HitRatio), "num"], [pct(f.redisHitRatio), "num"], [num(f.loadP50Ms, 2), "num"],
      [num(f.loadP99Ms, 2), "num"], [pct(f.invalidatedBeforeExpiry), "num"],
      [pct(f.expiredWhileHot), "num"], [pct(f.neverRead), "num"], [f.ttlSeconds, "num"]]);
    tr.dataset.family = family;
    return tr;
  });
  fill("families", rows);
}

function renderAdvice(advice) {
  const rows = Object.entries(advice).sort().map(([family, a]) => {
    const applied = a.applied
      ? `${a.applied.seconds === null ? "reverted" : `${a.applied.seconds} s`} by ${a.applied.by}`
      : "configured";
    const actions = document.createElement("span");
    const apply = el("button", "Apply", "primary");
    apply.type = "button";
    apply.dataset.action = "apply";
    apply.disabled = a.recommendedSeconds === a.currentSeconds;
    apply.addEventListener("click", () => decide(family, "POST"));
    actions.appendChild(apply);
    if (a.applied && a.applied.seconds !== null) {
      const revert = el("button", "Revert");
      revert.type = "button";
      revert.dataset.action = "revert";
      revert.addEventListener("click", () => decide(family, "DELETE"));
      actions.append(" ", revert);
    }
    const change = a.expectedHitRatioChange;
    const tr = row([family, [a.currentSeconds, "num"], [a.recommendedSeconds, "num"], a.reason,
      [`${change >= 0 ? "+" : ""}${(change * 100).toFixed(2)} pts`, "num"], applied, actions]);
    tr.dataset.family = family;
    return tr;
  });
  fill("advice", rows);
}

async function decide(family, method) {
  const { status, payload } = await call(method, `/admin/cache/ttl/${encodeURIComponent(family)}`);
  $("advice-message").textContent = status === 200
    ? `${family}: ${payload.data.before} s → ${payload.data.after} s (${payload.data.reason})`
    : `${family}: ${payload.error ? payload.error.message : `error ${status}`}`;
  poll();
}

function renderInstances(instances, self) {
  fill("instances", instances.map((i) => {
    const breaker = i.reporting ? i.circuit : "not reporting";
    const tr = row([`${i.id.slice(0, 8)}${i.id === self ? " (this)" : ""}`,
      i.reporting ? `${i.host} / ${i.pid}` : "–",
      [breaker, breaker === "closed" ? "ok" : "bad"], [i.errors ?? "–", "num"],
      [pct(i.hitRatio), "num"], [i.pendingInvalidations ?? "–", "num"],
      `${i.lastSeenSecondsAgo} s ago`]);
    return tr;
  }));
}

function renderBacklog(backlog) {
  fill("backlog", [
    row(["outbox records pending", [backlog.outbox === null ? "database unreachable" : backlog.outbox, "num"]]),
    row(["invalidations pending here", [backlog.pendingInvalidations, "num"]]),
    ...Object.entries(backlog.byInstance).map(([id, n]) =>
      row([`pending on ${id.slice(0, 8)}`, [n ?? "–", "num"]])),
  ]);
}

function renderSignaling(signaling) {
  if (!signaling) {
    $("signaling-summary").textContent = "signaling is not running on this instance";
    fill("signaling", []);
    return;
  }
  const meetings = signaling.meetings === null ? "– (Redis unreachable)" : signaling.meetings;
  $("signaling-summary").textContent =
    `${meetings} meetings live, ${signaling.connections} sockets open`;
  fill("signaling", signaling.instances.map((i) => row([
    `${i.id.slice(0, 8)}${i.id === signaling.instance ? " (this)" : ""}`,
    [i.rooms, "num"], [i.connections, "num"]])));
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => showLogin(""));
  if (sessionStorage.getItem(TOKEN)) start(); else showLogin("");
});

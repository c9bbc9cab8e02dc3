'use strict';
// Apogee console, part 1 of 3: the core (API client, DOM helpers, router, line chart) and
// the dashboard. topics.js (topics, consumers) and messages.js (messages, dead letters,
// trace) register their pages in Apogee.routes. Every read and every change goes through
// POST /api/admin, which runs `apogee admin <args> --json` on the console's name server.

const Apogee = (window.Apogee = { routes: {}, state: {} });

// ---------- DOM ----------

function appendKids(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k == null || k === false) continue;
    el.append(k instanceof Node ? k : String(k));
  }
}

// h('a', {href: '#/x', testid: 'link'}, 'text', child…): an element; `on*` attributes are
// listeners, `testid` is data-testid, null/false attributes and children are skipped.
Apogee.h = function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'testid') el.dataset.testid = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'selected' || k === 'disabled') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  appendKids(el, kids);
  return el;
};
const h = Apogee.h;

function svg(tag, attrs, ...kids) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  appendKids(el, kids);
  return el;
}

Apogee.link = (hash, text, attrs) => h('a', { href: hash, ...attrs }, text);
Apogee.enc = encodeURIComponent;
Apogee.card = (title, testid, ...kids) =>
  h('section', { class: 'card', testid }, title ? h('h2', null, title) : null, ...kids);
Apogee.field = (label, input, hint) =>
  h('label', { class: 'field' }, h('span', null, label), input, hint ? h('small', null, hint) : null);
Apogee.select = (attrs, options) =>
  h('select', attrs, options.map((o) => (Array.isArray(o) ? h('option', { value: o[0] }, o[1]) : h('option', { value: o }, o))));

// ---------- formatting ----------

const pad = (n, w = 2) => String(n).padStart(w, '0');
Apogee.fmtTime = function (ms) {
  if (!ms) return '—';
  const d = new Date(Number(ms));
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
};
Apogee.fmtNum = (n, digits = 0) =>
  n == null || Number.isNaN(Number(n)) ? '—' : Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
Apogee.fmtAgo = function (ms) {
  if (!ms) return '';
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 0) return 'in the future';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
};
// The first figure of a broker's "a b c" rate string (its shortest window).
Apogee.firstRate = (s) => Number(String(s || '0').trim().split(/\s+/)[0]) || 0;

// ---------- tables and JSON ----------

// cols: [{label, key} | {label, render(row) -> node|string, cls}]; rows: array.
Apogee.table = function (cols, rows, opts = {}) {
  const body = rows.map((r, i) =>
    h('tr', { testid: opts.testid ? `${opts.testid}-row` : null, 'data-key': opts.rowKey ? opts.rowKey(r, i) : null },
      cols.map((c) => h('td', { class: c.cls }, c.render ? c.render(r, i) : r[c.key] == null ? '—' : String(r[c.key])))));
  return h('div', { class: 'table-wrap' },
    h('table', { testid: opts.testid, id: opts.id },
      h('thead', null, h('tr', null, cols.map((c) => h('th', { class: c.cls }, c.label)))),
      h('tbody', null, body.length ? body : h('tr', { class: 'empty' }, h('td', { colspan: cols.length, testid: opts.testid ? `${opts.testid}-empty` : null }, opts.empty || 'Nothing to show.')))));
};

// A result document as a person reads it: an array of flat objects as a table, an object
// as key/value rows, anything nested as JSON text.
Apogee.jsonView = function jsonView(v, testid) {
  const cell = (x) => (x !== null && typeof x === 'object' ? h('code', null, JSON.stringify(x)) : x == null ? '—' : String(x));
  if (Array.isArray(v) && v.length && v.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
    const keys = [...new Set(v.flatMap((x) => Object.keys(x)))];
    return Apogee.table(keys.map((k) => ({ label: k, render: (r) => cell(r[k]) })), v, { testid });
  }
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    return h('div', { class: 'table-wrap' }, h('table', { class: 'kv', testid },
      h('tbody', null, Object.entries(v).map(([k, x]) => h('tr', null, h('th', null, k), h('td', null, cell(x)))))));
  }
  return h('pre', { testid }, JSON.stringify(v, null, 2));
};

// ---------- API ----------

class ApiError extends Error {
  constructor(command, message, status) {
    super(message);
    this.command = command;
    this.status = status;
  }
}
Apogee.ApiError = ApiError;

// Runs `apogee admin <args>`; resolves to the command's JSON document. A failure is shown in
// the error banner (unless opts.quiet) and rejects with an ApiError.
Apogee.admin = async function (args, opts = {}) {
  let res, body;
  try {
    res = await fetch('/api/admin', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ args }) });
    body = await res.json().catch(() => ({ error: `HTTP ${res.status} without a JSON body` }));
  } catch (e) {
    body = { error: `the console did not answer (${e.message})` };
  }
  if (!res || !res.ok || body.error !== undefined) {
    // The command's own "apogee admin <cmd>: " prefix is dropped: the banner names the command.
    const text = String(body.error || `HTTP ${res ? res.status : '?'}`).replace(/^apogee admin \S+: /, '');
    const err = new ApiError(args[0], text, res ? res.status : 0);
    if (!opts.quiet) Apogee.showError(`${args[0]}: ${err.message}`);
    throw err;
  }
  return body.result;
};

Apogee.showError = function (text) {
  document.getElementById('error-text').textContent = text;
  document.getElementById('error-banner').hidden = false;
};
Apogee.clearError = function () {
  document.getElementById('error-banner').hidden = true;
  document.getElementById('error-text').textContent = '';
};

// Runs fn() with the button disabled and "working" shown; an error goes to the banner and
// into `out` (when given) so that the form shows what happened.
Apogee.busy = async function (button, out, fn) {
  button.disabled = true;
  const label = button.textContent;
  button.textContent = 'Working…';
  try {
    return await fn();
  } catch (e) {
    if (out) out.replaceChildren(h('p', { class: 'fail', testid: 'action-error' }, e.message));
    if (!(e instanceof ApiError)) Apogee.showError(e.message);
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
};

// Cached for a page's life: the clusters and their brokers (clusterList), the groups.
Apogee.clusters = async function () {
  const list = await Apogee.admin(['clusterList']);
  return list;
};
Apogee.groups = async function () {
  const list = await Apogee.admin(['consumerProgress']);
  return list.map((g) => g.group).sort();
};

// ---------- line chart ----------

// A small SVG line chart of time series. series: [{name, color}]; points: [[t, [v…]]…],
// the caller's array (kept between visits), drawn over the last windowMs.
Apogee.LineChart = class {
  constructor({ testid, series, points, windowMs = 5 * 60 * 1000, unit = '' }) {
    Object.assign(this, { series, points, windowMs, unit });
    this.svg = svg('svg', { viewBox: '0 0 640 180', class: 'chart-svg', role: 'img' });
    this.legend = h('div', { class: 'legend' });
    this.el = h('div', { class: 'chart', testid }, this.svg, this.legend);
    // Redrawn at its real width once shown, and whenever that changes.
    new ResizeObserver(() => this.draw()).observe(this.svg);
    this.draw();
  }
  push(t, values) {
    this.points.push([t, values]);
    while (this.points.length && this.points[0][0] < t - this.windowMs) this.points.shift();
    this.draw();
  }
  draw() {
    // Drawn at the element's own width so that the text is not stretched.
    const [W, H, L, R, T, B] = [Math.round(this.svg.clientWidth) || 640, 180, 52, 10, 10, 22];
    this.svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    const now = this.points.length ? this.points[this.points.length - 1][0] : Date.now();
    const t0 = now - this.windowMs;
    const pts = this.points.filter((p) => p[0] >= t0);
    let max = Math.max(1, ...pts.flatMap((p) => p[1].map(Number)));
    const mag = 10 ** Math.floor(Math.log10(max));
    max = Math.ceil(max / mag) * mag;
    const x = (t) => L + ((t - t0) / this.windowMs) * (W - L - R);
    const y = (v) => T + (1 - v / max) * (H - T - B);
    const kids = [];
    for (const f of [0, 0.5, 1]) {
      kids.push(svg('line', { x1: L, x2: W - R, y1: y(max * f), y2: y(max * f), class: 'grid' }));
      kids.push(svg('text', { x: L - 6, y: y(max * f) + 4, 'text-anchor': 'end', class: 'axis' }, Apogee.fmtNum(max * f, max < 10 ? 1 : 0)));
    }
    const minutes = Math.round(this.windowMs / 60000);
    kids.push(svg('text', { x: L, y: H - 5, class: 'axis' }, `-${minutes} min`));
    kids.push(svg('text', { x: W - R, y: H - 5, 'text-anchor': 'end', class: 'axis' }, 'now'));
    this.series.forEach((s, i) => {
      if (!pts.length) return;
      const d = pts.map((p) => `${x(p[0]).toFixed(1)},${y(Number(p[1][i]) || 0).toFixed(1)}`).join(' ');
      kids.push(svg('polyline', { points: d, fill: 'none', stroke: s.color, 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke' }));
      const [lt, lv] = pts[pts.length - 1];
      kids.push(svg('circle', { cx: x(lt), cy: y(Number(lv[i]) || 0), r: 3, fill: s.color }));
    });
    if (!pts.length) kids.push(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'axis' }, 'waiting for data…'));
    this.svg.replaceChildren(...kids);
    const last = pts.length ? pts[pts.length - 1][1] : [];
    this.legend.replaceChildren(...this.series.map((s, i) =>
      h('span', { class: 'legend-item' }, h('i', { style: `background:${s.color}` }), `${s.name}: `,
        h('b', { testid: `${s.key || s.name}-now` }, last.length ? `${Apogee.fmtNum(last[i], 1)} ${this.unit}` : '—'))));
  }
};

// ---------- router ----------

// A page: Apogee.routes[name] = async (view, ctx) => …; ctx.params are the path segments
// after the name, ctx.query the ?a=b pairs, ctx.every(ms, fn) polls while the page is shown,
// ctx.alive() tells whether the page is still the one shown.
let generation = 0;
let timers = [];
const SECTION = { topic: 'topics', consumer: 'consumers', message: 'messages' };

async function route() {
  generation += 1;
  const mine = generation;
  timers.forEach(clearInterval);
  timers = [];
  Apogee.clearError();
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, qs] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const name = parts[0] || 'dashboard';
  const page = Apogee.routes[name];
  const section = SECTION[name] || name;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.section === section);
  const view = document.getElementById('view');
  view.dataset.page = name;
  delete view.dataset.ready; // set again once this page has rendered (the tests wait on it)
  view.replaceChildren();
  if (!page) {
    view.append(h('p', { class: 'muted' }, `No page ${name}. `, Apogee.link('#/dashboard', 'Back to the dashboard')));
    return;
  }
  const ctx = {
    params: parts.slice(1),
    query: Object.fromEntries(new URLSearchParams(qs || '')),
    alive: () => mine === generation,
    every(ms, fn) {
      const id = setInterval(() => {
        if (mine !== generation) return clearInterval(id);
        Promise.resolve(fn()).catch(() => {});
      }, ms);
      timers.push(id);
    },
  };
  document.title = `Apogee console · ${name}`;
  try {
    await page(view, ctx);
  } catch (e) {
    if (mine !== generation) return;
    if (!(e instanceof ApiError)) Apogee.showError(e.message);
    view.append(h('p', { class: 'fail', testid: 'page-error' }, `This page could not be loaded: ${e.message}`));
  } finally {
    if (mine === generation) view.dataset.ready = 'true';
  }
}
Apogee.go = (hash) => {
  if (location.hash === hash) route();
  else location.hash = hash;
};

async function showInfo() {
  const el = document.getElementById('info');
  try {
    const res = await fetch('/api/info');
    const info = await res.json();
    Apogee.state.info = info;
    el.replaceChildren(
      h('span', { testid: 'info-version' }, `v${info.version}`),
      h('span', null, 'name server ', h('code', { testid: 'info-namesrv' }, info.namesrv)),
      info.broker ? h('span', null, 'broker ', h('code', { testid: 'info-broker' }, info.broker)) : null);
  } catch (e) {
    el.textContent = 'console info unavailable';
  }
}

// ---------- dashboard ----------

Apogee.state.rates = []; // [t, [send/s, consume/s]], kept between visits
let lastCounters = null; // {t, put, get}

function brokerRows(clusters) {
  return clusters.map((b) => {
    const ri = b.runtimeInfo || {};
    return {
      cluster: b.cluster, name: b.brokerName, id: b.brokerId, addr: b.addr,
      version: ri.brokerVersionName || ri.brokerVersionDesc || '—',
      inTps: Apogee.firstRate(ri.putTps), outTps: Apogee.firstRate(ri.getTransferredTps || ri.getTransferedTps),
      putToday: Number(ri.msgPutTotalTodayNow) || 0, getToday: Number(ri.msgGetTotalTodayNow) || 0,
    };
  });
}

// Send and consume rates of the whole cluster from the brokers' today counters (messages
// per second between two polls); the first poll takes the brokers' own TPS figures.
function sampleRates(rows, t) {
  const put = rows.reduce((s, r) => s + r.putToday, 0);
  const get = rows.reduce((s, r) => s + r.getToday, 0);
  let rates;
  const prev = lastCounters;
  if (prev && t > prev.t && put >= prev.put && get >= prev.get && t - prev.t < 30000) {
    const dt = (t - prev.t) / 1000;
    rates = [(put - prev.put) / dt, (get - prev.get) / dt];
  } else {
    rates = [rows.reduce((s, r) => s + r.inTps, 0), rows.reduce((s, r) => s + r.outTps, 0)];
  }
  lastCounters = { t, put, get };
  return rates;
}

function diskCard(statuses) {
  const rows = Object.entries(statuses).map(([addr, ri]) => ({ addr, ...ri }));
  const bar = (ratio) => {
    const pct = Math.max(0, Math.min(100, Number(ratio) * 100));
    return h('div', { class: 'meter', title: `${pct.toFixed(1)} %` },
      h('div', { class: pct > 85 ? 'meter-fill hot' : 'meter-fill', style: `width:${pct}%` }), h('span', null, `${pct.toFixed(1)} %`));
  };
  return Apogee.table([
    { label: 'Broker', render: (r) => h('code', null, r.addr) },
    { label: 'Commit log disk', render: (r) => bar(r.commitLogDiskRatio) },
    { label: 'Capacity', key: 'commitLogDirCapacity' },
    { label: 'Consume queue disk', render: (r) => bar(r.consumeQueueDiskRatio) },
    { label: 'Commit log offsets', render: (r) => `${Apogee.fmtNum(r.commitLogMinOffset)} – ${Apogee.fmtNum(r.commitLogMaxOffset)}` },
    { label: 'Not flushed', key: 'remainHowManyDataToFlush' },
    { label: 'Oldest message', render: (r) => Apogee.fmtTime(Number(r.earliestMessageTimeStamp)) },
    { label: 'Up', render: (r) => String(r.runtime || '').replace(/[[\]]/g, '').trim() },
  ], rows, { testid: 'disk-table', empty: 'No broker status.' });
}

Apogee.routes.dashboard = async function (view, ctx) {
  const stat = (label, testid) => h('div', { class: 'stat' }, h('span', null, label), h('b', { testid }, '—'));
  const stats = h('div', { class: 'stats' },
    stat('Brokers', 'stat-brokers'), stat('Send, msg/s', 'stat-send'), stat('Consume, msg/s', 'stat-consume'),
    stat('Put today', 'stat-put-today'), stat('Got today', 'stat-get-today'));
  const chart = new Apogee.LineChart({
    testid: 'rate-chart', points: Apogee.state.rates, unit: 'msg/s',
    series: [{ name: 'send', key: 'rate-send', color: '#2563eb' }, { name: 'consume', key: 'rate-consume', color: '#16a34a' }],
  });
  const brokersBox = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const diskBox = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  view.append(
    h('h1', null, 'Dashboard'), stats,
    Apogee.card('Messages per second (all brokers, last 5 minutes)', 'rates-card', chart.el),
    Apogee.card('Brokers', 'brokers-card', brokersBox),
    Apogee.card('Disk', 'disk-card', diskBox));

  const set = (testid, v) => { stats.querySelector(`[data-testid="${testid}"]`).textContent = v; };
  async function poll() {
    const clusters = await Apogee.admin(['clusterList'], { quiet: true }).catch((e) => {
      if (ctx.alive()) Apogee.showError(`clusterList: ${e.message}`);
      return null;
    });
    if (!clusters || !ctx.alive()) return clusters;
    const rows = brokerRows(clusters);
    const t = Date.now();
    const [send, consume] = sampleRates(rows, t);
    chart.push(t, [send, consume]);
    set('stat-brokers', rows.length);
    set('stat-send', Apogee.fmtNum(send, 1));
    set('stat-consume', Apogee.fmtNum(consume, 1));
    set('stat-put-today', Apogee.fmtNum(rows.reduce((s, r) => s + r.putToday, 0)));
    set('stat-get-today', Apogee.fmtNum(rows.reduce((s, r) => s + r.getToday, 0)));
    brokersBox.replaceChildren(Apogee.table([
      { label: 'Cluster', key: 'cluster' },
      { label: 'Broker', key: 'name' },
      { label: 'Id', key: 'id', cls: 'num' },
      { label: 'Address', render: (r) => h('code', null, r.addr) },
      { label: 'Version', key: 'version' },
      { label: 'In TPS', render: (r) => Apogee.fmtNum(r.inTps, 2), cls: 'num' },
      { label: 'Out TPS', render: (r) => Apogee.fmtNum(r.outTps, 2), cls: 'num' },
      { label: 'Put today', render: (r) => Apogee.fmtNum(r.putToday), cls: 'num' },
      { label: 'Got today', render: (r) => Apogee.fmtNum(r.getToday), cls: 'num' },
    ], rows, { testid: 'brokers-table', rowKey: (r) => r.addr, empty: 'No broker is registered with the name server.' }));
    return clusters;
  }
  async function disk(clusters) {
    const masters = (clusters || []).map((b) => b.addr);
    const statuses = {};
    await Promise.all(masters.map(async (addr) => {
      const st = await Apogee.admin(['brokerStatus', '-b', addr]).catch(() => null);
      if (st) Object.assign(statuses, st);
    }));
    if (ctx.alive()) diskBox.replaceChildren(diskCard(statuses));
  }
  const clusters = await poll();
  await disk(clusters);
  ctx.every(2000, poll);
  ctx.every(15000, async () => disk(await Apogee.admin(['clusterList'], { quiet: true })));
};

// ---------- start ----------

window.addEventListener('hashchange', route);
document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('error-close').addEventListener('click', Apogee.clearError);
  showInfo();
  if (!location.hash) history.replaceState(null, '', '#/dashboard');
  route();
});

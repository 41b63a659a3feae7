// Canopy's web console: plain JavaScript over the REST API of docs/http.md.
// The token travels in the cookie the server set when the page was opened.
'use strict';

const $ = (id) => document.getElementById(id);

// GET or POST a route; resolves to the JSON answer, rejects with an Error
// carrying the server's message (the engine's own, for a refusal) and the
// answer itself (err.body: a refused reassignment still has its report).
async function api(path, body) {
  const init = body === undefined ? {} : {
    method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)};
  const res = await fetch(path, init);
  let json = null;
  try { json = await res.json(); } catch (e) { json = null; }
  if (!res.ok) {
    const err = new Error(json && json.message ? json.message : res.status + ' ' + res.statusText);
    err.status = res.status;
    err.body = json;
    throw err;
  }
  return json;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== '' && v !== undefined && v !== null && v !== false) q.set(k, v);
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function showError(id, err) { $(id).textContent = err ? err.message : ''; }

function time(ms) { return new Date(ms).toISOString().slice(0, 19).replace('T', ' '); }

const session = {viewer: '', system: true};
// When the table and the first page of devices were first drawn, in ms
// since navigation began (read by the benchmark, bench/ui_latency.py).
window.canopyTimings = {};
function stamp(what) { if (!(what in window.canopyTimings)) window.canopyTimings[what] = performance.now(); }

async function refreshRevision() {
  try { $('revision').textContent = (await api('/api/session')).revision; } catch (e) { /* shown elsewhere */ }
}

// ---- The accounts table --------------------------------------------------

const table = {sort: 'tree', order: 'ASC', cursors: [''], index: 0, total: 0};

async function loadTable() {
  const size = Number($('table-size').value);
  try {
    const page = await api('/api/accounts' + query({
      pageSize: size, sortProperty: table.sort, sortOrder: table.order,
      root: $('table-root').value.trim(), page: table.cursors[table.index]}));
    showError('table-error', null);
    table.total = page.totalElements;
    table.cursors.length = table.index + 1;
    if (page.hasNext) table.cursors.push(page.nextPage);
    const body = $('table').tBodies[0];
    body.replaceChildren();
    for (const r of page.data) {
      const indent = table.sort === 'tree' ? r.depth - (page.data[0] ? page.data[0].depth : 1) : 0;
      const key = el('a', {href: '#accounts', class: 'acct', 'data-key': r.key,
                           onclick: (e) => { e.preventDefault(); pick(r.key); }}, r.key);
      key.style.marginLeft = Math.max(0, indent) * 1.2 + 'em';
      body.append(el('tr', {'data-key': r.key},
        el('td', {title: r.path.join(' > ')}, key), el('td', {}, r.name),
        el('td', {class: 'num'}, r.users), el('td', {class: 'num'}, r.subAccounts),
        el('td', {class: 'num'}, r.devices), el('td', {class: 'num'}, r.devicesSubtree),
        el('td', {}, time(r.createdTime))));
    }
    const first = table.index * size;
    $('table-info').textContent = page.data.length
      ? `rows ${first + 1}–${first + page.data.length} of ${page.totalElements}`
      : 'no accounts the viewer may read';
    stamp('table');
    $('table-prev').disabled = table.index === 0;
    $('table-next').disabled = !page.hasNext;
    for (const th of document.querySelectorAll('#table th')) {
      th.classList.toggle('sorted', th.dataset.sort === table.sort);
      th.classList.toggle('desc', th.dataset.sort === table.sort && table.order === 'DESC');
    }
  } catch (err) {
    showError('table-error', err);
  }
}

function restartTable() { table.cursors = ['']; table.index = 0; return loadTable(); }

// An account picked in the table fills the action forms and lists its users.
async function pick(key) {
  $('create-parent').value = key;
  $('move-account').value = key;
  $('reassign-target').value = key;
  mayDo(key);
  try {
    const users = await api('/api/users' + query({account: key}));
    const list = $('user-list');
    for (const u of users.data) {
      if (![...list.options].some((o) => o.value === u.login)) list.append(el('option', {value: u.login}));
    }
  } catch (e) { /* the table already shows what the viewer sees */ }
}

// What the viewer may do on an account, as the engine answers check for
// it (the system actor may do everything).
async function mayDo(key) {
  if (session.system) {
    $('picked').textContent = `${key}: the system actor may do everything here`;
    return;
  }
  const parts = [];
  for (const [permission, what] of [['account.create', 'create sub-accounts'],
                                    ['account.move', 'move it, or accounts into it']]) {
    try {
      const r = await api('/api/check' + query({permission, account: key}));
      parts.push(`${r.allowed ? '✓' : '✗'} ${what}${r.allowed ? '' : ' (' + r.reason + ')'}`);
    } catch (err) {
      parts.push(`✗ ${what} (${err.message})`);
    }
  }
  $('picked').textContent = `${key}: ${parts.join('; ')}`;
}

// ---- The hierarchy graph (SVG) --------------------------------------------

const SVG = 'http://www.w3.org/2000/svg';
const graph = {roots: [], open: new Set(), maxNodes: 2000};

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

async function loadGraph() {
  try {
    // depth counts levels below the root tenants: the system actor gets
    // them and one level more (the rest on expansion); a user, whose top
    // accounts may sit at any depth, its whole reach at once.
    const g = await api('/api/graph' + query({depth: session.system ? 1 : ''}));
    graph.roots = g.accounts;
    graph.open.clear();
    if (graph.roots.length <= 20) for (const r of graph.roots) graph.open.add(r.key);
    showError('graph-error', null);
    drawGraph();
  } catch (err) {
    showError('graph-error', err);
  }
}

// Children not loaded yet (the graph is fetched a level or two at a time).
function unloaded(n) { return n.sub_accounts > 0 && n.children.length === 0; }

async function toggle(n) {
  if (graph.open.has(n.key)) {
    graph.open.delete(n.key);
  } else {
    if (unloaded(n)) {
      try {
        const g = await api('/api/graph' + query({root: n.key, depth: 2}));
        if (g.accounts.length) n.children = g.accounts[0].children;
      } catch (err) { showError('graph-error', err); return; }
    }
    graph.open.add(n.key);
  }
  drawGraph();
}

function drawGraph() {
  const box = $('graph-svg');
  box.replaceChildren();
  const rowH = 40, indent = 26, w = 330;
  let row = 0, drawn = 0, hidden = 0;
  const walk = (n, level, parentY) => {
    if (drawn >= graph.maxNodes) { hidden++; return; }
    const x = 8 + level * indent, y = 8 + row * rowH;
    row++; drawn++;
    if (parentY !== null) {
      box.append(svg('path', {d: `M${x - indent + 10},${parentY + 30} V${y + 15} H${x}`, class: 'edge'}));
    }
    const hasKids = n.sub_accounts > 0;
    const open = graph.open.has(n.key);
    const g = svg('g', {class: 'node' + (open ? ' open' : ''), 'data-key': n.key,
                        transform: `translate(${x},${y})`});
    g.append(svg('rect', {width: w, height: 32, rx: 5}));
    const t = svg('text', {x: 24, y: 14, class: 'key'}, n.key);
    g.append(t, svg('text', {x: w - 6, y: 14, class: 'name', 'text-anchor': 'end'},
                    n.name.length > 24 ? n.name.slice(0, 23) + '…' : n.name));
    g.append(svg('text', {x: 24, y: 27, class: 'counts'},
      `${n.users} users · ${n.devices_direct} devices (${n.devices_subtree} in subtree) · ${n.sub_accounts} sub-accounts${n.groups ? ` · ${n.groups} groups` : ''}`));
    if (hasKids) {
      const tg = svg('text', {x: 7, y: 20, class: 'toggle', 'data-key': n.key}, open ? '▾' : '▸');
      tg.addEventListener('click', () => toggle(n));
      g.append(tg);
    }
    box.append(g);
    if (open) for (const c of n.children) walk(c, level + 1, y);
  };
  for (const r of graph.roots) walk(r, 0, null);
  let width = 0;
  for (const g of box.querySelectorAll('g.node')) {
    const m = /translate\((\d+)/.exec(g.getAttribute('transform'));
    width = Math.max(width, Number(m[1]) + w + 10);
  }
  if (hidden) {
    box.append(svg('text', {x: 8, y: 8 + row * rowH + 14, class: 'counts'},
                   `… ${hidden} more not drawn (collapse some, or narrow with the table's subtree)`));
    row++;
  }
  box.setAttribute('width', Math.max(width, 400));
  box.setAttribute('height', 16 + row * rowH);
}

function expandLoaded() {
  const all = (n) => { if (n.children.length) { graph.open.add(n.key); n.children.forEach(all); } };
  graph.roots.forEach(all);
  drawGraph();
}

// ---- View as user: devices -------------------------------------------------

const devices = {cursors: [''], index: 0, total: null};

function deviceParams() {
  return {
    user: $('dev-user').value.trim(), type: $('dev-type').value.trim(),
    namePrefix: $('dev-prefix').value, within: $('dev-within').value.trim(),
    attribute: $('dev-attribute').value.trim(), direct: $('dev-direct').checked ? 'true' : '',
    pageSize: $('dev-size').value};
}

async function loadDevices() {
  const params = deviceParams();
  try {
    const page = await api('/api/devices' + query({...params, page: devices.cursors[devices.index]}));
    showError('dev-error', null);
    if (page.totalElements !== undefined) devices.total = page.totalElements;
    devices.cursors.length = devices.index + 1;
    if (page.hasNext) devices.cursors.push(page.nextPage);
    const body = $('dev-table').tBodies[0];
    body.replaceChildren();
    for (const d of page.data) {
      const check = el('button', {class: 'small', onclick: () => {
        $('check-user').value = params.user; $('check-permission').value = 'device.read';
        $('check-target-kind').value = 'entity'; $('check-key').value = d.key; runCheck();
        location.hash = '#check';
      }}, 'explain');
      body.append(el('tr', {'data-key': d.key}, el('td', {class: 'device-key'}, d.key),
                     el('td', {}, d.name), el('td', {}, d.type), el('td', {}, d.account),
                     el('td', {}, check)));
    }
    const first = devices.index * Number(params.pageSize);
    $('dev-info').textContent = page.data.length
      ? `devices ${first + 1}–${first + page.data.length} of ${devices.total} (exact count)`
      : `no devices (${devices.total} in all)`;
    stamp('devices');
    $('dev-prev').disabled = devices.index === 0;
    $('dev-next').disabled = !page.hasNext;
  } catch (err) {
    $('dev-table').tBodies[0].replaceChildren();
    $('dev-info').textContent = '';
    showError('dev-error', err);
  }
}

// ---- Check, explain, who-can -------------------------------------------------

function target() {
  return {[$('check-target-kind').value]: $('check-key').value.trim()};
}

async function runCheck() {
  $('whocan-table').hidden = true;
  $('whocan-more').hidden = true;
  try {
    const r = await api('/api/check' + query({
      user: $('check-user').value.trim(), permission: $('check-permission').value.trim(), ...target()}));
    showError('check-error', null);
    const out = $('check-result');
    out.replaceChildren(el('p', {class: r.allowed ? 'allowed' : 'denied', id: 'check-verdict'},
                           r.allowed ? 'allowed' : 'denied'),
                        el('p', {}, r.reason));
    if (r.allowed) {
      out.append(el('p', {}, `via ${r.role} on ${r.viaAccount}${r.branch ? ' (branch-wide)' : ''}: `,
                    r.path.join(' > ')));
    }
  } catch (err) {
    $('check-result').replaceChildren();
    showError('check-error', err);
  }
}

const whocan = {cursor: ''};

async function runWhoCan(more) {
  if (!more) { whocan.cursor = ''; $('whocan-table').tBodies[0].replaceChildren(); }
  try {
    const r = await api('/api/who-can' + query({
      permission: $('check-permission').value.trim(), ...target(), pageSize: 50, page: whocan.cursor}));
    showError('check-error', null);
    if (!more) $('check-result').replaceChildren();
    for (const u of r.data) {
      $('whocan-table').tBodies[0].append(el('tr', {}, el('td', {}, u.login), el('td', {}, u.account),
                                             el('td', {}, u.role), el('td', {}, u.branch ? 'yes' : 'no')));
    }
    $('whocan-table').hidden = false;
    whocan.cursor = r.nextPage || '';
    $('whocan-more').hidden = !r.hasNext;
  } catch (err) {
    showError('check-error', err);
  }
}

// ---- Actions ------------------------------------------------------------------

function actionDone(text) {
  $('action-result').replaceChildren(el('p', {class: 'ok'}, text));
}

function actionRefused(err) {
  $('action-result').replaceChildren(el('p', {class: 'refused', id: 'action-refusal'},
                                        `refused (${err.status}): ${err.message}`));
}

async function afterChange() {
  await Promise.all([loadTable(), loadGraph(), refreshRevision()]);
}

async function createAccount() {
  $('reassign-report').hidden = true;
  const key = $('create-key').value.trim();
  try {
    const body = {key, name: $('create-name').value.trim() || key,
                  subAccountManagement: $('create-management').checked};
    if ($('create-parent').value.trim()) body.parent = $('create-parent').value.trim();
    await api('/api/accounts', body);
    actionDone(`created account '${key}'`);
    await afterChange();
  } catch (err) { actionRefused(err); }
}

async function moveAccount() {
  $('reassign-report').hidden = true;
  try {
    const r = await api('/api/accounts/move', {account: $('move-account').value.trim(),
                                               parent: $('move-parent').value.trim()});
    actionDone(`moved '${r.account}' under '${r.parent}'`);
    await afterChange();
  } catch (err) { actionRefused(err); }
}

async function reassign() {
  const refs = $('reassign-refs').value.split(/[\s,]+/).filter((s) => s);
  let report;
  try {
    report = await api('/api/devices/reassign', {by: $('reassign-by').value, refs,
                                                 target: $('reassign-target').value.trim()});
    actionDone(`${report.moved} moved to '${report.target}', ${report.unchanged} unchanged`);
    await afterChange();
  } catch (err) {
    actionRefused(err);
    report = err.body && err.body.items ? err.body : null;
  }
  const body = $('reassign-report').tBodies[0];
  body.replaceChildren();
  if (report) {
    for (const it of report.items) {
      body.append(el('tr', {class: it.outcome}, el('td', {}, it.ref), el('td', {}, it.outcome),
                     el('td', {}, it.previousOwner || ''), el('td', {}, it.message || '')));
    }
  }
  $('reassign-report').hidden = !report;
}

// ---- Audit log -----------------------------------------------------------------

const audit = {next: 1};

function label(change) {
  const rec = change.after || change.before;
  if (!rec) return '';
  return rec.key || rec.login || rec.name || '';
}

async function loadAudit(from) {
  if (from !== undefined) { audit.next = from; $('audit-table').tBodies[0].replaceChildren(); }
  try {
    const r = await api('/api/audit' + query({since: audit.next, pageSize: 50,
                                              account: $('audit-account').value.trim()}));
    showError('audit-error', null);
    for (const e of r.data) {
      const changes = el('ul', {});
      for (const c of e.changes) {
        const l = label(c);
        changes.append(el('li', {}, `${c.action} ${c.type} ${c.id}${l ? ' (' + l + ')' : ''}`));
      }
      $('audit-table').tBodies[0].append(el('tr', {}, el('td', {class: 'num'}, e.revision),
        el('td', {}, time(e.time_us / 1000)), el('td', {}, e.actor || '-'),
        el('td', {}, e.operation), el('td', {}, changes)));
    }
    audit.next = r.nextSince;
    $('audit-next').disabled = !r.hasNext;
    $('audit-info').textContent = `read up to revision ${r.nextSince - 1} of ${r.revision}`;
  } catch (err) {
    showError('audit-error', err);
    $('audit-next').disabled = true;
  }
}

// ---- Wiring ----------------------------------------------------------------------

function on(id, event, fn) {
  $(id).addEventListener(event, (e) => { if (event === 'submit') e.preventDefault(); fn(e); });
}

async function main() {
  // The table is asked for at once, beside the session: it is what the
  // page shows first (the graph and the log follow once it is drawn).
  const firstTable = loadTable();
  try {
    const s = await api('/api/session');
    Object.assign(session, s);
    $('viewer').textContent = s.system ? 'system actor' : s.viewer;
    for (const e of document.querySelectorAll('.viewer-name')) e.textContent = $('viewer').textContent;
    $('revision').textContent = s.revision;
    if (!s.system) {
      // A user viewer answers for itself.
      for (const id of ['dev-user', 'check-user']) { $(id).value = s.viewer; $(id).readOnly = true; }
    }
  } catch (err) {
    document.body.prepend(el('p', {class: 'error'}, err.message));
    return;
  }
  for (const th of document.querySelectorAll('#table th')) {
    th.addEventListener('click', () => {
      if (table.sort === th.dataset.sort) table.order = table.order === 'ASC' ? 'DESC' : 'ASC';
      else { table.sort = th.dataset.sort; table.order = 'ASC'; }
      restartTable();
    });
  }
  on('table-size', 'change', restartTable);
  on('table-root', 'change', restartTable);
  on('table-prev', 'click', () => { table.index--; loadTable(); });
  on('table-next', 'click', () => { table.index++; loadTable(); });
  on('graph-expand-all', 'click', expandLoaded);
  on('graph-collapse-all', 'click', () => { graph.open.clear(); drawGraph(); });
  on('devices-form', 'submit', () => { devices.cursors = ['']; devices.index = 0; devices.total = null; loadDevices(); });
  on('dev-prev', 'click', () => { devices.index--; loadDevices(); });
  on('dev-next', 'click', () => { devices.index++; loadDevices(); });
  on('check-form', 'submit', runCheck);
  on('whocan-run', 'click', () => runWhoCan(false));
  on('whocan-next', 'click', () => runWhoCan(true));
  on('create-form', 'submit', createAccount);
  on('move-form', 'submit', moveAccount);
  on('reassign-form', 'submit', reassign);
  on('audit-load', 'click', () => loadAudit(1));
  on('audit-next', 'click', () => loadAudit());
  // A user viewer's own devices load with the table.
  await Promise.all([firstTable, session.system ? null : loadDevices()]);
  await Promise.all([loadGraph(), loadAudit(1)]);
  document.body.dataset.ready = 'true';
}

main();

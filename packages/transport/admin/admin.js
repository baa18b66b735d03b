// The msghub admin page: reads /admin/api/state every second and draws it; kicks users and closes
// rooms through /admin/api. Plain script, no build step; the charts are uPlot (served as
// /admin/uplot.js). User ids and room names come from clients, so they are only ever set as text.

/* global uPlot */

const REFRESH_MS = 1000;

const $ = (selector) => document.querySelector(selector);

/** A time-series chart in `element` with one line per label. */
function lineChart(element, labels, colors) {
  const options = {
    width: Math.max(320, element.clientWidth || 560),
    height: 220,
    scales: { x: { time: true } },
    series: [{}, ...labels.map((label, i) => ({ label, stroke: colors[i], width: 2, spanGaps: false }))],
    axes: [{}, { size: 60 }],
  };
  return new uPlot(options, [[], ...labels.map(() => [])], element);
}

const throughput = lineChart($('#throughput-chart'), ['committed', 'delivered'], ['#1b5fa8', '#1b7f3b']);
const latency = lineChart($('#latency-chart'), ['mean', 'p99'], ['#1b5fa8', '#b3261e']);

function setStatus(state, text) {
  const status = $('#status');
  status.dataset.state = state;
  status.textContent = text;
}

function notice(text, kind = 'info') {
  const element = $('#notice');
  element.dataset.kind = kind;
  element.textContent = text;
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = String(text);
  if (className !== undefined) td.className = className;
  return td;
}

function button(td, text, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.addEventListener('click', onClick);
  td.append(b);
}

const rate = (value) => (value >= 100 ? Math.round(value).toString() : value.toFixed(1));

function renderSummary(state) {
  const carriers = Object.entries(state.connections);
  $('#connections').textContent = String(carriers.reduce((sum, [, n]) => sum + n, 0));
  $('#carriers').textContent = carriers.length === 0 ? '' : `(${carriers.map(([carrier, n]) => `${carrier} ${n}`).join(', ')})`;
  $('#users-online').textContent = String(state.usersOnline);
  $('#room-count').textContent = String(state.roomCount);
}

function renderRooms(rooms) {
  const body = document.createElement('tbody');
  for (const room of rooms) {
    const row = body.insertRow();
    row.dataset.room = room.name;
    cell(row, room.name, 'name');
    cell(row, room.users, 'n users');
    cell(row, room.sessions, 'n sessions');
    cell(row, rate(room.eventsPerSecond), 'n rate');
    cell(row, room.lastEventId, 'n last-id');
    cell(row, room.members.join(', '), 'members');
    button(row.insertCell(), 'Close room', () => closeRoom(room.name));
  }
  $('#rooms tbody').replaceWith(body);
}

function renderUsers(users) {
  const body = document.createElement('tbody');
  for (const { user, connections } of users) {
    const row = body.insertRow();
    row.dataset.user = user;
    cell(row, user, 'name');
    cell(row, connections, 'n connections');
    button(row.insertCell(), 'Kick', () => kick(user));
  }
  $('#users tbody').replaceWith(body);
}

function renderCharts(series) {
  const t = series.map((point) => point.t);
  throughput.setData([t, series.map((p) => p.committedPerSecond), series.map((p) => p.deliveredPerSecond)]);
  latency.setData([t, series.map((p) => p.publishMeanMs), series.map((p) => p.publishP99Ms)]);
}

async function refresh() {
  let response;
  try {
    response = await fetch('/admin/api/state', { cache: 'no-store' });
  } catch {
    setStatus('offline', 'server unreachable');
    return;
  }
  // Logged out (the token changed, or the cookie went): back to the login form.
  if (response.status === 401) {
    location.reload();
    return;
  }
  if (!response.ok) {
    setStatus('error', `error ${response.status}`);
    return;
  }
  const state = await response.json();
  renderSummary(state);
  renderRooms(state.rooms);
  renderUsers(state.users);
  renderCharts(state.series);
  setStatus('live', `live, ${new Date(state.time).toLocaleTimeString()}`);
}

async function act(path, body) {
  const response = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error ?? `error ${response.status}`);
  return answer;
}

async function kick(user) {
  try {
    const { kicked } = await act('/admin/api/kick', { user });
    notice(kicked === 0 ? `${user} is not online` : `Kicked ${user} (${kicked} connection${kicked === 1 ? '' : 's'})`);
  } catch (error) {
    notice(`Kick failed: ${error.message}`, 'error');
  }
  void refresh();
}

async function closeRoom(room) {
  try {
    const { closed } = await act('/admin/api/close-room', { room });
    notice(closed ? `Closed room ${room}` : `No open room ${room}`);
  } catch (error) {
    notice(`Closing the room failed: ${error.message}`, 'error');
  }
  void refresh();
}

$('#kick-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = event.target.elements.user;
  void kick(input.value);
  input.value = '';
});

void refresh();
setInterval(refresh, REFRESH_MS);

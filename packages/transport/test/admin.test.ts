import { expect } from 'chai';
import { HubServer } from '../src/index.js';
import type { AdminState } from '../src/admin.js';
import { cleanup, startServer, type Running, type TestClient } from './helpers.js';

// The admin view's HTTP side on a real server: who gets in, the state it draws, the actions.

const TOKEN = 'admin-token-0123456789';
const BEARER = { authorization: `Bearer ${TOKEN}` };

function httpUrl(running: Running): string {
  return running.wsUrl.replace('ws:', 'http:').replace(/\/$/, '');
}

async function state(running: Running): Promise<AdminState> {
  const response = await fetch(`${httpUrl(running)}/admin/api/state`, { headers: BEARER });
  expect(response.status).to.equal(200);
  return (await response.json()) as AdminState;
}

function post(running: Running, path: string, body: unknown, headers: Record<string, string> = BEARER): Promise<Response> {
  return fetch(`${httpUrl(running)}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

async function join(client: TestClient, room: string): Promise<void> {
  client.send({ type: 'join', ref: `join-${room}`, room });
  await client.waitFor((frame) => frame.type === 'ok' && frame['ref'] === `join-${room}`);
}

describe('admin view', () => {
  afterEach(cleanup);

  describe('without the token', () => {
    it('answers every path with 401, the page with the login form, and acts on nothing', async () => {
      const running = await startServer({ admin: { token: TOKEN } });
      const ada = await running.user('ada');
      const base = httpUrl(running);
      const page = await fetch(`${base}/admin`);
      expect(page.status).to.equal(401);
      expect(await page.text()).to.match(/<form method="post" action="\/admin\/login">/);
      for (const path of ['/admin/api/state', '/admin/admin.js', '/admin/uplot.js', '/admin/nothing']) {
        expect((await fetch(`${base}${path}`)).status, path).to.equal(401);
      }
      const wrong = { authorization: `Bearer ${TOKEN}x` };
      expect((await fetch(`${base}/admin/api/state`, { headers: wrong })).status).to.equal(401);
      expect((await fetch(`${base}/admin/api/state`, { headers: { cookie: `msghub_admin=${TOKEN}x` } })).status).to.equal(401);
      expect((await post(running, '/admin/api/kick', { user: 'ada' }, {})).status).to.equal(401);
      expect((await post(running, '/admin/api/kick', { user: 'ada' }, wrong)).status).to.equal(401);
      expect(running.server.isOnline('ada')).to.equal(true);
      expect(ada.isClosed).to.equal(false);
    });

    it('is not served without the option: /admin is 404; and the admin view alone serves no /metrics', async () => {
      const running = await startServer();
      expect((await fetch(`${httpUrl(running)}/admin`)).status).to.equal(404);
      const adminOnly = await startServer({ admin: { token: TOKEN } });
      expect((await fetch(`${httpUrl(adminOnly)}/metrics`)).status).to.equal(404);
    });
  });

  describe('login', () => {
    it('sets an HttpOnly, SameSite=Strict cookie for the right token and refuses a wrong one with 401', async () => {
      const running = await startServer({ admin: { token: TOKEN } });
      const base = httpUrl(running);
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      const wrong = await fetch(`${base}/admin/login`, { method: 'POST', headers: form, body: 'token=nope', redirect: 'manual' });
      expect(wrong.status).to.equal(401);
      expect(wrong.headers.get('set-cookie')).to.equal(null);
      expect(await wrong.text()).to.include('That token is not the admin token.');
      const right = await fetch(`${base}/admin/login`, { method: 'POST', headers: form, body: `token=${TOKEN}`, redirect: 'manual' });
      expect(right.status).to.equal(303);
      expect(right.headers.get('location')).to.equal('/admin');
      const cookie = right.headers.get('set-cookie') ?? '';
      expect(cookie).to.match(/^msghub_admin=[^;]+; Path=\/admin; HttpOnly; SameSite=Strict$/);
      const page = await fetch(`${base}/admin`, { headers: { cookie: cookie.split(';')[0] as string } });
      expect(page.status).to.equal(200);
      expect(await page.text()).to.include('<script type="module" src="/admin/admin.js">');
      const logout = await fetch(`${base}/admin/logout`, { method: 'POST', headers: { cookie: cookie.split(';')[0] as string }, redirect: 'manual' });
      expect(logout.headers.get('set-cookie')).to.match(/^msghub_admin=; .*Max-Age=0$/);
    });

    it('serves the page script and the chart library to a logged-in browser', async () => {
      const running = await startServer({ admin: { token: TOKEN } });
      const script = await fetch(`${httpUrl(running)}/admin/uplot.js`, { headers: BEARER });
      expect(script.status).to.equal(200);
      expect(script.headers.get('content-type')).to.match(/javascript/);
      expect(await script.text()).to.match(/uPlot/);
      expect((await fetch(`${httpUrl(running)}/admin/uplot.css`, { headers: BEARER })).headers.get('content-type')).to.match(/css/);
    });
  });

  describe('GET /admin/api/state', () => {
    it('lists rooms with their members, users online and connections by carrier', async () => {
      const running = await startServer({ admin: { token: TOKEN } });
      const ada = await running.user('ada');
      const grace = await running.user('grace', 'tcp');
      await running.user('grace');
      await join(ada, 'lobby');
      await join(grace, 'lobby');
      await join(grace, 'side');
      const seen = await state(running);
      expect(seen.connections).to.deep.equal({ ws: 2, tcp: 1 });
      expect(seen.usersOnline).to.equal(2);
      expect(seen.users).to.deep.equal([
        { user: 'ada', connections: 1 },
        { user: 'grace', connections: 2 },
      ]);
      expect(seen.roomCount).to.equal(2);
      expect(seen.rooms.map(({ name, users, sessions, members, lastEventId }) => ({ name, users, sessions, members, lastEventId }))).to.deep.equal([
        { name: 'lobby', users: 2, sessions: 2, members: ['ada', 'grace'], lastEventId: 2 },
        { name: 'side', users: 1, sessions: 1, members: ['grace'], lastEventId: 1 },
      ]);
    });
  });

  describe('actions', () => {
    it('kicks a user: each of its connections gets kicked KICKED', async () => {
      const running = await startServer({ admin: { token: TOKEN } });
      const ada = await running.user('ada');
      const other = await running.user('ada', 'tcp');
      const response = await post(running, '/admin/api/kick', { user: 'ada' });
      expect(response.status).to.equal(200);
      expect(await response.json()).to.deep.equal({ user: 'ada', kicked: 2 });
      for (const client of [ada, other]) expect(await client.next('kicked')).to.include({ code: 'KICKED' });
      expect(running.server.isOnline('ada')).to.equal(false);
      expect(await (await post(running, '/admin/api/kick', { user: 'ada' })).json()).to.deep.equal({ user: 'ada', kicked: 0 });
    });

    it('closes a room: its members get its close event', async () => {
      const running = await startServer({ admin: { token: TOKEN } });
      const ada = await running.user('ada');
      await join(ada, 'lobby');
      const response = await post(running, '/admin/api/close-room', { room: 'lobby' });
      expect(await response.json()).to.deep.equal({ room: 'lobby', closed: true });
      await ada.waitFor((frame) => frame.type === 'event' && (frame['event'] as { type: string }).type === 'close');
      expect(running.server.rooms.get('lobby')).to.equal(undefined);
      expect(await (await post(running, '/admin/api/close-room', { room: 'lobby' })).json()).to.deep.equal({ room: 'lobby', closed: false });
    });

    it('takes JSON bodies only (a cross-site form cannot act), and refuses a body without a user or room with 400', async () => {
      const running = await startServer({ admin: { token: TOKEN } });
      await running.user('ada');
      const form = await fetch(`${httpUrl(running)}/admin/api/kick`, {
        method: 'POST',
        headers: { ...BEARER, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'user=ada',
      });
      expect(form.status).to.equal(415);
      expect(running.server.isOnline('ada')).to.equal(true);
      expect((await post(running, '/admin/api/kick', { who: 'ada' })).status).to.equal(400);
      expect((await post(running, '/admin/api/close-room', { room: '' })).status).to.equal(400);
      const notJson = await fetch(`${httpUrl(running)}/admin/api/kick`, { method: 'POST', headers: { ...BEARER, 'content-type': 'application/json' }, body: '{' });
      expect(notJson.status).to.equal(400);
    });
  });

  describe('options', () => {
    for (const [what, admin] of [
      ['true', true],
      ['no token', {}],
      ['a short token', { token: 'short' }],
    ] as const) {
      it(`throws a TypeError for ${what}`, () => {
        expect(() => new HubServer({ admin: admin as never })).to.throw(TypeError);
      });
    }
  });
});

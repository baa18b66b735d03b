/**
 * The admin view on the server's HTTP listener, under `/admin`: a live page (plain HTML and
 * script in `admin/`, charts by uPlot, served beside it), its JSON state, and the operator
 * actions (kick a user, close a room). Everything needs the admin token: as
 * `Authorization: Bearer <token>`, or the cookie the login form sets. Without it every path
 * answers 401 (the page's path with the login form). The actions take JSON bodies only, and the
 * cookie is `SameSite=Strict`, so another site cannot make a logged-in browser act.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { AdminSampler, SamplePoint } from './admin-sampler.js';
import { bearerToken, checkToken, cookieValue, SecretToken } from './http-auth.js';
import { pathOf, readBody, reply, replyJson } from './http-io.js';
import type { MetricsSource, PrometheusMetrics, RoomSample } from './prometheus.js';

/** `admin: { token }` of {@link HubServerOptions}. */
export interface AdminOptions {
  /** Required to see the page or act (at least 16 characters). */
  token: string;
}

/** `false` (off) or the options. */
export type AdminOption = false | AdminOptions;

/** The URL path of the admin page; everything else of the view lives below it. */
export const ADMIN_PATH = '/admin';
/** The cookie the login form sets. */
export const ADMIN_COOKIE = 'msghub_admin';

/** Rooms listed (the ones with the most sessions), members shown per room, users listed. */
const MAX_ROOMS = 50;
const MAX_MEMBERS = 100;
const MAX_USERS = 200;
/** Largest request body read (a login form, a kick). */
const MAX_BODY_BYTES = 4096;

/** Validates the `admin` option. @returns the token, or false when off */
export function resolveAdmin(value: unknown): { token: string } | false {
  if (value === undefined || value === false) return false;
  if (typeof value !== 'object' || value === null) {
    throw new TypeError(`Expected \`admin\` to be false or { token }, got ${value === null ? 'null' : typeof value}`);
  }
  return { token: checkToken('admin.token', (value as { token?: unknown }).token) };
}

/** What the admin view reads and does. */
export interface AdminServer extends MetricsSource {
  /** Disconnects every connection of the user (`kicked`); returns how many. */
  kick(userId: string): number;
  /** Closes the room; false when no room of that name is open. */
  closeRoom(room: string): Promise<boolean>;
}

/** The state the page draws every second (GET /admin/api/state). */
export interface AdminState {
  readonly time: number;
  readonly connections: Readonly<Record<string, number>>;
  readonly usersOnline: number;
  readonly users: readonly { readonly user: string; readonly connections: number }[];
  readonly roomCount: number;
  readonly rooms: readonly AdminRoom[];
  readonly series: readonly SamplePoint[];
}

export interface AdminRoom {
  readonly name: string;
  readonly users: number;
  readonly sessions: number;
  readonly members: readonly string[];
  readonly lastEventId: number;
  readonly eventsPerSecond: number;
  readonly mailbox: number;
}

type HttpHandler = (request: IncomingMessage, response: ServerResponse) => boolean;

const here = fileURLToPath(new URL('../admin/', import.meta.url));

/** The files of the page, by URL path (all below {@link ADMIN_PATH}); uPlot is found on first use. */
let files: Readonly<Record<string, { readonly path: string; readonly type: string }>> | undefined;

function pageFiles(): NonNullable<typeof files> {
  if (files !== undefined) return files;
  const uplot = createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js');
  const html = { path: `${here}index.html`, type: 'text/html; charset=utf-8' };
  files = {
    [ADMIN_PATH]: html,
    [`${ADMIN_PATH}/`]: html,
    [`${ADMIN_PATH}/admin.js`]: { path: `${here}admin.js`, type: 'text/javascript; charset=utf-8' },
    [`${ADMIN_PATH}/uplot.js`]: { path: uplot, type: 'text/javascript; charset=utf-8' },
    [`${ADMIN_PATH}/uplot.css`]: { path: uplot.replace(/uPlot\.iife\.min\.js$/, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
  };
  return files;
}

/** Builds the handler for everything under {@link ADMIN_PATH}; it returns false for other paths. */
export function createAdminHandler(token: string, server: AdminServer, metrics: PrometheusMetrics, sampler: AdminSampler): HttpHandler {
  const secret = new SecretToken(token);
  const routes: Readonly<Record<string, (request: IncomingMessage, response: ServerResponse) => void>> = {
    [`POST ${ADMIN_PATH}/api/kick`]: (request, response) =>
      readJson(request, response, (body) => {
        const user = (body as { user?: unknown } | null)?.user;
        if (!isName(user)) replyJson(response, 400, { error: 'Expected {"user": "<user id>"}' });
        else replyJson(response, 200, { user, kicked: server.kick(user) });
      }),
    [`POST ${ADMIN_PATH}/api/close-room`]: (request, response) =>
      readJson(request, response, (body) => {
        const room = (body as { room?: unknown } | null)?.room;
        if (!isName(room)) replyJson(response, 400, { error: 'Expected {"room": "<room name>"}' });
        else void server.closeRoom(room).then((closed) => replyJson(response, 200, { room, closed }));
      }),
    [`GET ${ADMIN_PATH}/api/state`]: (_request, response) =>
      void adminState(server, metrics, sampler).then((state) => replyJson(response, 200, state)),
    [`POST ${ADMIN_PATH}/logout`]: (_request, response) => {
      reply(response, 303, 'text/plain; charset=utf-8', 'Logged out\n', { location: ADMIN_PATH, 'set-cookie': cookie('', 0) });
    },
  };
  return (request, response) => {
    const path = pathOf(request);
    if (path !== ADMIN_PATH && !path.startsWith(`${ADMIN_PATH}/`)) return false;
    const method = request.method === 'HEAD' ? 'GET' : (request.method ?? 'GET');
    if (method === 'POST' && path === `${ADMIN_PATH}/login`) {
      login(request, response, secret);
      return true;
    }
    if (!secret.matches(bearerToken(request) ?? cookieValue(request, ADMIN_COOKIE))) {
      if (method === 'GET' && (path === ADMIN_PATH || path === `${ADMIN_PATH}/`)) void loginPage(response, 401, '');
      else replyJson(response, 401, { error: 'The admin token is missing or wrong' }, { 'www-authenticate': 'Bearer realm="msghub admin"' });
      return true;
    }
    const route = routes[`${method} ${path}`];
    const file = pageFiles()[path];
    if (route !== undefined) route(request, response);
    else if (file !== undefined && method === 'GET') void serveFile(response, file.path, file.type);
    else replyJson(response, 404, { error: `No ${method} ${path}` });
    return true;
  };
}

/** Reads the room list, users and series into the page's state. */
export async function adminState(server: AdminServer, metrics: PrometheusMetrics, sampler: AdminSampler): Promise<AdminState> {
  const connections: Record<string, number> = {};
  for (const carrier of server.counters.opened.keys()) connections[carrier] = 0;
  for (const { transport } of server.connections) connections[transport] = (connections[transport] ?? 0) + 1;
  const users = [...server.users]
    .map(([user, own]) => ({ user, connections: own.length }))
    .sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0))
    .slice(0, MAX_USERS);
  const all = metrics.rooms();
  const listed = [...all].sort((a, b) => b.stats.sessions - a.stats.sessions || (a.name < b.name ? -1 : 1)).slice(0, MAX_ROOMS);
  const rooms = await Promise.all(listed.map((room) => adminRoom(room, sampler)));
  return {
    time: Date.now(),
    connections,
    usersOnline: server.users.size,
    users,
    roomCount: all.length,
    rooms,
    series: sampler.points,
  };
}

async function adminRoom({ name, hub, stats }: RoomSample, sampler: AdminSampler): Promise<AdminRoom> {
  // A room closing meanwhile answers presence with an error: it has no members to show.
  const presence = await hub.presence().catch(() => []);
  return {
    name,
    users: stats.users,
    sessions: stats.sessions,
    members: presence.slice(0, MAX_MEMBERS).map((entry) => entry.userId),
    lastEventId: stats.lastEventId,
    eventsPerSecond: sampler.roomRate(name),
    mailbox: stats.mailbox,
  };
}

/** POST /admin/login with a form field `token`: sets the cookie and goes to the page, or 401 and the form again. */
function login(request: IncomingMessage, response: ServerResponse, secret: SecretToken): void {
  readBody(request, response, MAX_BODY_BYTES, (body) => {
    const token = new URLSearchParams(body).get('token') ?? undefined;
    if (!secret.matches(token)) {
      void loginPage(response, 401, 'That token is not the admin token.');
      return;
    }
    reply(response, 303, 'text/plain; charset=utf-8', 'Logged in\n', { location: ADMIN_PATH, 'set-cookie': cookie(token as string, undefined) });
  });
}

/** The cookie that carries the token (HttpOnly: page scripts never see it); `maxAge` 0 clears it. */
function cookie(value: string, maxAge: number | undefined): string {
  const age = maxAge === undefined ? '' : `; Max-Age=${maxAge}`;
  return `${ADMIN_COOKIE}=${encodeURIComponent(value)}; Path=${ADMIN_PATH}; HttpOnly; SameSite=Strict${age}`;
}

async function loginPage(response: ServerResponse, status: number, message: string): Promise<void> {
  try {
    const html = await readFile(`${here}login.html`, 'utf8');
    reply(response, status, 'text/html; charset=utf-8', html.replace('<!--message-->', escapeHtml(message)));
  } catch {
    reply(response, 500, 'text/plain; charset=utf-8', 'The admin page is missing from this installation\n');
  }
}

async function serveFile(response: ServerResponse, path: string, type: string): Promise<void> {
  try {
    // Node sends no body for HEAD; the length is the file's.
    reply(response, 200, type, await readFile(path));
  } catch {
    reply(response, 404, 'text/plain; charset=utf-8', 'Not found\n');
  }
}

/** Reads a JSON body; a body that is not `application/json` gets 415, which a cross-site form cannot send. */
function readJson(request: IncomingMessage, response: ServerResponse, then: (body: unknown) => void): void {
  if (!/^application\/json\b/i.test(request.headers['content-type'] ?? '')) {
    replyJson(response, 415, { error: 'Expected content-type: application/json' });
    request.resume();
    return;
  }
  readBody(request, response, MAX_BODY_BYTES, (text) => {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      replyJson(response, 400, { error: 'The body is not JSON' });
      return;
    }
    then(body);
  });
}

function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 256;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The server HTTP API for backends, on the server's own HTTP listener (docs/transport.md, HTTP
 * API): read a room's committed events, publish into a room, send a user a direct message. Every
 * request carries `Authorization: Bearer <apiKey>`; bodies and answers are JSON, and a refusal is
 * `{ "code", "message" }` with a code from docs/errors.md and the HTTP status the code maps to.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MessageHub } from '@msghub/messagehub';
import type { DirectDelivery } from './direct-delivery.js';
import { isName, nestsDeeperThan } from './frame-codec.js';
import { bearerToken, checkToken, SecretToken } from './http-auth.js';
import { pathOf, replyJson } from './http-io.js';
import { MAX_DIRECT_TTL_MS, MAX_FRAME_DEPTH } from './protocol.js';
import type { RoomRegistry } from './rooms.js';
import { toWireError } from './errors.js';

/** Most events one history request returns, and how many when `limit` is not given. */
export const MAX_HISTORY_LIMIT = 1000;
export const DEFAULT_HISTORY_LIMIT = 100;

/** HTTP status of each code the API answers with. */
const STATUS: Readonly<Record<string, number>> = {
  BAD_FRAME: 400,
  INVALID_FIELD: 400,
  INVALID_ARGUMENT: 400,
  NOT_AUTHENTICATED: 401,
  AUTH_FAILED: 401,
  ROOM_NOT_FOUND: 404,
  NOT_FOUND: 404,
  OFFLINE: 404,
  METHOD_NOT_ALLOWED: 405,
  FRAME_TOO_LARGE: 413,
  FRAME_TOO_DEEP: 400,
  UNENCODABLE: 422,
  OFFLINE_QUEUE_FULL: 503,
  STORE_FAILED: 503,
  CLOSED: 503,
  INTERNAL: 500,
};

type HttpHandler = (request: IncomingMessage, response: ServerResponse) => boolean;

/** What the API works with; owned by the server. */
export interface HttpApiState {
  readonly rooms: RoomRegistry;
  readonly directs: () => DirectDelivery;
  /** Largest request body read (the server's `maxFrameBytes`). */
  readonly maxBodyBytes: number;
  readonly onError: (error: unknown) => void;
}

/** A refusal: its code and message become the JSON answer, its code the HTTP status. */
class ApiError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Validates the `apiKey` option.
 * @returns the key, or undefined when the API is off
 * @throws {TypeError} when it is not a string of at least 16 characters
 */
export function resolveApiKey(value: unknown): string | undefined {
  return value === undefined ? undefined : checkToken('apiKey', value);
}

/**
 * Builds the handler for `/rooms/…` and `/users/…`; it returns false for other paths, and for
 * every request when `apiKey` is undefined (the API is off).
 */
export function createHttpApi(apiKey: string | undefined, state: HttpApiState): HttpHandler {
  if (apiKey === undefined) return refuseNothing;
  const secret = new SecretToken(apiKey);
  return (request, response) => {
    const route = routeOf(pathOf(request));
    if (route === undefined) return false;
    const answer = (status: number, body: unknown): void => replyJson(response, status, body);
    const fail = (error: unknown): void => {
      const { code, message } = error instanceof ApiError ? error : toWireError(error);
      if (code === 'INTERNAL') state.onError(error);
      const headers: Record<string, string> = code === 'METHOD_NOT_ALLOWED' ? { allow: route.method } : {};
      if (STATUS[code] === 401) headers['www-authenticate'] = 'Bearer realm="msghub api"';
      replyJson(response, STATUS[code] ?? 500, { code, message }, headers);
    };
    const given = bearerToken(request);
    if (given === undefined) fail(new ApiError('NOT_AUTHENTICATED', 'Missing Authorization: Bearer <api key>'));
    else if (!secret.matches(given)) fail(new ApiError('AUTH_FAILED', 'Wrong API key'));
    else if (request.method !== route.method) fail(new ApiError('METHOD_NOT_ALLOWED', `Use ${route.method}`));
    else if (route.name === undefined) fail(new ApiError('INVALID_FIELD', `Expected the ${route.kind} name in the path to be 1 to 256 characters, percent-encoded`));
    else serve(state, request, route.action, route.name).then((body) => answer(200, body), fail);
    return true;
  };
}

async function serve(state: HttpApiState, request: IncomingMessage, action: Route['action'], name: string): Promise<unknown> {
  if (action === 'history') return history(state, name, request.url ?? '/');
  const body = await readJson(request, state.maxBodyBytes);
  return action === 'publish' ? publish(state, name, body) : send(state, name, body);
}

interface Route {
  readonly kind: 'room' | 'user';
  readonly action: 'history' | 'publish' | 'send';
  readonly method: 'GET' | 'POST';
  /** The decoded name, or undefined when it is not a valid name. */
  readonly name: string | undefined;
}

const ROUTE = /^\/(rooms|users)\/([^/]*)\/(history|publish|send)$/;

function routeOf(path: string): Route | undefined {
  const match = ROUTE.exec(path);
  if (match === null) return undefined;
  const kind = match[1] === 'rooms' ? 'room' : 'user';
  const action = match[3] as Route['action'];
  if ((kind === 'room') === (action === 'send')) return undefined;
  let name: string | undefined;
  try {
    name = decodeURIComponent(match[2] as string);
  } catch {
    name = undefined;
  }
  return { kind, action, method: action === 'history' ? 'GET' : 'POST', name: isName(name) ? name : undefined };
}

function refuseNothing(): boolean {
  return false;
}

/** Reads the body as one JSON object, refusing it before reading past `maxBytes`. */
function readJson(request: IncomingMessage, maxBytes: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const tooLarge = new ApiError('FRAME_TOO_LARGE', `Body over ${maxBytes} bytes`);
    if (Number(request.headers['content-length'] ?? 0) > maxBytes) {
      request.resume();
      reject(tooLarge);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Refused at once; the rest is read and dropped so that the answer reaches the client.
      if (size > maxBytes) reject(tooLarge);
      else chunks.push(chunk);
    });
    request.on('end', () => {
      if (size > maxBytes) return;
      const text = Buffer.concat(chunks).toString('utf8');
      if (nestsDeeperThan(text, MAX_FRAME_DEPTH)) {
        return reject(new ApiError('FRAME_TOO_DEEP', `Body nests arrays and objects deeper than ${MAX_FRAME_DEPTH} levels`));
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return reject(new ApiError('BAD_FRAME', 'Expected a JSON body'));
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return reject(new ApiError('BAD_FRAME', 'Expected a JSON object'));
      resolve(body as Record<string, unknown>);
    });
    request.on('error', reject);
  });
}

/** The room to read or publish in: the open one, or a new one when rooms are created on demand. */
async function roomFor(rooms: RoomRegistry, name: string): Promise<MessageHub<unknown>> {
  // A room closing is waited for, as a join does: the next one starts after its last events.
  await rooms.closing(name);
  const hub = rooms.open(name);
  if (hub === undefined) throw new ApiError('ROOM_NOT_FOUND', `No room ${name}`);
  return hub;
}

/** A query parameter as an integer within [min, max], or `fallback` when absent. */
function integerParam(params: URLSearchParams, name: string, min: number, max: number, fallback: number): number {
  const text = params.get(name);
  if (text === null) return fallback;
  const value = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ApiError('INVALID_FIELD', `Expected \`${name}\` to be an integer from ${min} to ${max}`);
  }
  return value;
}

async function history(state: HttpApiState, room: string, url: string): Promise<{ events: unknown[] }> {
  const params = new URL(url, 'http://localhost').searchParams;
  const since = integerParam(params, 'since', 0, Number.MAX_SAFE_INTEGER, 0);
  const limit = integerParam(params, 'limit', 1, MAX_HISTORY_LIMIT, DEFAULT_HISTORY_LIMIT);
  const hub = await roomFor(state.rooms, room);
  return { events: await hub.read(since, limit) };
}

function optionalUser(body: Record<string, unknown>): string | undefined {
  const from = body['from'];
  if (from !== undefined && !isName(from)) throw new ApiError('INVALID_FIELD', 'Expected `from` to be a user id of 1 to 256 characters');
  return from;
}

function dataOf(body: Record<string, unknown>): unknown {
  if (!('data' in body)) throw new ApiError('INVALID_FIELD', 'Expected a `data` field');
  return body['data'];
}

async function publish(state: HttpApiState, room: string, body: Record<string, unknown>): Promise<{ id: number }> {
  const data = dataOf(body);
  const from = optionalUser(body);
  const hub = await roomFor(state.rooms, room);
  return { id: await hub.publish(data, from === undefined ? {} : { from }) };
}

async function send(state: HttpApiState, user: string, body: Record<string, unknown>): Promise<{ id: string }> {
  const data = dataOf(body);
  const from = body['from'];
  if (!isName(from)) throw new ApiError('INVALID_FIELD', 'Expected `from` to be a user id of 1 to 256 characters');
  const ttlMs = body['ttlMs'];
  if (ttlMs !== undefined && (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs < 0 || ttlMs > MAX_DIRECT_TTL_MS)) {
    throw new ApiError('INVALID_FIELD', `Expected \`ttlMs\` to be an integer from 0 to ${MAX_DIRECT_TTL_MS}`);
  }
  return { id: await state.directs().deliver(user, from, data, ttlMs) };
}

/**
 * Development-only connect tokens over HTTP: `POST /dev/token` with `{"user":"ada"}` answers
 * `{"token":"…"}`, a single-use token from the server's `TokenStore` (`"rooms":[…]` binds it to
 * those rooms, as `tokens.issue(user, { rooms })` does). It lets a second process (a
 * script, a test, a page) connect as any user without a login system, so it is off unless asked
 * for, and may require a shared secret in the `x-msghub-dev-secret` header.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, replyJson } from './http-io.js';
import { roomsProblem } from '@msghub/protocol/token-grant';
import type { TokenStore } from './tokens.js';

/** The URL path of the endpoint. */
export const DEV_TOKEN_PATH = '/dev/token';
/** The request header carrying the shared secret. */
export const DEV_TOKEN_SECRET_HEADER = 'x-msghub-dev-secret';

/** `true`, or `{ secret }` to refuse requests without the secret (403). */
export type DevTokensOption = boolean | { readonly secret: string };

/** Largest request body read; user ids are at most 256 characters. */
const MAX_BODY_BYTES = 4096;
const MAX_USER_LENGTH = 256;

type HttpHandler = (request: IncomingMessage, response: ServerResponse) => boolean;

/** Validates the `devTokens` option. @returns the secret (or undefined), or false when off */
export function resolveDevTokens(value: unknown): { secret: string | undefined } | false {
  if (value === undefined || value === false) return false;
  if (value === true) return { secret: undefined };
  const secret = (value as { secret?: unknown } | null)?.secret;
  if (typeof value !== 'object' || typeof secret !== 'string' || secret.length === 0) {
    throw new TypeError(`Expected \`devTokens\` to be a boolean or { secret: non-empty string }, got ${JSON.stringify(value)}`);
  }
  return { secret };
}

/**
 * Builds the request handler for `POST /dev/token`. It returns false (and leaves the response
 * alone) for every other path, and for every request when `config` is false.
 */
export function createDevTokenHandler(tokens: TokenStore, config: { secret: string | undefined } | false): HttpHandler {
  if (config === false) return refuseNothing;
  const secret = config.secret === undefined ? undefined : Buffer.from(config.secret);
  return (request, response) => {
    if ((request.url ?? '/').split('?')[0] !== DEV_TOKEN_PATH) return false;
    if (request.method !== 'POST') {
      replyJson(response, 405, { error: 'Use POST' }, { allow: 'POST' });
    } else if (secret !== undefined && !sameSecret(secret, request.headers[DEV_TOKEN_SECRET_HEADER])) {
      replyJson(response, 403, { error: `Missing or wrong ${DEV_TOKEN_SECRET_HEADER} header` });
    } else {
      readBody(request, response, MAX_BODY_BYTES, (body) => issueFor(tokens, body, response));
    }
    return true;
  };
}

function refuseNothing(): boolean {
  return false;
}

function sameSecret(secret: Buffer, given: string | string[] | undefined): boolean {
  if (typeof given !== 'string') return false;
  const bytes = Buffer.from(given);
  return bytes.length === secret.length && timingSafeEqual(bytes, secret);
}

function issueFor(tokens: TokenStore, body: string, response: ServerResponse): void {
  let parsed: { user?: unknown; rooms?: unknown } | null;
  try {
    parsed = JSON.parse(body) as { user?: unknown; rooms?: unknown } | null;
  } catch {
    replyJson(response, 400, { error: 'Expected a JSON body {"user":"<id>"}' });
    return;
  }
  const user = parsed?.user;
  const rooms = parsed?.rooms;
  if (typeof user !== 'string' || user.length === 0 || user.length > MAX_USER_LENGTH) {
    replyJson(response, 400, { error: `Expected "user" to be a string of 1 to ${MAX_USER_LENGTH} characters` });
    return;
  }
  const problem = rooms === undefined ? undefined : roomsProblem(rooms);
  if (problem !== undefined) {
    replyJson(response, 400, { error: problem });
    return;
  }
  replyJson(response, 200, { token: tokens.issue(user, rooms === undefined ? undefined : { rooms: rooms as string[] }) });
}

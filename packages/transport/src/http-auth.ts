/**
 * Who may read the operator endpoints (`/metrics`, `/admin`) on the server's HTTP listener: a
 * bearer token (or, for the admin page, the cookie its login form sets), compared in constant time,
 * and whether a listener or a request is confined to the loopback interface.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/** Shortest token the operator endpoints accept: a guessable one would guard nothing. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * Validates an operator token option.
 * @throws {TypeError} when it is not a string of at least {@link MIN_TOKEN_LENGTH} characters
 */
export function checkToken(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length < MIN_TOKEN_LENGTH) {
    const given = typeof value === 'string' ? `a string of ${value.length} characters` : typeof value;
    throw new TypeError(`Expected \`${name}\` to be a string of at least ${MIN_TOKEN_LENGTH} characters, got ${given}`);
  }
  return value;
}

/** A token kept as its digest, so comparing it takes the same time whatever is given. */
export class SecretToken {
  readonly #digest: Buffer;

  constructor(token: string) {
    this.#digest = digest(token);
  }

  /** Whether `given` is the token. */
  matches(given: string | undefined): boolean {
    return given !== undefined && timingSafeEqual(digest(given), this.#digest);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The token of an `Authorization: Bearer <token>` header, if any. */
export function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** The value of cookie `name`, if the request carries it. */
export function cookieValue(request: IncomingMessage, name: string): string | undefined {
  const header = request.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at < 0 || part.slice(0, at).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(at + 1).trim());
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Whether a host to bind is the loopback interface only: `localhost`, `127.0.0.0/8`, `::1`. Any
 * other name or address (`0.0.0.0`, `::`, a LAN address, a host name) reaches beyond it.
 */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || isLoopbackAddress(host);
}

/** Whether an address is a loopback address (`127.0.0.0/8`, `::1`, `::ffff:127.x.y.z`). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return address === '::1' || address === '0:0:0:0:0:0:0:1';
}

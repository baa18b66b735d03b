/**
 * Which web pages may open a connection: the check of a request's `Origin` header against the
 * `allowedOrigins` option. Browsers send `Origin` with every WebSocket upgrade (and with
 * cross-origin HTTP requests) and a page cannot forge it, so it tells which site's script is
 * connecting; without the check, any page a user visits could connect as that user (their
 * cookies ride along). Programs outside a browser (Node, curl) send no `Origin` and are let
 * through: they can send any header they like, so the check is no defence against them.
 *
 * Pure functions with no I/O, so that every carrier (WebSocket upgrade, an HTTP carrier) applies
 * the same rule.
 */

/** The resolved `allowedOrigins` option. */
export type OriginPolicy =
  /** Origin's host equals the request's `Host` (the default: pages the server itself serves). */
  | { readonly kind: 'same-origin' }
  /** Any origin (`['*']`): the check is off. */
  | { readonly kind: 'any' }
  /** Exactly these origins, normalised (`scheme://host[:port]`, lower case, no default port). */
  | { readonly kind: 'list'; readonly origins: ReadonlySet<string> };

/** The default: same-origin. */
export const SAME_ORIGIN: OriginPolicy = Object.freeze({ kind: 'same-origin' });

/** HTTP status and body code of a refused request. */
export const ORIGIN_REFUSED_STATUS = 403;
export const ORIGIN_NOT_ALLOWED = 'ORIGIN_NOT_ALLOWED';

/**
 * Validates the `allowedOrigins` option: `undefined` (same-origin), `['*']` (any origin), or a
 * list of exact origins such as `'https://chat.example'` or `'http://localhost:3000'`. Patterns
 * (`https://*.example`) are not accepted; list each origin.
 * @throws {TypeError} saying what was expected and what was given
 */
export function resolveAllowedOrigins(value: unknown, name = 'allowedOrigins'): OriginPolicy {
  if (value === undefined) return SAME_ORIGIN;
  if (isPolicy(value)) return value;
  if (!Array.isArray(value)) {
    throw new TypeError(`Expected \`${name}\` to be an array of origins (e.g. ['https://chat.example']) or ['*'], got ${describe(value)}`);
  }
  if (value.length === 1 && value[0] === '*') return { kind: 'any' };
  const origins = new Set<string>();
  for (const entry of value as unknown[]) {
    if (entry === '*') throw new TypeError(`Expected \`${name}\` to hold '*' alone (any origin), got it beside other origins`);
    origins.add(normaliseOrigin(entry, name));
  }
  return { kind: 'list', origins };
}

/**
 * Whether a request with this `Origin` header, sent to this `Host`, may connect.
 * @param origin the `Origin` header (undefined when absent: not a browser, allowed)
 * @param host the `Host` header, for the same-origin default
 */
export function isOriginAllowed(policy: OriginPolicy, origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  if (policy.kind === 'any') return true;
  if (policy.kind === 'list') {
    const normal = parseOrigin(origin);
    return normal !== undefined && policy.origins.has(normal);
  }
  if (host === undefined || host === '') return false;
  const parsed = parseOrigin(origin);
  if (parsed === undefined) return false;
  // Compare host[:port] as the browser wrote them: Origin omits the scheme's default port, and so
  // does the Host header a browser sends to that port.
  return parsed.slice(parsed.indexOf('//') + 2) === host.toLowerCase();
}

/** The JSON body of a refusal: `{ code, message }`, like the HTTP API's errors. */
export function originRefusal(origin: string): { code: typeof ORIGIN_NOT_ALLOWED; message: string } {
  return {
    code: ORIGIN_NOT_ALLOWED,
    message: `Origin ${JSON.stringify(origin.slice(0, 200))} is not allowed to connect; the server's allowedOrigins option lists the pages that may`,
  };
}

function isPolicy(value: unknown): value is OriginPolicy {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const { kind, origins } = value as { kind?: unknown; origins?: unknown };
  return kind === 'same-origin' || kind === 'any' || (kind === 'list' && origins instanceof Set);
}

/** The normal form of an `Origin` header value, or undefined for one that is not an http(s) origin (`null`, garbage). */
function parseOrigin(origin: string): string | undefined {
  if (origin.length > 2048) return undefined;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '') return undefined;
  return `${url.protocol}//${url.host}`;
}

function normaliseOrigin(entry: unknown, name: string): string {
  if (typeof entry !== 'string' || entry === '') {
    throw new TypeError(`Expected every entry of \`${name}\` to be an origin string such as 'https://chat.example', got ${describe(entry)}`);
  }
  // An origin is scheme, host and port only: a path, query, credentials or wildcard is a mistake.
  let url: URL | undefined;
  try {
    url = new URL(entry);
  } catch {
    url = undefined;
  }
  const exact =
    url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:') && url.host !== '' && !/[*?#@]/.test(entry) &&
    url.pathname === '/' && !/^[a-z]+:\/\/[^/]*\/./i.test(entry);
  if (!exact) {
    throw new TypeError(`Expected every entry of \`${name}\` to be an exact origin, scheme://host[:port] with no path or wildcard (e.g. 'https://chat.example'), got ${describe(entry)}`);
  }
  // The URL parser lower-cases the host and drops the scheme's default port, as browsers do in Origin.
  return `${url!.protocol}//${url!.host}`;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `${JSON.stringify(value.slice(0, 200))} (string)`;
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return `${String(value)} (${typeof value})`;
}

/**
 * What the server's `onError` gets when browsers' connections are refused for their origin. At
 * most one every {@link ORIGIN_REPORT_INTERVAL_MS} per server, so a page that retries in a loop
 * cannot flood the log; `refused` counts the refusals since the last report (the metrics count
 * every one).
 */
export class OriginNotAllowedError extends Error {
  override readonly name = 'OriginNotAllowedError';
  readonly code = ORIGIN_NOT_ALLOWED;
  /** The `Origin` header of the latest refusal. */
  readonly origin: string;
  /** The carrier that refused it (`ws`, ...). */
  readonly carrier: string;
  /** Refusals since the previous report, this one included. */
  readonly refused: number;

  constructor(origin: string, carrier: string, refused: number) {
    const shown = JSON.stringify(origin.slice(0, 200));
    super(`Refused ${refused === 1 ? 'a connection' : `${refused} connections`} from a page of another origin (latest: ${shown} over ${carrier}); allowedOrigins lists the pages that may connect`);
    this.origin = origin;
    this.carrier = carrier;
    this.refused = refused;
  }
}

/** Least time between two {@link OriginNotAllowedError} reports. */
export const ORIGIN_REPORT_INTERVAL_MS = 10_000;

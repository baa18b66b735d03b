/**
 * The HTTP fallback carrier (docs/protocol.md, HTTP carrier) over `fetch`: a Server-Sent Events
 * stream read with a `ReadableStream` downstream, POSTs upstream. Works in browsers and in Node 20
 * (global `fetch`); no WebSocket needed.
 */
import type { Connection, ConnectionHandlers, Connector } from './connector.js';
import { ConnectionFailedError, InvalidOptionError } from './errors.js';
import { checkNumber, describe } from './options.js';

/** The part of the Fetch API the connector uses. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** Options of {@link httpConnector}. */
export interface HttpConnectorOptions {
  /** The Fetch implementation. @default globalThis.fetch */
  fetch?: FetchLike;
  /** Extra headers on every request (credentials a server's authenticator reads; Node). @default none */
  headers?: Record<string, string>;
  /**
   * Times the downstream is opened again, one after the other, when it drops while the
   * connection lives; the server resends what the client had not read. Then the connection
   * counts as lost and the client reconnects. @default 3
   */
  reopenAttempts?: number;
  /**
   * How long after reading frames the client tells the server, if no POST told it sooner; after
   * 256 frames not yet acknowledged it tells at once. @default 1000
   */
  ackDelayMs?: number;
}

/** Frames read and not yet acknowledged after which an acknowledgement goes out at once. */
const ACK_EVERY = 256;

/** How long closing waits for frames still being POSTed (the `bye`) before it drops them. */
const FLUSH_TIMEOUT_MS = 2000;

/**
 * A connector for the HTTP carrier at `url` (`http://` or `https://`, the same host and path as
 * the server's WebSocket URL; its query string goes with the request that opens the connection,
 * as it goes with a WebSocket upgrade).
 * @example
 * const client = new MsghubClient({ connector: httpConnector('https://chat.example/hub') });
 */
export function httpConnector(url: string, options: HttpConnectorOptions = {}): Connector {
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) {
    throw new InvalidOptionError(`Expected an http:// or https:// URL, got ${describe(url)}`);
  }
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError(`Expected options to be an object, got ${describe(options)}`);
  checkNumber('options.reopenAttempts', options.reopenAttempts, 0, true);
  checkNumber('options.ackDelayMs', options.ackDelayMs, 0);
  if (options.headers !== undefined && (typeof options.headers !== 'object' || options.headers === null)) {
    throw new InvalidOptionError(`Expected options.headers to be an object, got ${describe(options.headers)}`);
  }
  const parsed = new URL(url);
  const base = `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}/_http`;
  const settings: Settings = {
    openUrl: `${base}${parsed.search}`,
    base,
    fetch: options.fetch,
    headers: options.headers ?? {},
    reopenAttempts: options.reopenAttempts ?? 3,
    ackDelayMs: options.ackDelayMs ?? 1000,
  };
  return function openHttp(handlers: ConnectionHandlers): Connection {
    const fetchImpl = settings.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
    if (fetchImpl === undefined) throw new InvalidOptionError('No fetch implementation: pass options.fetch');
    return new HttpConnection(settings, fetchImpl.bind(globalThis) as FetchLike, handlers);
  };
}

interface Settings {
  readonly openUrl: string;
  readonly base: string;
  readonly fetch: FetchLike | undefined;
  readonly headers: Record<string, string>;
  readonly reopenAttempts: number;
  readonly ackDelayMs: number;
}

/** One SSE event as the server writes it: `event`, `id` and one `data` line. */
interface SseEvent {
  event: string;
  id: string | undefined;
  data: string;
}

function parseEvent(block: string): SseEvent {
  const out: SseEvent = { event: 'message', id: undefined, data: '' };
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const at = line.indexOf(':');
    const field = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? '' : line.slice(line.charCodeAt(at + 1) === 0x20 ? at + 2 : at + 1);
    if (field === 'event') out.event = value;
    else if (field === 'id') out.id = value;
    else if (field === 'data') out.data = out.data === '' ? value : `${out.data}\n${value}`;
  }
  return out;
}

/** The `code` of a JSON refusal, or the HTTP status. */
async function refusalOf(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { code?: unknown };
    if (typeof body.code === 'string') return `${response.status} ${body.code}`;
  } catch {
    // Not JSON: the status says enough.
  }
  return String(response.status);
}

/** One connection over the HTTP carrier; reports `onClose` exactly once. */
class HttpConnection implements Connection {
  readonly carrier = 'http';
  readonly #settings: Settings;
  readonly #fetch: FetchLike;
  readonly #handlers: ConnectionHandlers;
  readonly #abort = new AbortController();
  #sid: string | undefined;
  /** The number of the last frame read downstream, and the last one the server was told of. */
  #seen = 0;
  #acked = 0;
  #queue: string[] = [];
  #posting = false;
  #ackTimer: ReturnType<typeof setTimeout> | undefined;
  #reopens = 0;
  #closing = false;
  #closed = false;

  constructor(settings: Settings, fetchImpl: FetchLike, handlers: ConnectionHandlers) {
    this.#settings = settings;
    this.#fetch = fetchImpl;
    this.#handlers = handlers;
    void this.#read(settings.openUrl);
  }

  send(text: string): void {
    if (this.#closed || this.#sid === undefined) throw new Error('The HTTP connection is not open');
    this.#queue.push(text);
    if (!this.#posting) {
      this.#posting = true;
      // Frames sent in the same turn go out in one POST.
      queueMicrotask(() => void this.#post());
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closing = true;
    if (!this.#posting || this.#sid === undefined) {
      this.#finish(undefined);
      return;
    }
    // What is being POSTed (a `bye`) goes out first; the server's `end` event then closes.
    const timer = setTimeout(() => this.#finish(undefined), FLUSH_TIMEOUT_MS) as { unref?: () => void };
    timer.unref?.();
  }

  #headers(extra: Record<string, string>): Record<string, string> {
    return { ...this.#settings.headers, ...extra };
  }

  async #read(url: string): Promise<void> {
    let response: Response;
    try {
      response = await this.#fetch(url, { headers: this.#headers({ accept: 'text/event-stream' }), signal: this.#abort.signal });
    } catch (error) {
      this.#dropped(error);
      return;
    }
    if (this.#closed) return;
    if (!response.ok || response.body === null) {
      this.#finish(new ConnectionFailedError(`The HTTP carrier refused the stream (${await refusalOf(response)})`));
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let pending = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || this.#closed) break;
        pending += decoder.decode(value, { stream: true });
        // One cut of what is left per chunk, however many events it held.
        let start = 0;
        let at: number;
        while ((at = pending.indexOf('\n\n', start)) >= 0 && !this.#closed) {
          this.#event(parseEvent(pending.slice(start, at)));
          start = at + 2;
        }
        pending = pending.slice(start);
      }
    } catch (error) {
      this.#dropped(error);
      return;
    }
    this.#dropped(undefined);
  }

  #event(event: SseEvent): void {
    if (event.event === 'open') {
      if (this.#sid !== undefined) return;
      try {
        this.#sid = (JSON.parse(event.data) as { sid: string }).sid;
      } catch (error) {
        this.#finish(new ConnectionFailedError('The HTTP carrier sent an unreadable open event', { cause: error }));
        return;
      }
      this.#handlers.onOpen();
      return;
    }
    if (event.event === 'end') {
      this.#finish(undefined);
      return;
    }
    if (event.event !== 'message' || event.id === undefined) return;
    this.#reopens = 0;
    const seq = Number(event.id);
    // A stream opened again starts after what was read: an older number cannot come twice.
    if (seq <= this.#seen) return;
    if (seq !== this.#seen + 1) {
      this.#finish(new ConnectionFailedError(`The HTTP carrier skipped frames ${this.#seen + 1} to ${seq - 1}`));
      return;
    }
    this.#seen = seq;
    this.#handlers.onFrame(event.data);
    if (this.#closed) return;
    // Well before the server's bound on unacknowledged frames (`maxQueuedFrames`, 4096 by default).
    if (seq - this.#acked >= ACK_EVERY && !this.#posting) this.#ackNow();
    else this.#ackTimer ??= setTimeout(() => this.#ackNow(), this.#settings.ackDelayMs);
  }

  /** The stream ended without the server's `end` event: open it again from the last frame read. */
  #dropped(error: unknown): void {
    if (this.#closed) return;
    if (this.#closing) {
      this.#finish(undefined);
      return;
    }
    const sid = this.#sid;
    if (sid === undefined || this.#reopens >= this.#settings.reopenAttempts) {
      const detail = error instanceof Error ? `: ${error.message}` : '';
      this.#finish(new ConnectionFailedError(`The HTTP carrier's stream ended${detail}`, error === undefined ? undefined : { cause: error }));
      return;
    }
    const delay = this.#reopens * 200;
    this.#reopens++;
    setTimeout(() => {
      if (!this.#closed) void this.#read(`${this.#settings.base}/${sid}?seen=${this.#seen}`);
    }, delay);
  }

  #ackNow(): void {
    if (this.#ackTimer !== undefined) clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    if (this.#closed || this.#posting || this.#seen <= this.#acked) return;
    this.#posting = true;
    void this.#post();
  }

  /** POSTs what is queued, one request at a time so that frames arrive in order. */
  async #post(): Promise<void> {
    const sid = this.#sid as string;
    let failedAcks = 0;
    do {
      const frames = this.#queue;
      this.#queue = [];
      const seen = this.#seen;
      let response: Response;
      try {
        response = await this.#fetch(`${this.#settings.base}/${sid}?seen=${seen}`, {
          method: 'POST',
          headers: this.#headers({ 'content-type': 'text/plain; charset=utf-8' }),
          body: frames.join('\n'),
          signal: this.#abort.signal,
        });
      } catch (error) {
        if (this.#closed) return;
        if (frames.length === 0 && ++failedAcks <= this.#settings.reopenAttempts) {
          // Only an acknowledgement was lost, no frame: say it again (with what queued meanwhile).
          await new Promise((resolve) => setTimeout(resolve, this.#settings.ackDelayMs));
          if (this.#closed) return;
          continue;
        }
        // Frames whose arrival is unknown: end the connection, so that their senders hear of it.
        this.#finish(new ConnectionFailedError('A POST of the HTTP carrier failed', { cause: error }));
        return;
      }
      failedAcks = 0;
      if (this.#closed) return;
      if (response.status !== 204) {
        this.#finish(new ConnectionFailedError(`The HTTP carrier refused a POST (${await refusalOf(response)})`));
        return;
      }
      if (seen > this.#acked) this.#acked = seen;
    } while (this.#queue.length > 0 || failedAcks > 0);
    this.#posting = false;
    if (this.#closing) this.#finish(undefined);
  }

  #finish(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ackTimer !== undefined) clearTimeout(this.#ackTimer);
    this.#abort.abort();
    this.#handlers.onClose(error);
  }
}

/**
 * HTTP fallback carrier: the same protocol v1 frames over plain HTTP requests on the server's HTTP
 * listener, for clients whose WebSocket is blocked (docs/protocol.md, HTTP carrier).
 *
 * - `GET <path>/_http` opens a connection. Its answer is a Server-Sent Events stream that never
 *   ends while the connection lives: first an `open` event naming the connection's binding id
 *   (`sid`, random, 128 bits), then one `message` per server frame, numbered by the SSE `id` field
 *   (1, 2, 3, ... per connection).
 * - `POST <path>/_http/<sid>?seen=N` carries client frames, one per line, in order, and says the
 *   last downstream number the client has read (the server forgets frames up to it).
 * - `GET <path>/_http/<sid>?seen=N` opens the downstream again after it dropped: the server sends
 *   every frame after N it still holds (it holds every unacknowledged one), so nothing is lost
 *   or repeated. Past `graceMs` without a stream the connection ends.
 *
 * Frames a stream has not acknowledged count against the connection's outgoing bounds: past
 * them the connection stops writing and its frames wait in the outbox, where the slow-consumer
 * policy applies as on every carrier.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomId } from '@msghub/messagehub';
import type { Handshake, SocketHandler, TransportAdapter, TransportSocket } from './adapter.js';
import { FrameTooLargeError } from './errors.js';
import { pathOf, replyJson } from './http-io.js';
import { isOriginAllowed, ORIGIN_REFUSED_STATUS, originRefusal, SAME_ORIGIN, type OriginPolicy } from './origins.js';
import { MAX_TCP_FRAME_BYTES } from './protocol.js';

/** Options of {@link HttpAdapter}. */
export interface HttpAdapterOptions {
  /** The endpoints live at `<path>/_http`; at any path ending in `/_http` when absent. */
  path?: string;
  /** Largest frame accepted; larger ones get `FRAME_TOO_LARGE` and the connection survives. */
  maxFrameBytes: number;
  /** Largest POST body. @default the larger of `maxFrameBytes` and 4 MiB */
  maxBodyBytes?: number;
  /** Frames written to a stream and not yet acknowledged, at most, before writing stops. */
  maxUnackedFrames: number;
  /** Bytes written to a stream and not yet acknowledged, at most, before writing stops. */
  maxUnackedBytes: number;
  /** How long a connection whose stream dropped waits for it to be opened again. @default 10000 */
  graceMs?: number;
  /** The origins whose pages may use the carrier (see `HubServerOptions.allowedOrigins`); others get 403. @default same-origin */
  allowedOrigins?: OriginPolicy;
  /** Called for each request refused for its origin, after the 403 is written. */
  onOriginRefused?: (origin: string) => void;
}

/** The HTTP carrier's own refusals, answered as JSON `{ code, message }` (docs/errors.md). */
export type HttpCarrierCode =
  | 'ORIGIN_NOT_ALLOWED'
  | 'UNKNOWN_CONNECTION'
  | 'CONNECTION_CLOSED'
  | 'METHOD_NOT_ALLOWED'
  | 'INVALID_FIELD'
  | 'FRAME_TOO_LARGE'
  | 'SHUTDOWN';

const STATUS: Readonly<Record<HttpCarrierCode, number>> = {
  ORIGIN_NOT_ALLOWED: ORIGIN_REFUSED_STATUS,
  UNKNOWN_CONNECTION: 404,
  CONNECTION_CLOSED: 410,
  METHOD_NOT_ALLOWED: 405,
  INVALID_FIELD: 400,
  FRAME_TOO_LARGE: 413,
  SHUTDOWN: 503,
};

function refuse(response: ServerResponse, code: HttpCarrierCode, message: string, headers: Record<string, string> = {}): void {
  replyJson(response, STATUS[code], { code, message }, headers);
}

const STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  // Proxies that buffer responses (nginx) pass this one through as it is written.
  'x-accel-buffering': 'no',
  'x-content-type-options': 'nosniff',
} as const;

/** The last event of a stream whose connection ended: the client stops reading. */
const END_EVENT = 'event: end\ndata: \n\n';

/** One POST waiting for its frames to be handed to the connection. */
interface Post {
  readonly frames: string[];
  next: number;
  readonly response: ServerResponse;
}

/** `<prefix>/_http` or `<prefix>/_http/<sid>`. */
const ROUTE = /^(.*)\/_http(?:\/([^/]*))?$/;

class HttpSocket implements TransportSocket {
  readonly transport = 'http';
  readonly sid: string;
  readonly handshake: Handshake;
  readonly remoteAddress: string | undefined;
  readonly #adapter: HttpAdapter;
  readonly #options: Required<Omit<HttpAdapterOptions, 'onOriginRefused'>>;
  handler: SocketHandler | undefined;
  #stream: ServerResponse | undefined;
  /** The number of the last frame written. */
  #seq = 0;
  /** Written frames the client has not acknowledged, oldest first (a room event's bytes are shared). */
  #unacked: { seq: number; frame: string | Buffer }[] = [];
  #unackedBytes = 0;
  #acked = 0;
  /** The connection ended: no more frames; the stream may still be re-read until it is forgotten. */
  #ended = false;
  #closedReported = false;
  #opened = false;
  #drainWanted = false;
  #paused = false;
  readonly #posts: Post[] = [];
  #graceTimer: NodeJS.Timeout | undefined;
  #forgetTimer: NodeJS.Timeout | undefined;

  constructor(adapter: HttpAdapter, request: IncomingMessage, options: Required<Omit<HttpAdapterOptions, 'onOriginRefused'>>) {
    this.#adapter = adapter;
    this.#options = options;
    this.sid = randomId();
    this.remoteAddress = request.socket.remoteAddress;
    this.handshake = readHandshake(request);
  }

  get ended(): boolean {
    return this.#ended;
  }

  get bufferedAmount(): number {
    return this.#unackedBytes + (this.#stream?.writableLength ?? 0);
  }

  get needsDrain(): boolean {
    if (this.#ended) return false;
    const stream = this.#stream;
    const blocked =
      stream === undefined ||
      stream.writableNeedDrain ||
      this.#unacked.length >= this.#options.maxUnackedFrames ||
      this.#unackedBytes >= this.#options.maxUnackedBytes;
    if (blocked) this.#drainWanted = true;
    return blocked;
  }

  start(handler: SocketHandler): void {
    this.handler = handler;
    this.#dispatch();
  }

  write(frames: readonly (string | Buffer)[]): void {
    if (this.#ended) return;
    const first = this.#unacked.length;
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i] as string | Buffer;
      this.#unacked.push({ seq: ++this.#seq, frame });
      this.#unackedBytes += frame.length + EVENT_OVERHEAD;
    }
    const stream = this.#stream;
    if (stream !== undefined) writeEvents(stream, this.#unacked, first);
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#dispatch();
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const stream = this.#stream;
    this.#stream = undefined;
    if (stream !== undefined && this.#adapter.stopped) {
      // The server is shutting down: no keep-alive socket may hold its HTTP listener open.
      const socket = stream.socket;
      stream.end(END_EVENT, () => socket?.destroySoon());
    } else {
      stream?.end(END_EVENT);
    }
    this.#refusePosts();
    this.#closed();
    // Kept a while, so that a client whose stream dropped just before can still read the last
    // frames (the `bye`) when it opens the stream again.
    this.#forgetTimer = setTimeout(forgetSocket, this.#options.graceMs, this);
    this.#forgetTimer.unref();
  }

  destroy(): void {
    this.#ended = true;
    this.#unacked = [];
    this.#unackedBytes = 0;
    this.#stream?.destroy();
    this.#stream = undefined;
    this.#refusePosts();
    this.forget();
    this.#closed();
  }

  /** Drops every trace of the connection: its id is unknown from now on. */
  forget(): void {
    clearTimeout(this.#graceTimer);
    clearTimeout(this.#forgetTimer);
    this.#adapter.forget(this);
  }

  /** Answers a stream request (the first, or one that opens the stream again after frame `seen`). */
  attach(response: ServerResponse, seen: number): void {
    if (seen > this.#seq || seen < this.#acked) {
      refuse(response, 'INVALID_FIELD', `Expected \`seen\` to be from ${this.#acked} to ${this.#seq}`);
      return;
    }
    this.#ack(seen);
    const old = this.#stream;
    // The newer stream wins: the client gave up on the older one.
    if (old !== undefined) {
      this.#stream = undefined;
      old.end();
    }
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    response.writeHead(200, STREAM_HEADERS);
    response.socket?.setNoDelay(true);
    if (!this.#opened) response.write(openEvent(this.sid, this.#options.graceMs));
    this.#opened = true;
    writeEvents(response, this.#unacked, 0);
    if (this.#ended) {
      response.end(END_EVENT);
      return;
    }
    response.flushHeaders();
    this.#stream = response;
    (response as TaggedResponse)[kSocket] = this;
    response.on('close', responseOnClose);
    response.on('drain', responseOnDrain);
    this.drained();
  }

  /** Takes the frames of a POST (after frame `seen` was read downstream). */
  post(frames: string[], seen: number, response: ServerResponse): void {
    if (seen > this.#seq || seen < 0) {
      refuse(response, 'INVALID_FIELD', `Expected \`seen\` to be from 0 to ${this.#seq}`);
      return;
    }
    this.#ack(seen);
    this.#posts.push({ frames, next: 0, response });
    this.#dispatch();
  }

  /** Hands waiting frames to the connection, in order, while it reads. */
  #dispatch(): void {
    const handler = this.handler;
    if (handler === undefined) return;
    while (this.#posts.length > 0 && !this.#paused && !this.#ended) {
      const post = this.#posts[0] as Post;
      while (post.next < post.frames.length && !this.#paused && !this.#ended) {
        const frame = post.frames[post.next++] as string;
        if (Buffer.byteLength(frame) > this.#options.maxFrameBytes) {
          handler.invalid(new FrameTooLargeError(`Frame of ${Buffer.byteLength(frame)} bytes exceeds ${this.#options.maxFrameBytes}`), false);
        } else {
          handler.frame(frame);
        }
      }
      // Ended while reading this POST: #refusePosts answered it.
      if (this.#ended || post.next < post.frames.length) return;
      this.#posts.shift();
      post.response.writeHead(204, { 'cache-control': 'no-store' }).end();
    }
  }

  /** POSTs not handed over when the connection ended: the client learns that they were not read. */
  #refusePosts(): void {
    for (const post of this.#posts.splice(0)) {
      const unread = post.frames.length - post.next;
      if (unread === 0) post.response.writeHead(204, { 'cache-control': 'no-store' }).end();
      else refuse(post.response, 'CONNECTION_CLOSED', `The connection ended before the last ${unread} frames of this POST were read`);
    }
  }

  #ack(seen: number): void {
    if (seen <= this.#acked) return;
    this.#acked = seen;
    let drop = 0;
    while (drop < this.#unacked.length && (this.#unacked[drop] as { seq: number }).seq <= seen) {
      this.#unackedBytes -= (this.#unacked[drop] as { frame: string | Buffer }).frame.length + EVENT_OVERHEAD;
      drop++;
    }
    if (drop > 0) this.#unacked.splice(0, drop);
    this.drained();
  }

  /** The stream flushed, or acknowledgements freed room: the connection may write again. */
  drained(): void {
    if (!this.#drainWanted || this.#ended) return;
    if (this.needsDrain) return;
    this.#drainWanted = false;
    this.handler?.drain();
  }

  /** A stream's response closed (the client went away, or the stream was replaced or ended). */
  streamClosed(response: ServerResponse): void {
    if (this.#stream !== response) return;
    this.#stream = undefined;
    if (this.#ended) return;
    this.#graceTimer = setTimeout(destroySocket, this.#options.graceMs, this);
    this.#graceTimer.unref();
  }

  #closed(): void {
    if (this.#closedReported) return;
    this.#closedReported = true;
    this.handler?.closed();
  }
}

/** Bytes an SSE event adds to its frame (`id: ` and a number up to 15 digits, `data: `, three line feeds), at most. */
const EVENT_OVERHEAD = 32;

/**
 * Writes `events` from index `from` as SSE `message` events in one write (one HTTP chunk). A frame
 * shared by every member of a room is copied as bytes, never decoded into a per-connection string.
 */
function writeEvents(stream: ServerResponse, events: readonly { seq: number; frame: string | Buffer }[], from: number): void {
  if (from >= events.length) return;
  const parts: Buffer[] = [];
  let text = '';
  for (let i = from; i < events.length; i++) {
    const { seq, frame } = events[i] as { seq: number; frame: string | Buffer };
    if (typeof frame === 'string') {
      text += `id: ${seq}\ndata: ${frame}\n\n`;
    } else {
      parts.push(Buffer.from(`${text}id: ${seq}\ndata: `), frame);
      text = '\n\n';
    }
  }
  if (parts.length === 0) {
    stream.write(text);
    return;
  }
  parts.push(Buffer.from(text));
  stream.write(Buffer.concat(parts));
}

const kSocket = Symbol('msghub.http');
type TaggedResponse = ServerResponse & { [kSocket]?: HttpSocket };

function responseOnClose(this: ServerResponse): void {
  (this as TaggedResponse)[kSocket]?.streamClosed(this);
}

function responseOnDrain(this: ServerResponse): void {
  (this as TaggedResponse)[kSocket]?.drained();
}

function openEvent(sid: string, graceMs: number): string {
  return `event: open\ndata: ${JSON.stringify({ sid, graceMs })}\n\n`;
}

function destroySocket(socket: HttpSocket): void {
  socket.destroy();
}

function forgetSocket(socket: HttpSocket): void {
  socket.forget();
}

function readHandshake(request: IncomingMessage): Handshake {
  const query: Record<string, string> = {};
  const url = request.url;
  if (url !== undefined) {
    const at = url.indexOf('?');
    if (at >= 0) for (const [name, value] of new URLSearchParams(url.slice(at + 1))) query[name] = value;
  }
  return { headers: request.headers, query, url };
}

/** `seen` from the query: an integer from 0, or undefined when malformed. 0 when absent. */
function seenOf(request: IncomingMessage): number | undefined {
  const url = request.url ?? '';
  const at = url.indexOf('?');
  if (at < 0) return 0;
  const text = new URLSearchParams(url.slice(at + 1)).get('seen');
  if (text === null) return 0;
  return /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}

/** Splits a POST body into frames: one per line (LF or CRLF), empty lines skipped. */
function framesOf(body: string): string[] {
  const frames: string[] = [];
  for (const line of body.split('\n')) {
    const frame = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (frame.length > 0) frames.push(frame);
  }
  return frames;
}

/**
 * Accepts HTTP carrier connections on the server's HTTP listener. The owner of the listener
 * passes each request to {@link HttpAdapter.handle} before its other handlers.
 */
export class HttpAdapter implements TransportAdapter {
  readonly transport = 'http';
  readonly #options: Required<Omit<HttpAdapterOptions, 'onOriginRefused'>>;
  readonly #onOriginRefused: ((origin: string) => void) | undefined;
  readonly #prefix: string | undefined;
  /** Binding id → connection: the only way a request reaches one (a map lookup, no comparison loop). */
  readonly #sockets = new Map<string, HttpSocket>();
  #accept: ((socket: TransportSocket) => void) | undefined;
  #stopped = false;

  constructor(options: HttpAdapterOptions) {
    const { path } = options;
    if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/'))) {
      throw new TypeError(`Expected \`path\` to be a URL path starting with /, got ${String(path)}`);
    }
    this.#prefix = path === undefined ? undefined : path.replace(/\/+$/, '');
    this.#options = {
      path: path ?? '',
      maxFrameBytes: options.maxFrameBytes,
      maxBodyBytes: options.maxBodyBytes ?? Math.max(options.maxFrameBytes, MAX_TCP_FRAME_BYTES),
      maxUnackedFrames: options.maxUnackedFrames,
      maxUnackedBytes: options.maxUnackedBytes,
      graceMs: options.graceMs ?? 10_000,
      allowedOrigins: options.allowedOrigins ?? SAME_ORIGIN,
    };
    this.#onOriginRefused = options.onOriginRefused;
  }

  /** Whether {@link stop} was called: no connection opens any more. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Connections the adapter knows, ended ones still readable included. */
  get size(): number {
    return this.#sockets.size;
  }

  listen(accept: (socket: TransportSocket) => void): Promise<void> {
    this.#accept = accept;
    this.#stopped = false;
    return Promise.resolve();
  }

  /** Stops opening connections; open ones go on until they end. */
  stop(): Promise<void> {
    this.#stopped = true;
    this.#accept = undefined;
    return Promise.resolve();
  }

  forget(socket: HttpSocket): void {
    if (this.#sockets.get(socket.sid) === socket) this.#sockets.delete(socket.sid);
  }

  /**
   * Answers the request when its path is one of the carrier's.
   * @returns false for any other path (the caller answers it)
   */
  handle(request: IncomingMessage, response: ServerResponse): boolean {
    const match = ROUTE.exec(pathOf(request));
    if (match === null) return false;
    if (this.#prefix !== undefined && match[1] !== this.#prefix) return false;
    // While the server shuts down, every answer closes its socket, so that the listener can close.
    if (this.#stopped) response.shouldKeepAlive = false;
    // Every request, not only the opening one: a foreign page holding a binding id gets nowhere.
    const origin = request.headers.origin;
    if (!isOriginAllowed(this.#options.allowedOrigins, origin, request.headers.host)) {
      request.resume();
      replyJson(response, ORIGIN_REFUSED_STATUS, originRefusal(origin as string));
      this.#onOriginRefused?.(origin as string);
      return true;
    }
    const sid = match[2];
    if (sid === undefined) this.#open(request, response);
    else this.#bound(sid, request, response);
    return true;
  }

  #open(request: IncomingMessage, response: ServerResponse): void {
    request.resume();
    if (request.method !== 'GET') {
      refuse(response, 'METHOD_NOT_ALLOWED', 'Open a connection with GET', { allow: 'GET' });
      return;
    }
    const accept = this.#accept;
    if (accept === undefined || this.#stopped) {
      refuse(response, 'SHUTDOWN', 'The server is not accepting connections');
      return;
    }
    const socket = new HttpSocket(this, request, this.#options);
    this.#sockets.set(socket.sid, socket);
    socket.attach(response, 0);
    accept(socket);
  }

  #bound(sid: string, request: IncomingMessage, response: ServerResponse): void {
    const socket = this.#sockets.get(sid);
    if (socket === undefined) {
      request.resume();
      refuse(response, 'UNKNOWN_CONNECTION', 'No connection has this id (it never existed, or ended a while ago)');
      return;
    }
    const seen = seenOf(request);
    if (request.method === 'GET') {
      request.resume();
      if (seen === undefined) refuse(response, 'INVALID_FIELD', 'Expected `seen` to be an integer >= 0');
      else socket.attach(response, seen);
      return;
    }
    if (request.method !== 'POST') {
      request.resume();
      refuse(response, 'METHOD_NOT_ALLOWED', 'Send frames with POST, read them with GET', { allow: 'GET, POST' });
      return;
    }
    if (socket.ended) {
      request.resume();
      refuse(response, 'CONNECTION_CLOSED', 'The connection has ended');
      return;
    }
    if (seen === undefined) {
      request.resume();
      refuse(response, 'INVALID_FIELD', 'Expected `seen` to be an integer >= 0');
      return;
    }
    readBody(request, response, this.#options.maxBodyBytes, (body) => {
      if (socket.ended) refuse(response, 'CONNECTION_CLOSED', 'The connection has ended');
      else socket.post(framesOf(body), seen, response);
    });
  }
}

/** Reads a body of at most `maxBytes` and passes its text on; a larger one gets `FRAME_TOO_LARGE`. */
function readBody(request: IncomingMessage, response: ServerResponse, maxBytes: number, then: (body: string) => void): void {
  const tooLarge = (): void => refuse(response, 'FRAME_TOO_LARGE', `Body over ${maxBytes} bytes`, { connection: 'close' });
  if (Number(request.headers['content-length'] ?? 0) > maxBytes) {
    tooLarge();
    request.resume();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  request.on('data', (chunk: Buffer) => {
    if (size > maxBytes) return;
    size += chunk.length;
    if (size <= maxBytes) chunks.push(chunk);
    else {
      // Refused at once; the rest is read and dropped so that the answer reaches the client.
      chunks.length = 0;
      tooLarge();
    }
  });
  request.on('end', () => {
    if (size <= maxBytes) then(Buffer.concat(chunks).toString('utf8'));
  });
  request.on('error', () => response.destroy());
}

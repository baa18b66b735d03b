/**
 * What the server exposes to its operators, when asked for: Prometheus metrics at `/metrics` and
 * the admin view at `/admin`. The server holds one of these (or none, and then pays nothing) and
 * hands it its HTTP requests, its rooms' commits, its RPC handlers and its listen addresses.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AdminSampler } from './admin-sampler.js';
import { createAdminHandler, type AdminServer } from './admin.js';
import { isLoopbackHost } from './http-auth.js';
import { createMetricsHandler, METRICS_PATH } from './metrics-endpoint.js';
import type { RequestHandler, ResolvedServerOptions } from './options.js';
import { PrometheusMetrics } from './prometheus.js';
import type { CommitObserver } from './timed-store.js';

type HttpHandler = (request: IncomingMessage, response: ServerResponse) => boolean;

export class Observability {
  readonly #metrics: PrometheusMetrics;
  readonly #tokenless: boolean;
  readonly #handlers: HttpHandler[] = [];
  readonly #sampler: AdminSampler | undefined;

  /** @returns undefined when neither metrics nor the admin view is on */
  static create(options: ResolvedServerOptions, server: AdminServer): Observability | undefined {
    if (options.metrics === false && options.admin === false) return undefined;
    return new Observability(options, server);
  }

  private constructor(options: ResolvedServerOptions, server: AdminServer) {
    const { metrics, admin, onError } = options;
    this.#metrics = new PrometheusMetrics(server, metrics === false ? { token: undefined, perRoom: 0, process: false } : metrics);
    server.counters.publishObserver = this.#metrics.observePublish;
    server.counters.serverRequestObserver = this.#metrics.observeServerRequest;
    this.#tokenless = metrics !== false && metrics.token === undefined;
    if (metrics !== false) this.#handlers.push(createMetricsHandler(this.#metrics, metrics.token, onError));
    if (admin !== false) {
      this.#sampler = new AdminSampler(this.#metrics, server.counters, onError);
      this.#handlers.push(createAdminHandler(admin.token, server, this.#metrics, this.#sampler));
    }
  }

  /** For `RoomRegistryOptions.onCommit`. */
  get onCommit(): CommitObserver {
    return this.#metrics.observeCommit;
  }

  /** The handler, timed under its op. */
  timed(op: string, handler: RequestHandler): RequestHandler {
    return this.#metrics.timed(op, handler);
  }

  /**
   * Refuses to listen beyond loopback with `/metrics` open to all.
   * @throws {TypeError} when metrics have no token and `host` is not a loopback host
   */
  checkListen(host: string): void {
    if (this.#tokenless && !isLoopbackHost(host)) {
      throw new TypeError(`Serving ${METRICS_PATH} on ${host}, beyond loopback, needs a token: set \`metrics.token\``);
    }
  }

  /** Answers `/metrics` and `/admin…`; false for every other request. */
  handle(request: IncomingMessage, response: ServerResponse): boolean {
    for (const handler of this.#handlers) if (handler(request, response)) return true;
    return false;
  }

  stop(): void {
    this.#sampler?.stop();
  }
}

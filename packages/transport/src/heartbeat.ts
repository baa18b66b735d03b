/**
 * One timer per server checks every connection: the auth deadline, pings after `heartbeatMs` of
 * silence, the pong timeout, the idle timeout and the write timeout. A single sweep costs nothing per connection
 * while nothing is due, and keeps no timer object per connection.
 */
import type { Connection } from './connection.js';
import { AuthTimeoutError } from './errors.js';
import type { Counters } from './metrics.js';
import type { ResolvedServerOptions } from './options.js';

type Timing = Pick<ResolvedServerOptions, 'authTimeoutMs' | 'heartbeatMs' | 'pongTimeoutMs' | 'idleTimeoutMs' | 'writeTimeoutMs'>;

/** How often the sweep runs: a quarter of the shortest deadline, between 5 ms and 1 s. */
export function sweepInterval(options: Timing): number {
  const deadlines = [options.authTimeoutMs, options.pongTimeoutMs];
  if (options.heartbeatMs > 0) deadlines.push(options.heartbeatMs);
  if (options.idleTimeoutMs > 0) deadlines.push(options.idleTimeoutMs);
  if (options.writeTimeoutMs > 0) deadlines.push(options.writeTimeoutMs);
  return Math.min(1000, Math.max(5, Math.floor(Math.min(...deadlines) / 4)));
}

/** Applies every deadline to one connection at time `now`. */
export function checkConnection(connection: Connection, options: Timing, counters: Counters, now: number): void {
  if (connection.state === 'authenticating') {
    if (now - connection.openedAt >= options.authTimeoutMs) {
      counters.authFailures++;
      counters.authTimeouts++;
      connection.error(new AuthTimeoutError(`No hello within ${options.authTimeoutMs} ms`));
      connection.close('AUTH_TIMEOUT');
    }
    return;
  }
  if (connection.state !== 'open') return;
  if (options.writeTimeoutMs > 0 && connection.blockedSince > 0 && now - connection.blockedSince >= options.writeTimeoutMs) {
    connection.slowConsumer(`No write accepted for ${options.writeTimeoutMs} ms`);
    return;
  }
  if (connection.pingSentAt > 0 && now - connection.pingSentAt >= options.pongTimeoutMs) {
    counters.heartbeatCloses++;
    connection.close('HEARTBEAT_TIMEOUT', `No pong within ${options.pongTimeoutMs} ms`);
    return;
  }
  if (options.idleTimeoutMs > 0 && now - connection.lastActive >= options.idleTimeoutMs) {
    counters.heartbeatCloses++;
    connection.close('IDLE_TIMEOUT', `No frame for ${options.idleTimeoutMs} ms`);
    return;
  }
  if (options.heartbeatMs > 0 && connection.pingSentAt === 0 && now - connection.lastSeen >= options.heartbeatMs) {
    connection.pingSentAt = now;
    connection.sendFrame({ type: 'ping', ts: now });
  }
}

export class Heartbeat {
  readonly #timer: NodeJS.Timeout;

  constructor(connections: ReadonlySet<Connection>, options: Timing, counters: Counters) {
    this.#timer = setInterval(heartbeatOnTick, sweepInterval(options), connections, options, counters);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

function heartbeatOnTick(connections: ReadonlySet<Connection>, options: Timing, counters: Counters): void {
  const now = Date.now();
  for (const connection of connections) checkConnection(connection, options, counters, now);
}

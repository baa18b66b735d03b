import { RedisStore, type RedisStoreOptions } from '../src/index.js';
import { RedisServer, type RedisServerOptions } from './redis-server.js';

/** A private Redis for the enclosing `describe`, started before its tests and stopped after them. */
export interface TestRedis {
  readonly server: RedisServer;
  /** A store on it; closed after the test. */
  store(prefix: string, options?: RedisStoreOptions): RedisStore;
}

export function useRedis(options: RedisServerOptions = {}): TestRedis {
  let server: RedisServer | undefined;
  let stores: RedisStore[] = [];
  before(async () => {
    server = await RedisServer.start(options);
  });
  after(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    await Promise.all(stores.map((store) => store.close()));
    stores = [];
  });
  return {
    get server(): RedisServer {
      if (server === undefined) throw new Error('Redis is not started yet');
      return server;
    },
    store(prefix, storeOptions = {}) {
      const store = new RedisStore({ redis: this.server.url, prefix, ...storeOptions });
      stores.push(store);
      return store;
    },
  };
}

/** Resolves once `check` holds, polling; rejects after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

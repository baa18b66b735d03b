/**
 * The Lua scripts of scripts/*.lua, run by their SHA1 (EVALSHA), loaded again (EVAL) when Redis has
 * forgotten them, as it does after a restart.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

export class LuaScript {
  readonly #file: string;
  #source: string | undefined;
  #sha = '';

  constructor(file: string) {
    this.#file = file;
  }

  /** Runs the script with `keys` and `args`. */
  async run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    if (this.#source === undefined) {
      this.#source = readFileSync(new URL(`../scripts/${this.#file}`, import.meta.url), 'utf8');
      this.#sha = createHash('sha1').update(this.#source).digest('hex');
    }
    try {
      return await redis.evalsha(this.#sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!String((error as Error | null)?.message).startsWith('NOSCRIPT')) throw error;
      return redis.eval(this.#source, keys.length, ...keys, ...args);
    }
  }
}

export const OPEN = new LuaScript('open.lua');
export const APPEND = new LuaScript('append.lua');
export const HEARTBEAT = new LuaScript('heartbeat.lua');
export const FORGET_NODE = new LuaScript('forget-node.lua');
export const CHECK_SEQUENCE = new LuaScript('check-sequence.lua');
export const OFFLINE_PUSH = new LuaScript('offline-push.lua');
export const CLAIM = new LuaScript('claim.lua');
export const RELEASE = new LuaScript('release.lua');

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HubEvent } from '@msghub/messagehub';

/** A fresh folder under the OS temp dir, and a function that removes it. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'msghub-datalog-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Where the current test's files go: a fresh temp folder and `events.log` in it. */
export interface TempLog {
  dir: string;
  file: string;
}

/**
 * Registers hooks in the calling `describe` that give each test a fresh temp folder (removed after
 * the test) and returns the object whose `dir` and `file` they set.
 */
export function useTempDir(): TempLog {
  const temp: TempLog = { dir: '', file: '' };
  let cleanup: (() => Promise<void>) | undefined;
  beforeEach(async () => {
    const made = await tempDir();
    temp.dir = made.dir;
    temp.file = join(made.dir, 'events.log');
    cleanup = made.cleanup;
  });
  afterEach(() => cleanup?.());
  return temp;
}

/** The complete lines of `file`, parsed, and the partial last line if any. */
export async function readLines(file: string): Promise<{ events: HubEvent[]; torn: string }> {
  const text = await readFile(file, 'utf8');
  const cut = text.lastIndexOf('\n') + 1;
  const events = text
    .slice(0, cut)
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as HubEvent);
  return { events, torn: text.slice(cut) };
}

/** Collects an async iterable into an array. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** 1..n */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

/** An event of room `chatroomId` with id `id`, as the hub would emit it. */
export function messageEvent(chatroomId: string, id: number, message = `m${id}`): HubEvent {
  return { id, chatroomId, type: 'message', userId: 'ada', message, unixTime: 1_700_000_000_000 + id };
}

/** The JSON-lines text of `events`. */
export function linesOf(events: readonly HubEvent[]): string {
  return events.map((event) => `${JSON.stringify(event)}\n`).join('');
}

import { appendFile, copyFile, open as openFile, readFile, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { MessageHub, type HubEvent } from '@msghub/messagehub';
import {
  DataLog,
  FileStore,
  LogClosedError,
  LogIndexError,
  LogOpenError,
  LogOptionError,
  LogRoomNotOpenError,
  LogSequenceError,
  MalformedLineError,
  TornLineError,
  readLog,
  type FileStoreOptions,
} from '../src/index.js';
import { listRotated } from '../src/log-files.js';
import { describeRoomStore, type StoreFixture } from '../../messagehub/test/store-conformance.js';
import { collect, messageEvent, range, readLines, tempDir, useTempDir } from './helpers.js';

/** A FileStore on a fresh temp folder; `reopen` closes it and starts another on the same files. */
async function fileStoreFixture(): Promise<StoreFixture> {
  const { dir, cleanup } = await tempDir();
  const file = join(dir, 'events.log');
  const fixture = (store: FileStore): StoreFixture => ({
    store,
    reopen: async () => {
      await store.close();
      return fixture(new FileStore({ file, fsync: 'never' }));
    },
    dispose: async () => {
      await store.close();
      await cleanup();
    },
  });
  return fixture(new FileStore({ file, fsync: 'never' }));
}

describeRoomStore('FileStore', fileStoreFixture);

function batch(room: string, from: number, to: number, text?: (id: number) => string): HubEvent[] {
  return range(from, to).map((id) => messageEvent(room, id, text?.(id)));
}

/** Appends events `from..to` of `room` as one batch, with the JSON text a hub would hand over. */
async function append(store: FileStore, room: string, from: number, to: number, text?: (id: number) => string): Promise<void> {
  const events = batch(room, from, to, text);
  await store.append(room, events, events.map((event) => JSON.stringify(event)));
}

/** The ids of `room` in the log, in file order. */
async function idsInLog(file: string, room: string): Promise<number[]> {
  return (await collect(readLog(file, { room }))).map((event) => event.id);
}

/** Overwrites bytes [from, to) of `file` with `x`, keeping its newlines, size and inode. */
async function scribble(file: string, from: number, to: number): Promise<void> {
  const handle = await openFile(file, 'r+');
  try {
    const bytes = Buffer.alloc(to - from);
    await handle.read(bytes, 0, bytes.length, from);
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0x0a) bytes[i] = 0x78;
    await handle.write(bytes, 0, bytes.length, from);
  } finally {
    await handle.close();
  }
}

describe('FileStore', () => {
  let stores: FileStore[] = [];
  let errors: Error[] = [];
  // Registered before the temp folder's hooks, so the stores close before the folder goes.
  afterEach(async () => {
    await Promise.all(stores.map((store) => store.close()));
    stores = [];
    errors = [];
  });
  const temp = useTempDir();
  const start = (options: Partial<FileStoreOptions> = {}): FileStore => {
    const store = new FileStore({ file: temp.file, fsync: 'never', onError: (error) => errors.push(error), ...options });
    stores.push(store);
    return store;
  };

  describe('#constructor', () => {
    it('throws LogOptionError for a malformed option, saying what was expected', () => {
      const file = join(temp.dir, 'x.log');
      expect(() => new FileStore({} as FileStoreOptions)).to.throw(LogOptionError, /`file`/);
      expect(() => new FileStore({ file, fsync: 'always' as 'never' })).to.throw(LogOptionError, /fsync/);
      expect(() => new FileStore({ file, historySize: -1 })).to.throw(LogOptionError, /historySize/);
      expect(() => new FileStore({ file, checkpointBytes: 0 })).to.throw(LogOptionError, /checkpointBytes/);
      expect(() => new FileStore({ file, maxBytes: 1.5 })).to.throw(LogOptionError, /maxBytes/);
      expect(() => new FileStore({ file, onError: 'x' as unknown as () => void })).to.throw(LogOptionError, /onError/);
    });
  });

  describe('#open', () => {
    it('fails with LogOpenError when the log cannot be opened, and close still resolves', async () => {
      const store = new FileStore({ file: join(temp.dir, 'missing', 'events.log') });
      const error = await store.open('lobby', { historySize: 1 }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(LogOpenError).with.property('code', 'LOG_OPEN_FAILED');
      await store.close();
    });

    it("writes a new room's epoch line with its first batch, before the batch is acknowledged", async () => {
      const store = start();
      const { epoch } = await store.open('lobby', { historySize: 10 });
      expect(await readFile(temp.file, 'utf8')).to.equal('');
      await append(store, 'lobby', 1, 2);
      const lines = (await readFile(temp.file, 'utf8')).split('\n');
      expect(JSON.parse(lines[0] as string)).to.deep.equal({ type: 'epoch', chatroomId: 'lobby', epoch, lastEventId: 0 });
      expect(lines.slice(1, 3).map((line) => JSON.parse(line) as HubEvent)).to.deep.equal(batch('lobby', 1, 2));
    });

    it('cuts a torn last line when it opens the log, reports it and never counts it', async () => {
      const first = start();
      const { epoch } = await first.open('lobby', { historySize: 10 });
      await append(first, 'lobby', 1, 3);
      await first.close();
      const partial = '{"id":4,"chatroomId":"lobby","type":"mess';
      await appendFile(temp.file, partial);
      const size = (await stat(temp.file)).size;
      const again = start();
      expect(await again.open('lobby', { historySize: 10 })).to.deep.equal({ epoch, lastEventId: 3, history: batch('lobby', 1, 3) });
      expect(errors).to.have.length(1);
      expect(errors[0]).to.be.instanceOf(TornLineError).and.include({ bytes: partial.length, offset: size - partial.length });
      await append(again, 'lobby', 4, 4);
      expect((await readLines(temp.file)).torn).to.equal('');
      expect(await idsInLog(temp.file, 'lobby')).to.deep.equal([1, 2, 3, 4]);
    });

    it('rebuilds a deleted index from the log: the same epochs, last ids and histories', async () => {
      const first = start();
      const a = await first.open('a', { historySize: 3 });
      const b = await first.open('b', { historySize: 3 });
      await append(first, 'a', 1, 5);
      await append(first, 'b', 1, 2);
      await first.close();
      await unlink(`${temp.file}.index`);
      const again = start();
      expect(await again.open('a', { historySize: 3 })).to.deep.equal({ epoch: a.epoch, lastEventId: 5, history: batch('a', 3, 5) });
      expect(await again.open('b', { historySize: 3 })).to.deep.equal({ epoch: b.epoch, lastEventId: 2, history: batch('b', 1, 2) });
      expect(errors).to.deep.equal([]);
      await again.close();
      // ... and writes it again.
      expect((await stat(`${temp.file}.index`)).size).to.be.greaterThan(0);
    });

    it('rebuilds a damaged index, reporting LogIndexError (damaged)', async () => {
      const first = start();
      const { epoch } = await first.open('lobby', { historySize: 3 });
      await append(first, 'lobby', 1, 4);
      await first.close();
      await writeFile(`${temp.file}.index`, '{"version":1,"log":"events.log","live":[1,2');
      const again = start();
      expect(await again.open('lobby', { historySize: 3 })).to.deep.equal({ epoch, lastEventId: 4, history: batch('lobby', 2, 4) });
      expect(errors).to.have.length(1);
      expect(errors[0]).to.be.instanceOf(LogIndexError).and.include({ code: 'LOG_INDEX_INVALID', reason: 'damaged' });
    });

    it("finds a room's events by scanning when they are not where the index says, reporting LogIndexError (mismatch)", async () => {
      const first = start();
      const { epoch } = await first.open('a', { historySize: 3 });
      await first.open('b', { historySize: 3 });
      await append(first, 'a', 1, 2);
      await append(first, 'b', 1, 2);
      await append(first, 'a', 3, 5);
      await first.close();
      const index = JSON.parse(await readFile(`${temp.file}.index`, 'utf8')) as { rooms: [string, string, number, number, number, number[]][] };
      const runs = (index.rooms.find((room) => room[0] === 'a') as [string, string, number, number, number, number[]])[5];
      // The second run of `a` (events 3-5) now points 7 bytes past where it is.
      runs[5] = (runs[5] as number) + 7;
      await writeFile(`${temp.file}.index`, JSON.stringify(index));
      const again = start();
      expect(await again.open('a', { historySize: 3 })).to.deep.equal({ epoch, lastEventId: 5, history: batch('a', 3, 5) });
      expect(errors.map((e) => (e as LogIndexError).reason)).to.deep.equal(['mismatch']);
    });

    it('does not trust an index whose log was replaced: reports it stale and rebuilds from the log', async () => {
      const first = start();
      await first.open('lobby', { historySize: 3 });
      await append(first, 'lobby', 1, 4);
      await first.close();
      const text = await readFile(temp.file, 'utf8');
      await unlink(temp.file);
      // The same content in a new file, one event short: the index describes another file.
      await writeFile(temp.file, text.split('\n').slice(0, -2).join('\n') + '\n');
      const again = start();
      expect(await again.open('lobby', { historySize: 3 })).to.include({ lastEventId: 3 });
      expect(errors.map((e) => (e as LogIndexError).reason)).to.deep.equal(['stale']);
    });

    it('does not trust an index longer than its log (cut short in place, as after a power loss under never)', async () => {
      const first = start();
      const { epoch } = await first.open('lobby', { historySize: 3 });
      await append(first, 'lobby', 1, 2);
      const keep = (await stat(temp.file)).size;
      await append(first, 'lobby', 3, 4);
      await first.close();
      await truncate(temp.file, keep);
      const again = start();
      expect(await again.open('lobby', { historySize: 3 })).to.deep.equal({ epoch, lastEventId: 2, history: batch('lobby', 1, 2) });
      expect(errors.map((e) => (e as LogIndexError).reason)).to.deep.equal(['stale']);
    });

    it("reads only the index and the log's tail after it, never the part before (a full scan would fail on it)", async () => {
      const first = start({ checkpointBytes: Infinity });
      await first.open('old', { historySize: 4 });
      const { epoch } = await first.open('lobby', { historySize: 4 });
      for (let i = 0; i < 20; i++) await append(first, 'old', i * 10 + 1, i * 10 + 10);
      const lobbyStarts = (await stat(temp.file)).size;
      await append(first, 'lobby', 1, 10);
      await first.release('old');
      await first.release('lobby');
      const checkpoint = (await stat(temp.file)).size;
      // The index as it is now: it will lag the log by the batches below, as after a SIGKILL.
      await copyFile(`${temp.file}.index`, join(temp.dir, 'lagging.index'));
      await first.open('lobby', { historySize: 4 });
      await append(first, 'lobby', 11, 15);
      await append(first, 'lobby', 16, 20);
      await first.close();
      await copyFile(join(temp.dir, 'lagging.index'), `${temp.file}.index`);
      await scribble(temp.file, 0, lobbyStarts);

      const again = start();
      expect(await again.open('lobby', { historySize: 4 })).to.deep.equal({ epoch, lastEventId: 20, history: batch('lobby', 17, 20) });
      expect(await again.read('lobby', 8)).to.deep.equal(batch('lobby', 9, 20));
      expect(errors).to.deep.equal([]);
      await again.close();
      expect(checkpoint).to.be.lessThan((await stat(temp.file)).size);

      // What the store did not read is not a log any more: a scan of it fails.
      expect(await collect(readLog(temp.file)).catch((e: unknown) => e)).to.be.instanceOf(MalformedLineError);
      await unlink(`${temp.file}.index`);
      const rebuilding = start();
      expect(await rebuilding.open('lobby', { historySize: 4 }).catch((e: unknown) => e)).to.be.instanceOf(MalformedLineError);
    });

    it('continues a log written by DataLog: each room goes on at its next id, under an epoch of its own', async () => {
      const log = new DataLog({ file: temp.file, fsync: 'never' });
      const hub = new MessageHub({ chatroomId: 'lobby' });
      log.attach(hub);
      for (let i = 0; i < 5; i++) await hub.message('ada', `m${i}`);
      await hub.close();
      await log.close();
      const store = start();
      const state = await store.open<string>('lobby', { historySize: 2 });
      expect(state.lastEventId).to.equal(6);
      expect(state.history.map((e) => e.id)).to.deep.equal([5, 6]);
      const next = new MessageHub({ chatroomId: 'lobby', store });
      await store.release('lobby');
      expect(await next.publish('after')).to.equal(7);
      expect(next.epoch).to.equal(state.epoch);
      await next.close();
      expect(await idsInLog(temp.file, 'lobby')).to.deep.equal(range(1, 8));
    });
  });

  describe('#append', () => {
    it('refuses ids that do not follow the last one with LogSequenceError, and the room goes on', async () => {
      const store = start();
      await store.open('lobby', { historySize: 10 });
      await append(store, 'lobby', 1, 2);
      const error = await append(store, 'lobby', 4, 5).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(LogSequenceError).and.include({ code: 'LOG_OUT_OF_SEQUENCE', chatroomId: 'lobby', expected: 3 });
      const foreign = await store.append('lobby', [messageEvent('other', 3)], undefined).catch((e: unknown) => e);
      expect(foreign).to.be.instanceOf(LogSequenceError);
      await append(store, 'lobby', 3, 3);
      expect(await idsInLog(temp.file, 'lobby')).to.deep.equal([1, 2, 3]);
    });

    it('refuses a room it has not opened, or has released, with LogRoomNotOpenError', async () => {
      const store = start();
      const never = await append(store, 'lobby', 1, 1).catch((e: unknown) => e);
      expect(never).to.be.instanceOf(LogRoomNotOpenError).and.include({ code: 'LOG_ROOM_NOT_OPEN', chatroomId: 'lobby' });
      await store.open('lobby', { historySize: 1 });
      await store.release('lobby');
      expect(await append(store, 'lobby', 1, 1).catch((e: unknown) => e)).to.be.instanceOf(LogRoomNotOpenError);
    });

    it('writes the batches of many rooms that arrive together, each room in its order', async () => {
      const store = start({ fsync: 'batch' });
      const rooms = range(1, 50).map((n) => `r${n}`);
      await Promise.all(rooms.map((room) => store.open(room, { historySize: 5 })));
      for (let round = 0; round < 4; round++) {
        await Promise.all(rooms.map((room) => append(store, room, round * 3 + 1, round * 3 + 3)));
      }
      await store.close();
      for (const room of rooms) expect(await idsInLog(temp.file, room)).to.deep.equal(range(1, 12));
      const again = start();
      for (const room of rooms) expect((await again.open(room, { historySize: 5 })).history).to.deep.equal(batch(room, 8, 12));
    });

    it("writes and syncs each event on its own under fsync 'event', across rotations", async () => {
      const store = start({ fsync: 'event', maxBytes: 300, retain: 100 });
      const { epoch } = await store.open('lobby', { historySize: 3 });
      await append(store, 'lobby', 1, 5);
      await append(store, 'lobby', 6, 8);
      await store.close();
      expect(await idsInLog(temp.file, 'lobby')).to.deep.equal(range(1, 8));
      expect((await listRotated(temp.file)).length).to.be.greaterThan(1);
      const again = start({ fsync: 'event', maxBytes: 300, retain: 100 });
      expect(await again.open('lobby', { historySize: 3 })).to.deep.equal({ epoch, lastEventId: 8, history: batch('lobby', 6, 8) });
    });

    it('encodes the events itself for a hub that does not (encode: false)', async () => {
      const store = start();
      const hub = new MessageHub({ chatroomId: 'lobby', store, encode: false });
      expect(await hub.publish('hello', { from: 'ada' })).to.equal(1);
      await hub.close();
      expect((await collect(readLog(temp.file))).map((e) => e.type)).to.deep.equal(['message', 'close']);
    });
  });

  describe('#read', () => {
    it("reads only the room's current sequence when the log holds an earlier one under another epoch", async () => {
      const epochLine = (epoch: string, last: number): string => `${JSON.stringify({ type: 'epoch', chatroomId: 'lobby', epoch, lastEventId: last })}\n`;
      const lines = (events: HubEvent[]): string => events.map((e) => `${JSON.stringify(e)}\n`).join('');
      // Another room's line after each: every event of `lobby` is a run of its own, and the store keeps few.
      const interleaved = batch('lobby', 4, 40).flatMap((event) => [event, messageEvent('other', event.id)]);
      await writeFile(temp.file, epochLine('old', 0) + lines(batch('lobby', 1, 3)) + epochLine('new', 3) + lines(interleaved));
      const store = start({ historySize: 1 });
      expect(await store.open('lobby', { historySize: 1 })).to.deep.equal({ epoch: 'new', lastEventId: 40, history: batch('lobby', 40, 40) });
      expect(await store.read('lobby', 0)).to.deep.equal(batch('lobby', 4, 40));
      expect(await store.read('lobby', 1, 2)).to.deep.equal(batch('lobby', 4, 5));
    });

    it('reads what the kept history no longer reaches by scanning the log', async () => {
      const store = start({ historySize: 3 });
      await store.open('lobby', { historySize: 3 });
      await store.open('other', { historySize: 3 });
      for (let i = 0; i < 10; i++) {
        await append(store, 'lobby', i * 3 + 1, i * 3 + 3);
        await append(store, 'other', i + 1, i + 1);
      }
      await store.release('lobby');
      expect(await store.read('lobby', 0)).to.deep.equal(batch('lobby', 1, 30));
      expect(await store.read('lobby', 4, 5)).to.deep.equal(batch('lobby', 5, 9));
      expect(await store.read('lobby', 27)).to.deep.equal(batch('lobby', 28, 30));
    });
  });

  describe('#close', () => {
    it('is idempotent and never rejects; the store refuses everything after it with LogClosedError', async () => {
      const store = start();
      await store.open('lobby', { historySize: 1 });
      const closing = store.close();
      expect(store.close()).to.equal(closing);
      await closing;
      expect(await store.open('lobby', { historySize: 1 }).catch((e: unknown) => e)).to.be.instanceOf(LogClosedError);
      expect(await append(store, 'lobby', 1, 1).catch((e: unknown) => e)).to.be.instanceOf(LogClosedError);
      expect(await store.read('lobby', 0).catch((e: unknown) => e)).to.be.instanceOf(LogClosedError);
    });

    it('waits for the appends in flight and those queued behind them', async () => {
      const store = start({ fsync: 'batch' });
      await store.open('a', { historySize: 1 });
      await store.open('b', { historySize: 1 });
      const first = append(store, 'a', 1, 100);
      // The write of `a` has started: `b` waits for the next one.
      await Promise.resolve();
      await Promise.resolve();
      const second = append(store, 'b', 1, 100);
      await store.close();
      await Promise.all([first, second]);
      expect(await idsInLog(temp.file, 'a')).to.deep.equal(range(1, 100));
      expect(await idsInLog(temp.file, 'b')).to.deep.equal(range(1, 100));
      // ... and then writes the index, up to the end of the log.
      const index = JSON.parse(await readFile(`${temp.file}.index`, 'utf8')) as { live: [number, number, number] };
      expect(index.live[2]).to.equal((await stat(temp.file)).size);
    });
  });

  describe('rotation', () => {
    const text = (id: number): string => `message ${String(id).padStart(6, '0')} ${'x'.repeat(40)}`;

    it("keeps every room's head across rotated files and reads its history back across them", async () => {
      const first = start({ maxBytes: 2000, retain: 100 });
      const a = await first.open('a', { historySize: 30 });
      const b = await first.open('b', { historySize: 30 });
      for (let i = 0; i < 40; i++) {
        await append(first, 'a', i * 2 + 1, i * 2 + 2, text);
        await append(first, 'b', i + 1, i + 1, text);
      }
      await first.close();
      const files = await listRotated(temp.file);
      expect(files.length).to.be.greaterThan(5);
      for (const { path } of files) expect((await stat(path)).size).to.be.at.most(2000);
      const again = start({ maxBytes: 2000, retain: 100 });
      expect(await again.open('a', { historySize: 30 })).to.deep.equal({ epoch: a.epoch, lastEventId: 80, history: batch('a', 51, 80, text) });
      expect(await again.open('b', { historySize: 30 })).to.deep.equal({ epoch: b.epoch, lastEventId: 40, history: batch('b', 11, 40, text) });
      expect(await idsInLog(temp.file, 'a')).to.deep.equal(range(1, 80));
      expect(errors).to.deep.equal([]);
    });

    it('follows the live file to its rotated name when it was rotated after the index was written', async () => {
      const first = start({ maxBytes: 2000, retain: 100, checkpointBytes: Infinity });
      const { epoch } = await first.open('a', { historySize: 5 });
      await append(first, 'a', 1, 5, text);
      await first.release('a');
      await copyFile(`${temp.file}.index`, join(temp.dir, 'before-rotation.index'));
      await first.open('a', { historySize: 5 });
      for (let i = 1; i < 20; i++) await append(first, 'a', i * 5 + 1, i * 5 + 5, text);
      await first.close();
      expect((await listRotated(temp.file)).length).to.be.greaterThan(2);
      await copyFile(join(temp.dir, 'before-rotation.index'), `${temp.file}.index`);
      const again = start({ maxBytes: 2000, retain: 100 });
      expect(await again.open('a', { historySize: 5 })).to.deep.equal({ epoch, lastEventId: 100, history: batch('a', 96, 100, text) });
      expect(errors).to.deep.equal([]);
    });

    it('opens where it stopped after retention deleted old files; the history starts later', async () => {
      const first = start({ maxBytes: 2000, retain: 1 });
      const quiet = await first.open('quiet', { historySize: 100 });
      const busy = await first.open('busy', { historySize: 100 });
      await append(first, 'quiet', 1, 3, text);
      for (let i = 0; i < 40; i++) await append(first, 'busy', i * 2 + 1, i * 2 + 2, text);
      await first.close();
      expect((await listRotated(temp.file)).map((f) => f.seq)).to.have.length(1);
      const check = async (store: FileStore): Promise<void> => {
        expect(await store.open('quiet', { historySize: 100 })).to.deep.equal({ epoch: quiet.epoch, lastEventId: 3, history: [] });
        const state = await store.open<string>('busy', { historySize: 100 });
        expect(state).to.include({ epoch: busy.epoch, lastEventId: 80 });
        const ids = state.history.map((e) => e.id);
        expect(ids[0]).to.be.greaterThan(1);
        expect(ids).to.deep.equal(range(ids[0] as number, 80));
      };
      await check(start({ maxBytes: 2000, retain: 1 }));
      // Without the index, the epoch lines at the top of every file still tell each room's epoch and head.
      await unlink(`${temp.file}.index`);
      await check(start({ maxBytes: 2000, retain: 1 }));
      expect(errors).to.deep.equal([]);
    });
  });
});

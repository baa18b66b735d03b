import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import fc from 'fast-check';
import { MessageHub, type HubEvent, type HubListener, type ListenerHandle } from '@msghub/messagehub';
import { firstValueFrom, take, toArray } from 'rxjs';
import {
  DataLog,
  LogClosedError,
  LogEncodeError,
  LogFileRemovedError,
  LogOpenError,
  LogOptionError,
  LogWriteError,
  TornLineError,
  type DataLogOptions,
} from '../src/index.js';
import { linesOf, messageEvent, range, readLines, useTempDir } from './helpers.js';

/** A room stand-in that hands its listener to the test, to drive `next` directly. */
function fakeHub(chatroomId: string): { chatroomId: string; listener: () => HubListener; attachListener(l: HubListener): ListenerHandle } {
  let attached: HubListener | undefined;
  return {
    chatroomId,
    listener: () => attached as HubListener,
    attachListener(l: HubListener): ListenerHandle {
      attached = l;
      return { detach: async () => l.complete?.() };
    },
  };
}

/** A listener that keeps every event the hub emits, to compare with the file. */
function recorder(hub: MessageHub): HubEvent[] {
  const seen: HubEvent[] = [];
  hub.attachListener((event) => {
    seen.push(event);
  });
  return seen;
}

describe('DataLog', () => {
  let logs: DataLog[] = [];
  // Registered before the temp folder's hooks, so the logs close before the folder goes.
  afterEach(async () => {
    await Promise.all(logs.map((log) => log.close()));
    logs = [];
  });
  const temp = useTempDir();
  let dir: string;
  beforeEach(() => (dir = temp.dir));
  const open = (options: Omit<DataLogOptions, 'file'> & { file?: DataLogOptions['file'] }): DataLog => {
    const log = new DataLog({ file: join(dir, 'events.log'), ...options });
    logs.push(log);
    return log;
  };

  describe('#attach', () => {
    it('has every event in the file once hub.close() resolves, each line exactly JSON.stringify(event)', async () => {
      const log = open({ fsync: 'never' });
      const hub = new MessageHub({ chatroomId: 'lobby' });
      const { file } = log.attach(hub);
      const seen = recorder(hub);
      hub.add('ada', 'a1').subscribe();
      hub.add('bob', 'b1').subscribe();
      for (let i = 0; i < 3000; i++) void hub.message('ada', `hello ${i}`);
      void hub.whisper('bob', 'ada', 'psst');
      void hub.system('maintenance');
      await hub.remove('bob', 'b1');
      await hub.close();
      expect(seen).to.have.length(hub.lastEventId);
      expect(await readFile(file, 'utf8')).to.equal(linesOf(seen));
    });

    it('holds ids 1..lastEventId exactly after close, whatever the batch size and policy (property)', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 40 }),
          fc.constantFrom<'never' | 'batch'>('never', 'batch'),
          fc.array(fc.constantFrom('message', 'whisper', 'join', 'leave'), { maxLength: 120 }),
          async (batchSize, fsync, ops) => {
            const log = open({ file: join(dir, `p-${batchSize}-${ops.length}.log`), batchSize, fsync });
            const hub = new MessageHub({ chatroomId: 'room' });
            const { file } = log.attach(hub);
            let users = 0;
            for (const op of ops) {
              if (op === 'join') hub.add(`u${++users}`, 's').subscribe();
              else if (op === 'leave' && users > 0) void hub.remove(`u${users--}`, 's');
              else if (op === 'whisper') void hub.whisper('x', 'y', 'w');
              else void hub.message('x', 'm');
            }
            await hub.close();
            const { events, torn } = await readLines(file);
            expect(torn).to.equal('');
            expect(events.map((e) => e.id)).to.deep.equal(range(1, hub.lastEventId));
            await unlink(file);
          },
        ),
        { numRuns: 12 },
      );
    });

    it('logs many rooms to one file, each room complete and in its own order', async () => {
      const log = open({ fsync: 'never', batchSize: 7 });
      const hubs = ['a', 'b', 'c'].map((chatroomId) => new MessageHub({ chatroomId }));
      const files = new Set(hubs.map((hub) => log.attach(hub).file));
      for (let i = 0; i < 200; i++) for (const hub of hubs) void hub.message('ada', `m${i}`);
      await Promise.all(hubs.map((hub) => hub.close()));
      expect(files.size).to.equal(1);
      const { events } = await readLines(join(dir, 'events.log'));
      expect(events).to.have.length(3 * 201);
      for (const hub of hubs) {
        const ids = events.filter((e) => e.chatroomId === hub.chatroomId).map((e) => e.id);
        expect(ids).to.deep.equal(range(1, hub.lastEventId));
      }
    });

    it('closes a shared file once when its rooms close together, and logs a later room to it again', async () => {
      const errors: Error[] = [];
      const log = open({ onError: (error) => errors.push(error) });
      const hubs = ['a', 'b', 'c'].map((chatroomId) => new MessageHub({ chatroomId }));
      for (const hub of hubs) log.attach(hub);
      for (const hub of hubs) void hub.message('ada', 'hi');
      await Promise.all(hubs.map((hub) => hub.close()));
      const later = new MessageHub({ chatroomId: 'd' });
      log.attach(later);
      await later.message('ada', 'again');
      await later.close();
      expect(errors).to.deep.equal([]);
      const { events } = await readLines(join(dir, 'events.log'));
      expect(events.map((e) => `${e.chatroomId}${e.id}`).sort()).to.deep.equal(['a1', 'a2', 'b1', 'b2', 'c1', 'c2', 'd1', 'd2']);
    });

    it('logs each room to its own file when `file` is a function of the room', async () => {
      const log = open({ file: (room) => join(dir, `${room}.log`) });
      const hubs = ['a', 'b'].map((chatroomId) => new MessageHub({ chatroomId }));
      for (const hub of hubs) log.attach(hub);
      for (let i = 0; i < 50; i++) for (const hub of hubs) void hub.message('ada', `m${i}`);
      await Promise.all(hubs.map((hub) => hub.close()));
      for (const hub of hubs) {
        const { events } = await readLines(join(dir, `${hub.chatroomId}.log`));
        expect(events.every((e) => e.chatroomId === hub.chatroomId)).to.equal(true);
        expect(events.map((e) => e.id)).to.deep.equal(range(1, 51));
      }
    });

    it('throws LogOpenError at attach for a path it cannot open, and the hub runs on without it', async () => {
      const log = open({ file: join(dir, 'missing-folder', 'events.log') });
      const hub = new MessageHub({ chatroomId: 'lobby' });
      expect(() => log.attach(hub)).to.throw(LogOpenError).with.property('code', 'LOG_OPEN_FAILED');
      await hub.message('ada', 'still here');
      expect(hub.stats().listenerBuffers).to.deep.equal([]);
      await hub.close();
      expect(hub.lastEventId).to.equal(2);
    });

    it('throws LogClosedError once the log is closed', async () => {
      const log = open({});
      await log.close();
      expect(() => log.attach(new MessageHub({ chatroomId: 'x' }))).to.throw(LogClosedError).with.property('code', 'LOG_CLOSED');
    });

    it('rejects malformed options with LogOptionError', () => {
      const bad: unknown[] = [
        null,
        { file: '' },
        { file: 'x', fsync: 'always' },
        { file: 'x', batchSize: 0 },
        { file: 'x', flushInterval: -1 },
        { file: 'x', maxBytes: 1.5 },
        { file: 'x', retain: -1 },
        { file: 'x', onError: 'yes' },
      ];
      for (const options of bad) {
        expect(() => new DataLog(options as DataLogOptions), JSON.stringify(options))
          .to.throw(LogOptionError)
          .with.property('code', 'LOG_INVALID_OPTION');
      }
    });
  });

  describe('batching and fsync policies', () => {
    it('writes a batch as soon as it holds batchSize lines', async () => {
      const log = open({ batchSize: 4, flushInterval: 60_000, fsync: 'never' });
      const hub = fakeHub('r');
      log.attach(hub);
      const notices = firstValueFrom(log.flushes.pipe(take(2), toArray()));
      for (const id of range(1, 8)) expect(hub.listener().next(messageEvent('r', id))).to.equal(undefined);
      const [first, second] = await notices;
      expect([first?.events, second?.events]).to.deep.equal([4, 4]);
      expect(second?.lastIds.get('r')).to.equal(8);
      expect(second?.synced).to.equal(false);
    });

    it('writes a lone line once flushInterval has passed, with no flush call', async () => {
      const log = open({ batchSize: 1000, flushInterval: 10 });
      const hub = fakeHub('r');
      const { file } = log.attach(hub);
      const notice = firstValueFrom(log.flushes);
      hub.listener().next(messageEvent('r', 1));
      expect((await notice).lastIds.get('r')).to.equal(1);
      expect((await readLines(file)).events.map((e) => e.id)).to.deep.equal([1]);
    });

    it("syncs every batch under 'batch'", async () => {
      const log = open({ fsync: 'batch', batchSize: 3 });
      const hub = fakeHub('r');
      log.attach(hub);
      const notices = firstValueFrom(log.flushes.pipe(take(2), toArray()));
      for (const id of range(1, 6)) hub.listener().next(messageEvent('r', id));
      expect((await notices).map((n) => [n.events, n.synced])).to.deep.equal([[3, true], [3, true]]);
    });

    it("writes and syncs each event on its own under 'event' before next() resolves", async () => {
      const log = open({ fsync: 'event', batchSize: 100 });
      const hub = fakeHub('r');
      const { file } = log.attach(hub);
      const notices: number[] = [];
      log.flushes.subscribe((n) => notices.push(n.events));
      for (const id of range(1, 3)) {
        const wait = hub.listener().next(messageEvent('r', id));
        expect(wait).to.be.instanceOf(Promise);
        await wait;
        expect((await readLines(file)).events.map((e) => e.id)).to.deep.equal(range(1, id));
      }
      expect(notices).to.deep.equal([1, 1, 1]);
    });

    it('asks the room to wait once maxPending lines are held, and writes them at once (not after flushInterval)', async () => {
      const log = open({ maxPending: 3, batchSize: 100, flushInterval: 60_000 });
      const hub = fakeHub('r');
      const { file } = log.attach(hub);
      const next = hub.listener().next.bind(hub.listener());
      expect(next(messageEvent('r', 1))).to.equal(undefined);
      expect(next(messageEvent('r', 2))).to.equal(undefined);
      const wait = next(messageEvent('r', 3));
      expect(wait).to.be.instanceOf(Promise);
      let resumed = false;
      void (wait as Promise<void>).then(() => (resumed = true));
      await Promise.resolve();
      expect(resumed).to.equal(false);
      // No flush() and a flushInterval far past the test's timeout: only the bound starts the write.
      await wait;
      expect((await readLines(file)).events.map((e) => e.id)).to.deep.equal([1, 2, 3]);
    });

    it('slows the hub instead of dropping when the log falls behind', async () => {
      const log = open({ maxPending: 8, batchSize: 8, fsync: 'batch' });
      const hub = new MessageHub({ chatroomId: 'lobby', listenerBufferSize: 4, mailboxSize: 4 });
      const { file } = log.attach(hub);
      for (let i = 0; i < 500; i++) await hub.message('ada', `m${i}`);
      await hub.close();
      expect((await readLines(file)).events.map((e) => e.id)).to.deep.equal(range(1, 501));
    });
  });

  describe('errors', () => {
    it('reports a failed write as LogWriteError while the hub keeps running, with no unhandled rejection', async function () {
      if (!existsSync('/dev/full')) this.skip();
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        const errors: Error[] = [];
        const log = open({ file: '/dev/full', onError: (error) => errors.push(error), batchSize: 16 });
        const hub = new MessageHub({ chatroomId: 'lobby' });
        const seen = recorder(hub);
        log.attach(hub);
        for (let i = 0; i < 100; i++) await hub.message('ada', `m${i}`);
        await hub.close();
        expect(hub.status).to.equal('closed');
        expect(seen).to.have.length(101);
        expect(errors.length).to.be.greaterThan(0);
        expect(errors.every((e) => e instanceof LogWriteError && e.code === 'LOG_WRITE_FAILED')).to.equal(true);
        expect(errors.reduce((sum, e) => sum + (e as LogWriteError).events, 0)).to.equal(101);
        await new Promise<void>((resolve) => setImmediate(resolve));
        expect(unhandled).to.deep.equal([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });

    it('cuts the part of a batch a failed write left, so the lines after it stay whole (file size limit, child process)', async function () {
      this.timeout(20_000);
      const file = join(dir, 'limited.log');
      const child = fileURLToPath(new URL('./fixtures/write-limit-child.ts', import.meta.url));
      // 8 blocks of 512 bytes (POSIX sh) per file: the second batch of ~140-byte lines is written in part, then fails with EFBIG.
      const script = 'ulimit -f 8 && exec "$0" --import tsx "$@"';
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile('/bin/sh', ['-c', script, process.execPath, child, file, '20', '20', '5'], (error, out) =>
          error === null ? resolve(out) : reject(error),
        );
      });
      expect(JSON.parse(stdout)).to.deep.equal([{ code: 'LOG_WRITE_FAILED', events: 20 }]);
      const { events, torn } = await readLines(file);
      expect(torn).to.equal('');
      expect(events.map((e) => e.id)).to.deep.equal([...range(1, 20), ...range(41, 46)]);
    });

    it('sends write-time errors to `errors` when there is no onError', async function () {
      if (!existsSync('/dev/full')) this.skip();
      const log = open({ file: '/dev/full' });
      const error = firstValueFrom(log.errors);
      const hub = fakeHub('r');
      log.attach(hub);
      hub.listener().next(messageEvent('r', 1));
      await log.flush();
      expect(await error).to.be.instanceOf(LogWriteError).with.property('code', 'LOG_WRITE_FAILED');
    });

    it('reports an event JSON cannot hold as LogEncodeError, and logs the rest of the room', async () => {
      const reported: Error[] = [];
      const log = open({ fsync: 'never', onError: (error) => reported.push(error) });
      const hub = new MessageHub<unknown>({ chatroomId: 'lobby' });
      const { file } = log.attach(hub);
      hub.add('ada', 'a1').subscribe();
      void hub.message('ada', 1n);
      void hub.message('ada', 'after');
      await hub.close();
      expect(reported).to.have.length(1);
      expect(reported[0]).to.be.instanceOf(LogEncodeError).and.deep.include({ code: 'LOG_ENCODE_FAILED', chatroomId: 'lobby', eventId: 2 });
      const ids = (await readFile(file, 'utf8')).trim().split('\n').map((line) => (JSON.parse(line) as HubEvent).id);
      expect(ids).to.deep.equal([1, 3, 4]);
    });

    it('reopens a file removed while open, reports LogFileRemovedError and goes on logging', async () => {
      const errors: Error[] = [];
      const log = open({ onError: (error) => errors.push(error) });
      const hub = new MessageHub({ chatroomId: 'lobby' });
      const { file } = log.attach(hub);
      await hub.message('ada', 'before');
      await hub.getHistory();
      await log.flush();
      await unlink(file);
      await hub.message('ada', 'after');
      await hub.close();
      expect(errors).to.have.length(1);
      expect(errors[0]).to.be.instanceOf(LogFileRemovedError).with.property('code', 'LOG_FILE_REMOVED');
      expect((await readLines(file)).events.map((e) => e.id)).to.deep.equal([2, 3]);
    });

    it('cuts a partial last line left by a crash, reports it, and appends whole lines after it', async () => {
      const file = join(dir, 'events.log');
      const partial = '{"id":3,"chatroomId":"lobby","ty';
      await writeFile(file, linesOf([messageEvent('lobby', 1), messageEvent('lobby', 2)]));
      await appendFile(file, partial);
      const errors: Error[] = [];
      const log = open({ onError: (error) => errors.push(error) });
      const hub = new MessageHub({ chatroomId: 'lobby', seed: { lastEventId: 2 } });
      log.attach(hub);
      expect(errors).to.have.length(1);
      expect(errors[0]).to.be.instanceOf(TornLineError).with.property('bytes', partial.length);
      await hub.close();
      const { events, torn } = await readLines(file);
      expect(torn).to.equal('');
      expect(events.map((e) => e.id)).to.deep.equal([1, 2, 3]);
    });
  });

  describe('#detach and #close', () => {
    it('detach writes what the room emitted before it and logs nothing after', async () => {
      const log = open({});
      const hub = new MessageHub({ chatroomId: 'lobby' });
      const handle = log.attach(hub);
      await hub.message('ada', 'one');
      await handle.detach();
      await hub.message('ada', 'two');
      await hub.close();
      expect((await readLines(handle.file)).events.map((e) => e.id)).to.deep.equal([1]);
    });

    it('keeps a room in order when it is attached again before its detach finished writing', async () => {
      const log = open({ batchSize: 1 });
      const hub = new MessageHub({ chatroomId: 'lobby' });
      const first = log.attach(hub);
      for (let i = 0; i < 200; i++) void hub.message('ada', `m${i}`);
      await hub.getHistory();
      const detached = first.detach();
      // Let the room hand the detach to the log (its lines are still being written), then attach again.
      await new Promise<void>((resolve) => setImmediate(resolve));
      log.attach(hub);
      for (let i = 0; i < 5; i++) void hub.message('ada', `again ${i}`);
      await detached;
      await hub.close();
      expect((await readLines(first.file)).events.map((e) => e.id)).to.deep.equal(range(1, 206));
    });

    it('close detaches every room, writes their events and leaves the rooms running', async () => {
      const log = open({});
      const hubs = ['a', 'b'].map((chatroomId) => new MessageHub({ chatroomId }));
      for (const hub of hubs) log.attach(hub);
      for (const hub of hubs) await hub.message('ada', 'hi');
      await Promise.all(hubs.map((hub) => hub.getHistory()));
      await log.close();
      const { events } = await readLines(join(dir, 'events.log'));
      expect(events.map((e) => `${e.chatroomId}${e.id}`).sort()).to.deep.equal(['a1', 'b1']);
      for (const hub of hubs) {
        expect(hub.status).to.equal('running');
        await hub.close();
      }
    });
  });
});

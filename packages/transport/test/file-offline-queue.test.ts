import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MalformedLineError, TornLineError } from '@msghub/datalog';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FileOfflineQueue, MemoryOfflineQueue, type FileOfflineQueueOptions } from '../src/index.js';
import { describeOfflineQueue, direct, type QueueFixture } from './offline-queue-conformance.js';

/** The journal's lines, parsed. */
function journal(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function pushLine(user: string, id: string, expiresAt = Date.now() + 60_000): string {
  return `${JSON.stringify({ op: 'push', user, expiresAt, message: direct(id) })}\n`;
}

describeOfflineQueue(
  'FileOfflineQueue',
  async (options) => {
    const dir = mkdtempSync(join(tmpdir(), 'msghub-queue-'));
    const file = join(dir, 'events.log.offline');
    const fixture = async (more: FileOfflineQueueOptions = {}): Promise<QueueFixture> => {
      const queue = await FileOfflineQueue.open(file, { ...options, ...more });
      return {
        queue,
        reopen: async (next) => {
          await queue.close();
          return fixture({ ...more, ...next });
        },
        dispose: async () => {
          await queue.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    };
    return fixture();
  },
  true,
);

describe('FileOfflineQueue', () => {
  let dir: string;
  let file: string;
  const queues: FileOfflineQueue[] = [];
  const errors: Error[] = [];
  const openQueue = async (options: FileOfflineQueueOptions = {}): Promise<FileOfflineQueue> => {
    const queue = await FileOfflineQueue.open(file, { onError: (error) => errors.push(error), ...options });
    queues.push(queue);
    return queue;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'msghub-queue-'));
    file = join(dir, 'nested', 'events.log.offline');
    errors.length = 0;
  });
  afterEach(async () => {
    await Promise.all(queues.splice(0).map((queue) => queue.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  describe('#push', () => {
    it('resolves once the message’s line is in the journal, creating its folder', async () => {
      const queue = await openQueue();
      expect(await queue.push('bob', direct('a', { text: 'hi' }))).to.equal(true);
      const lines = journal(file);
      expect(lines).to.have.length(1);
      expect(lines[0]).to.deep.include({ op: 'push', user: 'bob', message: direct('a', { text: 'hi' }) });
      expect(lines[0]?.['expiresAt']).to.be.a('number');
    });

    it('hands out no message before its push resolved', async () => {
      const queue = await openQueue();
      const pushed = queue.push('bob', direct('a'));
      expect(queue.pending('bob')).to.deep.equal([]);
      await pushed;
      expect(queue.pending('bob')).to.deep.equal([direct('a')]);
    });

    it('writes many pushes made at once, all resolved, in order', async () => {
      const queue = await openQueue({ maxPerUser: 500 });
      const ids = Array.from({ length: 200 }, (_, i) => `m${i}`);
      expect(await Promise.all(ids.map((id) => queue.push('bob', direct(id))))).to.deep.equal(ids.map(() => true));
      expect(journal(file).map((line) => (line['message'] as { id: string }).id)).to.deep.equal(ids);
      expect(queue.pending('bob').map((message) => message.id)).to.deep.equal(ids);
    });
  });

  describe('#ack', () => {
    it('appends the ids it removed, and writes nothing for ids it does not hold', async () => {
      const queue = await openQueue();
      await queue.push('bob', direct('a'));
      await queue.push('bob', direct('b'));
      await queue.ack('bob', ['a', 'zzz']);
      await queue.ack('eve', ['b']);
      await queue.ack('bob', ['a']);
      expect(journal(file).slice(2)).to.deep.equal([{ op: 'ack', user: 'bob', ids: ['a'] }]);
    });
  });

  describe('.open', () => {
    it('rewrites the journal with only the pending messages', async () => {
      const first = await openQueue();
      for (const id of ['a', 'b', 'c']) await first.push('bob', direct(id));
      await first.ack('bob', ['a', 'c']);
      expect(journal(file)).to.have.length(4);
      await first.close();
      const again = await openQueue();
      expect(journal(file).map((line) => [line['op'], (line['message'] as { id: string }).id])).to.deep.equal([['push', 'b']]);
      expect(again.pending('bob')).to.deep.equal([direct('b')]);
    });

    it('drops a torn last line (a write cut short) with TornLineError and keeps every complete line', async () => {
      mkdirSync(join(dir, 'nested'));
      const complete = pushLine('bob', 'a') + pushLine('bob', 'b');
      const torn = '{"op":"push","user":"bob","expi';
      writeFileSync(file, complete + torn);
      const queue = await openQueue();
      expect(queue.pending('bob').map((message) => message.id)).to.deep.equal(['a', 'b']);
      expect(errors).to.have.length(1);
      expect(errors[0]).to.be.instanceOf(TornLineError).and.include({ code: 'LOG_TORN_LINE', offset: Buffer.byteLength(complete), bytes: torn.length });
      expect(journal(file)).to.have.length(2);
      await queue.push('bob', direct('c'));
      expect(journal(file).map((line) => (line['message'] as { id: string }).id)).to.deep.equal(['a', 'b', 'c']);
    });

    it('skips a damaged line with MalformedLineError and keeps the others', async () => {
      mkdirSync(join(dir, 'nested'));
      writeFileSync(file, `${pushLine('bob', 'a')}not json\n{"op":"push","user":"bob"}\n${pushLine('bob', 'b')}`);
      const queue = await openQueue();
      expect(queue.pending('bob').map((message) => message.id)).to.deep.equal(['a', 'b']);
      expect(errors.map((error) => [error.constructor, (error as MalformedLineError).line])).to.deep.equal([
        [MalformedLineError, 2],
        [MalformedLineError, 3],
      ]);
    });

    it('refuses a path that is not a string, and bad options, with a TypeError', async () => {
      for (const [path, options] of [
        ['', {}],
        [5, {}],
        [file, { maxPerUser: 0 }],
        [file, { onError: 'x' }],
      ] as const) {
        const error = await FileOfflineQueue.open(path as string, options as FileOfflineQueueOptions).catch((e: unknown) => e);
        expect(error).to.be.instanceOf(TypeError);
      }
    });
  });

  describe('compaction', () => {
    it('rewrites the journal while running once it holds more than twice the pending messages, losing none', async () => {
      const queue = await openQueue({ maxPerUser: 1000 });
      for (let i = 0; i < 10; i++) await queue.push('keep', direct(`k${i}`));
      for (let i = 0; i < 600; i++) {
        await queue.push('bob', direct(`m${i}`));
        await queue.ack('bob', [`m${i}`]);
      }
      const lines = journal(file);
      expect(lines.length).to.be.below(1024);
      expect(lines.slice(0, 10).map((line) => (line['message'] as { id: string }).id)).to.deep.equal(queue.pending('keep').map((m) => m.id));
      await queue.close();
      const again = await openQueue();
      expect(again.pending('keep').map((message) => message.id)).to.deep.equal(Array.from({ length: 10 }, (_, i) => `k${i}`));
      expect(again.pending('bob')).to.deep.equal([]);
    });
  });

  describe('properties', () => {
    it('holds after a reopen exactly what a memory queue holds, for any mix of pushes and acks made without waiting', async function () {
      this.timeout(60_000);
      const user = fc.constantFrom('ann', 'bob', 'eve');
      // Pushes outnumber acks two to one, so that the journal passes 1024 lines and is rewritten.
      const command = fc.oneof(
        { arbitrary: fc.record({ push: user }), weight: 2 },
        { arbitrary: fc.record({ ack: user, picks: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }), weight: 1 },
      );
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 1600, maxLength: 2400 }), async (commands) => {
          rmSync(file, { force: true });
          const model = new MemoryOfflineQueue({ maxPerUser: 1000 });
          const queue = await openQueue({ maxPerUser: 1000 });
          const ids: string[] = [];
          const settled: Promise<unknown>[] = [];
          commands.forEach((step, n) => {
            if ('push' in step) {
              const message = direct(`m${n}`);
              ids.push(message.id);
              model.push(step.push, message);
              settled.push(queue.push(step.push, message));
            } else {
              const acked = step.picks.map((pick) => ids[pick % Math.max(ids.length, 1)] ?? 'none');
              model.ack(step.ack, acked);
              settled.push(Promise.resolve(queue.ack(step.ack, acked)));
            }
          });
          await Promise.all(settled);
          const users = ['ann', 'bob', 'eve'];
          for (const name of users) expect(queue.pending(name)).to.deep.equal(model.pending(name));
          await queue.close();
          const again = await openQueue({ maxPerUser: 1000 });
          for (const name of users) expect(again.pending(name)).to.deep.equal(model.pending(name));
          await again.close();
        }),
        { numRuns: 15 },
      );
    });
  });

  describe('a failed write', () => {
    // A real failure: the child's file size limit (ulimit -f) stops a write half-way, then EFBIG.
    const child = `
      process.on('SIGXFSZ', () => {});
      const { FileOfflineQueue } = await import(process.argv[2]);
      const queue = await FileOfflineQueue.open(process.argv[3], { onError: () => {} });
      const message = (id, data) => ({ type: 'direct', id, from: 'ada', data, ts: 0 });
      const results = [await queue.push('bob', message('a', 'small'))];
      results.push(await queue.push('bob', message('big', 'x'.repeat(40000))).catch((error) => error.code));
      results.push(await queue.push('bob', message('b', 'small')));
      console.log(JSON.stringify({ results, pending: queue.pending('bob').map((m) => m.id) }));
      await queue.close();
    `;

    it('rejects the pushes of that write, cuts the journal back to its last complete line, and goes on', async () => {
      const script = join(dir, 'child.mjs');
      writeFileSync(script, child);
      mkdirSync(join(dir, 'nested'));
      const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
      const run = spawnSync('bash', ['-c', `ulimit -f 16 && exec "${process.execPath}" "${script}" "${dist}" "${file}"`], { encoding: 'utf8' });
      expect(run.status, run.stderr).to.equal(0);
      expect(JSON.parse(run.stdout)).to.deep.equal({ results: [true, 'EFBIG', true], pending: ['a', 'b'] });
      const queue = await openQueue();
      expect(errors).to.deep.equal([]);
      expect(queue.pending('bob').map((message) => message.id)).to.deep.equal(['a', 'b']);
    });
  });

  describe('#close', () => {
    it('waits for what is being written, then rejects later pushes and acks', async () => {
      const queue = await openQueue();
      const pushed = queue.push('bob', direct('a'));
      await queue.close();
      expect(await pushed).to.equal(true);
      expect(journal(file)).to.have.length(1);
      expect(await queue.push('bob', direct('b')).catch((e: unknown) => e)).to.be.instanceOf(Error);
      expect(await Promise.resolve(queue.ack('bob', ['a'])).catch((e: unknown) => e)).to.be.instanceOf(Error);
    });
  });
});

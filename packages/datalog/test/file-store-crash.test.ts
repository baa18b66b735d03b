import { execFile, spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { MessageHub } from '@msghub/messagehub';
import { FileStore, TornLineError, readLog, type FsyncPolicy } from '../src/index.js';
import { collect, range, readLines, useTempDir } from './helpers.js';

const crashChild = fileURLToPath(new URL('./fixtures/store-crash-child.ts', import.meta.url));
const limitChild = fileURLToPath(new URL('./fixtures/store-write-limit-child.ts', import.meta.url));

interface Killed {
  /** Each room's epoch, as its hub reported it. */
  readonly epochs: Map<string, string>;
  /** Each room's highest acknowledged id. */
  readonly acked: Map<string, number>;
}

/** Runs the child until it has printed `threshold` acknowledgements, then SIGKILLs it. */
function runAndKill(file: string, policy: FsyncPolicy, rooms: number, threshold: number): Promise<Killed> {
  return new Promise<Killed>((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', crashChild, file, policy, String(rooms)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const epochs = new Map<string, string>();
    const acked = new Map<string, number>();
    let acks = 0;
    let rest = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const [kind, room, value] = line.split(' ') as [string, string, string];
        if (kind === 'epoch') epochs.set(room, value);
        else if (kind === 'ack') {
          acked.set(room, Math.max(acked.get(room) ?? 0, Number(value)));
          acks++;
        }
      }
      if (acks >= threshold && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    });
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ epochs, acked });
      else reject(new Error(`child exited with ${code} before it was killed`));
    });
  });
}

/** Whether the index beside `file` exists and the log has lines past it (a restart must scan its tail). */
async function indexLags(file: string): Promise<boolean> {
  let live: [number, number, number];
  try {
    live = (JSON.parse(await readFile(`${file}.index`, 'utf8')) as { live: [number, number, number] }).live;
  } catch {
    return false;
  }
  const { ino, size } = await stat(file);
  return ino !== live[1] || size > live[2];
}

describe('FileStore crash safety (child process killed with SIGKILL at a random moment)', function () {
  this.timeout(120_000);
  const temp = useTempDir();

  for (const policy of ['never', 'batch'] as const) {
    it(`keeps every acknowledged id, the epochs, and goes on with no id used twice (fsync '${policy}', 5 kills)`, async () => {
      const rooms = 4;
      let lagged = 0;
      for (let kill = 0; kill < 5; kill++) {
        // The same files every time: each restart continues what the last killed run left.
        const threshold = 20 + Math.floor(Math.random() * 600);
        const context = `kill ${kill + 1} after ${threshold} acknowledgements`;
        const { epochs, acked } = await runAndKill(temp.file, policy, rooms, threshold);
        if (await indexLags(temp.file)) lagged++;
        const errors: Error[] = [];
        const store = new FileStore({ file: temp.file, fsync: policy, maxBytes: 256 * 1024, retain: 1000, onError: (error) => errors.push(error) });
        for (let r = 0; r < rooms; r++) {
          const room = `room-${r}`;
          const state = await store.open<string>(room, { historySize: 50 });
          expect(state.epoch, context).to.equal(epochs.get(room));
          expect(state.lastEventId, context).to.be.at.least(acked.get(room) ?? 0);
          const ids = (await collect(readLog(temp.file, { room }))).map((e) => e.id);
          // Every acknowledged id is there, nothing is missing before it, and nothing beyond the head.
          expect(ids, context).to.deep.equal(range(1, state.lastEventId));
          expect(state.history.map((e) => e.id), context).to.deep.equal(range(Math.max(1, state.lastEventId - 49), state.lastEventId));
          const hub = new MessageHub({ chatroomId: room, store });
          expect(await hub.publish('after the restart'), context).to.equal(state.lastEventId + 1);
          expect(hub.epoch, context).to.equal(state.epoch);
          await hub.close();
        }
        await store.close();
        expect(errors.every((e) => e instanceof TornLineError), `${context}: ${errors.join('; ')}`).to.equal(true);
        for (let r = 0; r < rooms; r++) {
          const ids = (await collect(readLog(temp.file, { room: `room-${r}` }))).map((e) => e.id);
          expect(ids, context).to.deep.equal(range(1, ids.length));
        }
      }
      // The kills landed between checkpoints: the restarts found events the index did not know.
      expect(lagged).to.be.greaterThan(0);
    });
  }

  it('rejects the append of a batch the disk refused with LogWriteError, takes nothing more for the room until it is opened again (appends issued before the failure included), then goes on', async () => {
    const script = 'ulimit -f 8 && exec "$0" --import tsx "$@"';
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile('/bin/sh', ['-c', script, process.execPath, limitChild, temp.file], (error, out) => (error === null ? resolve(out) : reject(error)));
    });
    expect(JSON.parse(stdout)).to.deep.equal({
      first: 'ok',
      tooBig: { code: 'LOG_WRITE_FAILED', events: 50 },
      afterFailure: { code: 'LOG_ROOM_NOT_OPEN' },
      reopened: 10,
      again: 'ok',
      hubPublish: 13,
      hubTooBig: { code: 'STORE_FAILED', cause: 'LOG_WRITE_FAILED' },
      hubStatus: 'closed',
      nextPublish: 14,
      sameEpoch: true,
      pipedFirst: 16,
      pipedTooBig: { code: 'STORE_FAILED', cause: 'LOG_WRITE_FAILED' },
      pipedBehind: { code: 'STORE_FAILED', cause: 'LOG_WRITE_FAILED' },
      lastPublish: 17,
    });
    const { events, torn } = await readLines(temp.file);
    expect(torn).to.equal('');
    expect(events.filter((e) => e.type === 'message').map((e) => e.id)).to.deep.equal([...range(1, 12), 13, 14, 16, 17]);
    expect(events.filter((e) => e.type === 'message').map((e) => e.message)).to.not.include('small 2');
  });
});

import { execFile, spawn } from 'node:child_process';
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { HubEvent } from '@msghub/messagehub';
import { formatEvent } from '../src/index.js';
import { linesOf, messageEvent, range, useTempDir } from './helpers.js';

// The built bin, as `msghub-log` runs it (the test command builds first).
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

interface Run {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(...args: string[]): Promise<Run> {
  return new Promise<Run>((resolve) => {
    execFile(process.execPath, [cli, ...args], (error, stdout, stderr) => {
      const status = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ status, stdout, stderr });
    });
  });
}

const presence: HubEvent[] = [
  { id: 1, chatroomId: 'a', type: 'join', userId: 'ada', sessionId: 's1', unixTime: 1_700_000_000_000 },
  { id: 1, chatroomId: 'b', type: 'join', userId: 'bob', sessionId: 's1', unixTime: 1_700_000_000_001 },
];
const events: HubEvent[] = [
  ...presence,
  ...range(2, 4).flatMap((id) => [messageEvent('a', id), messageEvent('b', id)]),
  { id: 5, chatroomId: 'a', type: 'message', userId: 'ada', to: 'bob', message: 'psst', unixTime: 1_700_000_000_005 },
  { id: 6, chatroomId: 'a', type: 'close', unixTime: 1_700_000_000_006 },
];

describe('msghub-log (CLI, as a child process)', function () {
  this.timeout(20_000);
  const temp = useTempDir();
  let file: string;
  beforeEach(async () => {
    file = temp.file;
    await writeFile(file, linesOf(events));
  });

  it('--help prints the usage with every command and exits 0', async () => {
    for (const args of [['--help'], ['-h'], []]) {
      const { status, stdout } = await run(...args);
      expect(status).to.equal(0);
      for (const word of ['Usage: msghub-log', 'tail', 'cat', 'stats', '--room', '--since']) expect(stdout).to.include(word);
    }
  });

  it("cat and stats skip a FileStore's epoch lines", async () => {
    await writeFile(file, `{"type":"epoch","chatroomId":"a","epoch":"e1","lastEventId":0}\n${linesOf(events)}`);
    expect((await run('cat', file)).stdout).to.equal(linesOf(events));
    const stats = JSON.parse((await run('stats', '--json', file)).stdout) as { events: number; types: Record<string, number> };
    expect(stats.events).to.equal(events.length);
    expect(stats.types).to.not.have.property('epoch');
  });

  it('cat prints the JSON lines of a room after an id, exactly as written', async () => {
    const { status, stdout } = await run('cat', '--room', 'a', '--since', '3', file);
    expect(status).to.equal(0);
    expect(stdout).to.equal(linesOf(events.filter((e) => e.chatroomId === 'a' && e.id > 3)));
    expect((await run('cat', file)).stdout).to.equal(linesOf(events));
  });

  it('cat --pretty prints one readable line per event', async () => {
    const { stdout } = await run('cat', '--pretty', '--room', 'a', '--since', '4', file);
    expect(stdout.split('\n').filter(Boolean)).to.deep.equal([
      formatEvent(events[events.length - 2] as HubEvent),
      formatEvent(events[events.length - 1] as HubEvent),
    ]);
    expect(stdout).to.include('a #5 message ada -> bob: psst');
  });

  it('stats counts events per type and per room', async () => {
    const { status, stdout } = await run('stats', '--json', file);
    expect(status).to.equal(0);
    expect(JSON.parse(stdout)).to.deep.equal({
      events: 10,
      types: { join: 2, message: 7, close: 1 },
      rooms: { a: { events: 6, firstId: 1, lastId: 6 }, b: { events: 4, firstId: 1, lastId: 4 } },
    });
    const text = (await run('stats', file)).stdout;
    expect(text).to.match(/10 events in 2 rooms/);
    expect(text).to.match(/message\s+7/);
  });

  it('fails with a clear message and status 1 for a missing file', async () => {
    const { status, stdout, stderr } = await run('cat', join(temp.dir, 'nope.log'));
    expect(status).to.equal(1);
    expect(stdout).to.equal('');
    expect(stderr).to.include('No log file at').and.include('LOG_NOT_FOUND');
  });

  it('fails with the file and line and status 1 for a malformed line', async () => {
    await appendFile(file, 'garbage\n');
    const { status, stderr } = await run('stats', file);
    expect(status).to.equal(1);
    expect(stderr).to.include(`${file}:${events.length + 1}`).and.include('LOG_MALFORMED_LINE');
  });

  it('reads up to a torn last line with a warning and status 0', async () => {
    await appendFile(file, '{"id":7,"chat');
    const { status, stdout, stderr } = await run('cat', file);
    expect(status).to.equal(0);
    expect(stdout).to.equal(linesOf(events));
    expect(stderr).to.include('warning').and.include('partial line');
  });

  it('exits 2 with a hint on a usage error', async () => {
    const tooBig = '99999999999999999999';
    const usageErrors = [
      ['frobnicate', file],
      ['cat'],
      ['cat', '--since', 'x', file],
      ['cat', '--since', tooBig, file],
      ['tail', '-n', tooBig, file],
      ['cat', '--bogus', file],
    ];
    for (const args of usageErrors) {
      const { status, stderr } = await run(...args);
      expect(status, args.join(' ')).to.equal(2);
      expect(stderr).to.include("Try 'msghub-log --help'");
    }
  });

  it('tail prints the last lines pretty-printed, then follows new events until interrupted', async () => {
    const child = spawn(process.execPath, [cli, 'tail', '-n', '2', '--room', 'b', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let wake = (): void => {};
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      wake();
    });
    const waitFor = (text: string): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        wake = () => {
          if (out.includes(text)) resolve();
        };
        child.once('exit', () => reject(new Error(`tail exited before printing ${text}; got ${out}`)));
        wake();
      });
    try {
      await waitFor('b #4 message');
      expect(out.split('\n').filter(Boolean)).to.deep.equal([formatEvent(messageEvent('b', 3)), formatEvent(messageEvent('b', 4))]);
      await appendFile(file, linesOf([messageEvent('a', 9), messageEvent('b', 5, 'fresh')]));
      await waitFor('b #5 message ada: fresh');
      expect(out).to.not.include('a #9');
    } finally {
      child.kill('SIGINT');
    }
    const status = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    expect(status).to.equal(0);
  });
});

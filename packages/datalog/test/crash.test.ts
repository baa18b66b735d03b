import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { readLog, type FsyncPolicy, type TornLineError } from '../src/index.js';
import { collect, range, useTempDir } from './helpers.js';

const child = fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url));

/** Runs the child until it has acknowledged `threshold` events, SIGKILLs it, and returns the last ack seen. */
function runAndKill(file: string, policy: FsyncPolicy, threshold: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const proc = fork(child, [file, policy], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    let acked = 0;
    proc.on('message', (message: { acked: number }) => {
      acked = Math.max(acked, message.acked);
      if (acked >= threshold && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    });
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(acked);
      else reject(new Error(`child exited with ${code} before it was killed`));
    });
  });
}

describe('crash safety (child process killed with SIGKILL mid-stream)', function () {
  this.timeout(30_000);
  const temp = useTempDir();

  for (const policy of ['batch', 'never'] as const) {
    it(`leaves complete lines that form a gap-free prefix of the room's events (fsync '${policy}')`, async () => {
      const { file } = temp;
      const acked = await runAndKill(file, policy, 3000);
      const torn: TornLineError[] = [];
      const events = await collect(readLog(file, { onTorn: (t) => torn.push(t) }));
      const ids = events.map((e) => e.id);
      expect(ids).to.deep.equal(range(1, ids.length));
      expect(events.every((e) => e.chatroomId === 'crash' && e.type === 'message')).to.equal(true);
      expect(torn.length).to.be.at.most(1);
      // Nothing acknowledged before the kill is missing.
      expect(ids.length).to.be.at.least(acked);
      expect(acked).to.be.at.least(3000);
    });
  }
});

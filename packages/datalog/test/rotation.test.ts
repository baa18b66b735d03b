import { mkdir, rmdir, stat } from 'node:fs/promises';
import { expect } from 'chai';
import { MessageHub } from '@msghub/messagehub';
import { DataLog, LogWriteError, readLog } from '../src/index.js';
import { listRotated } from '../src/log-files.js';
import { collect, range, useTempDir } from './helpers.js';

/** Logs `count` messages of ~100 bytes each to a room through a log rotating at `maxBytes`. */
async function logRotating(
  file: string,
  count: number,
  maxBytes: number,
  retain: number,
  onError?: (error: Error) => void,
): Promise<MessageHub> {
  const log = new DataLog({ file, maxBytes, retain, batchSize: 4, ...(onError === undefined ? {} : { onError }) });
  const hub = new MessageHub({ chatroomId: 'lobby', clock: () => 1_700_000_000_000 });
  log.attach(hub);
  for (let i = 0; i < count; i++) await hub.message('ada', `message ${String(i).padStart(6, '0')}`);
  await hub.close();
  await log.close();
  return hub;
}

describe('rotation', () => {
  const temp = useTempDir();

  it('rotates before a write would pass maxBytes, and the reader follows the files in order', async () => {
    const { file } = temp;
    const hub = await logRotating(file, 200, 2000, 1000);
    const files = await listRotated(file);
    expect(files.length).to.be.greaterThan(3);
    expect(files.map((f) => f.seq)).to.deep.equal(range(1, files.length));
    for (const { path } of files) expect((await stat(path)).size).to.be.at.most(2000);
    expect((await collect(readLog(file))).map((e) => e.id)).to.deep.equal(range(1, hub.lastEventId));
  });

  it('keeps only `retain` rotated files, deleting the oldest; what remains is the tail of the room', async () => {
    const { file } = temp;
    const hub = await logRotating(file, 200, 2000, 2);
    const files = await listRotated(file);
    expect(files).to.have.length(2);
    const ids = (await collect(readLog(file))).map((e) => e.id);
    expect(ids.at(-1)).to.equal(hub.lastEventId);
    expect(ids).to.deep.equal(range(ids[0] ?? 0, hub.lastEventId));
    expect(ids[0]).to.be.greaterThan(1);
  });

  it('writes the rest of a batch into the fresh file when an old file cannot be deleted, and reports it', async () => {
    const { file } = temp;
    // A folder where the oldest rotated file would be: unlink fails with EISDIR on every rotation.
    await mkdir(`${file}.000001`);
    const errors: Error[] = [];
    const hub = await logRotating(file, 200, 2000, 1, (error) => errors.push(error));
    expect(errors.length).to.be.greaterThan(0);
    expect(errors.every((e) => e instanceof LogWriteError && e.events === 0)).to.equal(true);
    await rmdir(`${file}.000001`);
    const ids = (await collect(readLog(file))).map((e) => e.id);
    expect(ids.at(-1)).to.equal(hub.lastEventId);
    expect(ids).to.deep.equal(range(ids[0] ?? 0, hub.lastEventId));
  });

  it('with retain 0 keeps only the live file', async () => {
    const { file } = temp;
    await logRotating(file, 100, 2000, 0);
    expect(await listRotated(file)).to.deep.equal([]);
    expect((await stat(file)).size).to.be.at.most(2000);
  });
});

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { MessageHub, type HubEvent } from '@msghub/messagehub';
import { DataLog, LogOptionError, MalformedLineError, replay } from '../src/index.js';
import { linesOf, messageEvent, range, readLines, useTempDir } from './helpers.js';

describe('replay', () => {
  const temp = useTempDir();
  let file: string;
  beforeEach(() => (file = temp.file));

  it('rebuilds the seed so a restarted room continues at the next id with the same history', async () => {
    const log = new DataLog({ file });
    const first = new MessageHub({ chatroomId: 'lobby', historySize: 10 });
    log.attach(first);
    for (let i = 0; i < 25; i++) void first.message('ada', `m${i}`);
    const before = await first.getHistory();
    await first.close();
    const seed = await replay(file, { room: 'lobby', historySize: 10 });
    expect(seed.lastEventId).to.equal(first.lastEventId);
    expect(seed.history).to.deep.equal([...before.slice(1), { id: 26, chatroomId: 'lobby', type: 'close', unixTime: seed.history.at(-1)?.unixTime }]);

    const second = new MessageHub({ chatroomId: 'lobby', historySize: 10, seed });
    log.attach(second);
    await second.message('ada', 'after restart');
    expect((await second.getHistory()).map((e) => e.id)).to.deep.equal(range(18, 27));
    await second.close();
    await log.close();
    expect((await readLines(file)).events.map((e) => e.id)).to.deep.equal(range(1, 28));
  });

  it('takes only the given room from a shared file, and an empty seed for a room not in it', async () => {
    await writeFile(file, linesOf(range(1, 4).flatMap((id) => [messageEvent('a', id), messageEvent('b', id * 10)])));
    const seed = await replay(file, { room: 'b', historySize: 2 });
    expect(seed).to.deep.equal({ lastEventId: 40, history: [messageEvent('b', 30), messageEvent('b', 40)] });
    expect(await replay(file, { room: 'c' })).to.deep.equal({ lastEventId: 0, history: [] });
    expect((await replay(file, { room: 'a', historySize: 0 })).history).to.deep.equal([]);
  });

  it('uses the latest run when the ids start over (a restart without a seed)', async () => {
    const runs: HubEvent[] = [...range(1, 5), ...range(1, 3)].map((id) => messageEvent('a', id));
    await writeFile(file, linesOf(runs));
    expect(await replay(file, { room: 'a' })).to.deep.equal({ lastEventId: 3, history: runs.slice(5) });
  });

  it('gives the empty seed when the log does not exist yet (the first start)', async () => {
    expect(await replay(file, { room: 'a' })).to.deep.equal({ lastEventId: 0, history: [] });
  });

  it('fails with MalformedLineError for a damaged log and LogOptionError without a room', async () => {
    await writeFile(file, 'not json\n');
    expect(await replay(file, { room: 'a' }).catch((e: unknown) => e)).to.be.instanceOf(MalformedLineError);
    expect(await replay(file, {} as { room: string }).catch((e: unknown) => e)).to.be.instanceOf(LogOptionError);
  });
});

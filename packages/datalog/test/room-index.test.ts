import { readdir, readFile } from 'node:fs/promises';
import { expect } from 'chai';
import { encodeIndex, parseIndex, readIndex, RoomHead, writeIndex, type IndexData } from '../src/room-index.js';
import { useTempDir } from './helpers.js';

function index(rooms: IndexData['rooms']): IndexData {
  return { version: 1, log: 'events.log', live: [3, 77, 5000], files: [[1, 75], [2, 76]], rooms };
}

describe('room index', () => {
  const temp = useTempDir();

  describe('RoomHead', () => {
    it('extends a run when the next events follow it in the same file, and starts another when not', () => {
      const head = new RoomHead('lobby', 'e1', 0, 100, true);
      head.addRun(1, 0, 100, 1, 2);
      head.addRun(1, 100, 50, 3, 3);
      head.addRun(1, 400, 50, 4, 4);
      head.addRun(2, 0, 50, 5, 6);
      expect(head.lastEventId).to.equal(6);
      expect(head.runsAfter(0)).to.deep.equal([
        { gen: 1, offset: 0, bytes: 150, firstId: 1 },
        { gen: 1, offset: 400, bytes: 50, firstId: 4 },
        { gen: 2, offset: 0, bytes: 50, firstId: 5 },
      ]);
      expect(head.runsAfter(3)).to.deep.equal([{ gen: 1, offset: 400, bytes: 50, firstId: 4 }, { gen: 2, offset: 0, bytes: 50, firstId: 5 }]);
      expect(head.runsAfter(4)).to.deep.equal([{ gen: 2, offset: 0, bytes: 50, firstId: 5 }]);
    });

    it('keeps the runs that reach back `keep` events and drops older ones from the index', () => {
      const head = new RoomHead('lobby', 'e1', 0, 3, true);
      for (let id = 1; id <= 10; id++) head.addRun(1, id * 1000, 10, id, id);
      const [, , , , , runs] = head.toEntry();
      expect(RoomHead.fromEntry(head.toEntry()).runsAfter(0).map((run) => run.firstId)).to.deep.equal([8, 9, 10]);
      expect(runs).to.have.length(12);
    });

    it('goes through an index entry and back unchanged, a failed batch position included', () => {
      const head = new RoomHead('lobby', 'e1', 0, 100, true);
      head.addRun(4, 9000, 120, 1, 3);
      head.addRun(4, 9500, 40, 4, 4);
      head.addRun(6, 10, 40, 5, 5);
      head.failedAt = { gen: 6, offset: 50 };
      const again = RoomHead.fromEntry(JSON.parse(JSON.stringify(head.toEntry())) as ReturnType<RoomHead['toEntry']>);
      expect(again).to.include({ room: 'lobby', epoch: 'e1', lastEventId: 5, keep: 100, durable: true });
      expect(again.failedAt).to.deep.equal({ gen: 6, offset: 50 });
      expect(again.runsAfter(0)).to.deep.equal(head.runsAfter(0));
    });
  });

  describe('parseIndex', () => {
    it('accepts a well-formed index of the log', () => {
      const data = index([['lobby', 'e1', 5, 1024, 1, [3, 10, 100, 1, 0, 20, 50, 4]]]);
      expect(parseIndex(encodeIndex(data), '/x/events.log')).to.deep.equal(data);
    });

    it('refuses anything it cannot trust: another log, another version, bad numbers, runs past the head, a room twice', () => {
      const good: IndexData['rooms'][number] = ['lobby', 'e1', 5, 1024, 1, [3, 10, 100, 1]];
      const bad: unknown[] = [
        { ...index([good]), log: 'other.log' },
        { ...index([good]), version: 2 },
        { ...index([good]), live: [3, -1, 5] },
        index([['lobby', 'e1', 5, 1024, 1, [3, 10, 0, 1]]]),
        index([['lobby', 'e1', 5, 1024, 1, [3, 10, 100, 6]]]),
        index([['lobby', 'e1', 5, 1024, 1, [3, 10, 100, 1, 0, 0, 10, 0]]]),
        index([['lobby', 'e1', 5, 1024, 2 as 1, [3, 10, 100, 1]]]),
        index([['', 'e1', 5, 1024, 1, []]]),
        index([good, good]),
      ];
      for (const value of bad) expect(parseIndex(JSON.stringify(value), '/x/events.log'), JSON.stringify(value)).to.equal(undefined);
      expect(parseIndex('{"version":1', '/x/events.log')).to.equal(undefined);
    });
  });

  describe('writeIndex / readIndex', () => {
    it('replaces the index whole, leaving no temporary file, and reads it back', async () => {
      const data = index([['lobby', 'e1', 5, 1024, 1, [3, 10, 100, 1]]]);
      expect(await readIndex(temp.file)).to.equal(undefined);
      await writeIndex(temp.file, encodeIndex(index([])), true);
      const bytes = await writeIndex(temp.file, encodeIndex(data), true);
      expect(bytes).to.equal((await readFile(`${temp.file}.index`)).length);
      expect(await readIndex(temp.file)).to.deep.equal(data);
      expect(await readdir(temp.dir)).to.deep.equal(['events.log.index']);
    });

    it("reads a damaged index as 'damaged'", async () => {
      await writeIndex(temp.file, '{"version":1,"log":"events.log"', false);
      expect(await readIndex(temp.file)).to.equal('damaged');
    });
  });
});

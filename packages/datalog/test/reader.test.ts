import { mkdir, rename, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import {
  LogNotFoundError,
  LogOptionError,
  LogReadError,
  MalformedLineError,
  TornLineError,
  followLog,
  observeLog,
  readLog,
} from '../src/index.js';
import type { HubEvent } from '@msghub/messagehub';
import { collect, linesOf, messageEvent, range, useTempDir } from './helpers.js';

const mixed: HubEvent[] = range(1, 6).flatMap((id) => [messageEvent('a', id), messageEvent('b', id)]);

describe('readers', () => {
  const temp = useTempDir();
  let file: string;
  beforeEach(() => (file = temp.file));

  describe('readLog', () => {
    it('yields every event in file order', async () => {
      await writeFile(file, linesOf(mixed));
      expect(await collect(readLog(file))).to.deep.equal(mixed);
    });

    it('filters by room and since-id', async () => {
      await writeFile(file, linesOf(mixed));
      const ids = (await collect(readLog(file, { room: 'b', since: 3 }))).map((e) => `${e.chatroomId}${e.id}`);
      expect(ids).to.deep.equal(['b4', 'b5', 'b6']);
      expect(await collect(readLog(file, { since: 5 }))).to.deep.equal([messageEvent('a', 6), messageEvent('b', 6)]);
    });

    it('reads lines longer than its read buffer and multi-byte text split across chunks', async () => {
      const big = [messageEvent('a', 1, 'é'.repeat(300_000)), messageEvent('a', 2, '日本語')];
      await writeFile(file, linesOf(big));
      expect(await collect(readLog(file))).to.deep.equal(big);
    });

    it('skips a torn last line and reports it through onTorn, without failing', async () => {
      const partial = '{"id":7,"chatroomId":"a","type":"mess';
      await writeFile(file, linesOf(mixed) + partial);
      const torn: TornLineError[] = [];
      expect(await collect(readLog(file, { onTorn: (t) => torn.push(t) }))).to.deep.equal(mixed);
      expect(torn).to.have.length(1);
      expect(torn[0]).to.be.instanceOf(TornLineError).and.include({ code: 'LOG_TORN_LINE', bytes: partial.length, offset: linesOf(mixed).length });
    });

    it('fails with MalformedLineError naming the line of a damaged complete line', async () => {
      await writeFile(file, `${linesOf(mixed.slice(0, 2))}not json\n${linesOf(mixed.slice(2))}`);
      const error = await collect(readLog(file)).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(MalformedLineError).and.include({ code: 'LOG_MALFORMED_LINE', line: 3 });
      await writeFile(file, '{"hello":"world"}\n');
      expect(await collect(readLog(file)).catch((e: unknown) => e)).to.be.instanceOf(MalformedLineError);
    });

    it('fails with LogNotFoundError for a missing log and LogReadError for a folder', async () => {
      expect(await collect(readLog(file)).catch((e: unknown) => e)).to.be.instanceOf(LogNotFoundError).with.property('code', 'LOG_NOT_FOUND');
      await mkdir(file);
      expect(await collect(readLog(file)).catch((e: unknown) => e)).to.be.instanceOf(LogReadError).with.property('code', 'LOG_READ_FAILED');
    });

    it('reads rotated files oldest first (by number), then the live file', async () => {
      await writeFile(`${file}.000010`, linesOf([messageEvent('a', 3)]));
      await writeFile(`${file}.000009`, linesOf([messageEvent('a', 1), messageEvent('a', 2)]));
      await writeFile(file, linesOf([messageEvent('a', 4)]));
      await writeFile(`${file}.bak`, 'ignored');
      expect((await collect(readLog(file))).map((e) => e.id)).to.deep.equal([1, 2, 3, 4]);
      expect((await collect(readLog(file, { rotated: false }))).map((e) => e.id)).to.deep.equal([4]);
    });

    it("skips a FileStore's epoch lines, which are not events", async () => {
      const epoch = '{"type":"epoch","chatroomId":"a","epoch":"e1","lastEventId":0}\n';
      await writeFile(file, epoch + linesOf(mixed.slice(0, 4)) + epoch.replace('"lastEventId":0', '"lastEventId":2') + linesOf(mixed.slice(4)));
      expect(await collect(readLog(file))).to.deep.equal(mixed);
      expect(await collect(readLog(file, { room: 'a', since: 5 }))).to.deep.equal([messageEvent('a', 6)]);
    });

    it('fails with MalformedLineError for an epoch-typed line that is not a whole epoch line', async () => {
      await writeFile(file, '{"type":"epoch","chatroomId":"a"}\n');
      expect(await collect(readLog(file)).catch((e: unknown) => e)).to.be.instanceOf(MalformedLineError).and.include({ line: 1 });
    });

    it('rejects malformed options with LogOptionError', () => {
      expect(() => readLog(file, { since: -1 })).to.throw(LogOptionError);
      expect(() => readLog(file, { room: '' })).to.throw(LogOptionError);
    });
  });

  describe('observeLog', () => {
    it('emits the matching events and completes', async () => {
      await writeFile(file, linesOf(mixed));
      const events = await lastValueFrom(observeLog(file, { room: 'a' }).pipe(toArray()));
      expect(events).to.deep.equal(mixed.filter((e) => e.chatroomId === 'a'));
    });

    it('stops reading when unsubscribed', async () => {
      await writeFile(file, linesOf(mixed));
      expect(await firstValueFrom(observeLog(file).pipe(take(2), toArray()))).to.deep.equal(mixed.slice(0, 2));
    });

    it('errors with the typed error of the read', async () => {
      const error = await firstValueFrom(observeLog(file)).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(LogNotFoundError);
    });
  });

  describe('followLog', () => {
    it('yields the last lines, then each appended event, across a rotation, until aborted', async () => {
      await writeFile(file, linesOf(range(1, 5).map((id) => messageEvent('a', id))));
      const controller = new AbortController();
      const seen: number[] = [];
      const iterator = followLog(file, { lines: 2, pollInterval: 5, signal: controller.signal })[Symbol.asyncIterator]();
      const next = async (): Promise<number> => {
        const result = await iterator.next();
        if (result.done === true) throw new Error('ended early');
        seen.push(result.value.id);
        return result.value.id;
      };
      expect([await next(), await next()]).to.deep.equal([4, 5]);
      await appendFile(file, linesOf([messageEvent('a', 6)]));
      expect(await next()).to.equal(6);
      await appendFile(file, linesOf([messageEvent('a', 7)]));
      await rename(file, `${file}.000001`);
      await writeFile(file, linesOf([messageEvent('a', 8)]));
      expect([await next(), await next()]).to.deep.equal([7, 8]);
      controller.abort();
      expect((await iterator.next()).done).to.equal(true);
      expect(seen).to.deep.equal([4, 5, 6, 7, 8]);
    });

    it('yields every event appended after the start however many arrive at once; `lines` only cuts the start', async () => {
      await writeFile(file, linesOf(range(1, 5).map((id) => messageEvent('a', id))));
      const controller = new AbortController();
      const iterator = followLog(file, { lines: 1, pollInterval: 5, signal: controller.signal })[Symbol.asyncIterator]();
      const ids = async (count: number): Promise<number[]> => {
        const seen: number[] = [];
        while (seen.length < count) {
          const result = await iterator.next();
          if (result.done === true) break;
          seen.push(result.value.id);
        }
        return seen;
      };
      expect(await ids(1)).to.deep.equal([5]);
      // One write of 20 lines: read in one poll, far more than `lines`.
      await appendFile(file, linesOf(range(6, 25).map((id) => messageEvent('a', id))));
      expect(await ids(20)).to.deep.equal(range(6, 25));
      controller.abort();
      expect((await iterator.next()).done).to.equal(true);
    });

    it('yields the events of every file rotated between two looks, in order', async () => {
      await writeFile(file, linesOf([messageEvent('a', 1), messageEvent('a', 2)]));
      const controller = new AbortController();
      const iterator = followLog(file, { lines: 2, pollInterval: 5, signal: controller.signal })[Symbol.asyncIterator]();
      const ids: number[] = [];
      const next = async (): Promise<void> => {
        const result = await iterator.next();
        if (result.done !== true) ids.push(result.value.id);
      };
      // Suspended at its first event, the follower cannot look at the files until the next call.
      await next();
      await appendFile(file, linesOf([messageEvent('a', 3)]));
      await rename(file, `${file}.000001`);
      await writeFile(file, linesOf([messageEvent('a', 4)]));
      await rename(file, `${file}.000002`);
      await writeFile(file, linesOf([messageEvent('a', 5)]));
      for (let i = 0; i < 4; i++) await next();
      controller.abort();
      expect((await iterator.next()).done).to.equal(true);
      expect(ids).to.deep.equal([1, 2, 3, 4, 5]);
    });

    it("skips a FileStore's epoch lines, in the file and appended later", async () => {
      const epoch = (last: number): string => `{"type":"epoch","chatroomId":"a","epoch":"e1","lastEventId":${last}}\n`;
      await writeFile(file, epoch(0) + linesOf(mixed.slice(0, 2)));
      const controller = new AbortController();
      const seen: HubEvent[] = [];
      const following = (async () => {
        for await (const event of followLog(file, { pollInterval: 5, signal: controller.signal })) {
          seen.push(event);
          if (seen.length === 4) controller.abort();
        }
      })();
      await appendFile(file, epoch(1) + linesOf(mixed.slice(2, 4)));
      await following;
      expect(seen).to.deep.equal(mixed.slice(0, 4));
    });

    it('fails with LogNotFoundError for a missing file', async () => {
      const error = await collect(followLog(file)).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(LogNotFoundError);
    });
  });
});

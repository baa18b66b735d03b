import { expect } from 'chai';
import fc from 'fast-check';
import { LineBuffer, cutAt, firstLine } from '../src/line-buffer.js';

describe('LineBuffer', () => {
  it('gives back every line, newline-terminated and in order, however takes and chunk ends fall (property)', () => {
    const op = fc.oneof(fc.string({ unit: 'binary', maxLength: 120_000 }).map((line) => ({ line })), fc.constant({ take: true }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const buffer = new LineBuffer();
        const views: Buffer[][] = [];
        const copies: Buffer[] = [];
        let expected = '';
        let id = 0;
        const take = (): void => {
          const taken = buffer.take();
          const copy = Buffer.concat(taken.chunks);
          expect(copy.length).to.equal(taken.bytes);
          views.push(taken.chunks);
          copies.push(copy);
        };
        for (const step of ops) {
          if ('take' in step) take();
          else {
            buffer.push(step.line, id % 2 === 0 ? 'a' : 'b', ++id);
            expected += `${step.line}\n`;
          }
        }
        take();
        // A taken batch (possibly being written) is not touched by the lines pushed after it.
        views.forEach((chunks, i) => expect(Buffer.concat(chunks).equals(copies[i] as Buffer)).to.equal(true));
        expect(Buffer.concat(copies).equals(Buffer.from(expected, 'utf8'))).to.equal(true);
      }),
      { numRuns: 60 },
    );
  });

  it('reports the count and the last id of each room of a take', () => {
    const buffer = new LineBuffer();
    buffer.push('1', 'a', 1);
    buffer.push('2', 'b', 7);
    buffer.push('3', 'a', 2);
    const taken = buffer.take();
    expect(taken.count).to.equal(3);
    expect([...taken.lastIds]).to.have.deep.members([['a', 2], ['b', 7]]);
    expect(buffer.take().count).to.equal(0);
  });
});

describe('cutAt / firstLine', () => {
  it('cut at the last line boundary that fits', () => {
    const data = Buffer.from('ab\ncd\nef\n');
    expect([cutAt(data, 100), cutAt(data, 6), cutAt(data, 5), cutAt(data, 2), cutAt(data, 0)]).to.deep.equal([9, 6, 3, 0, 0]);
    expect(firstLine(data)).to.equal(3);
  });
});

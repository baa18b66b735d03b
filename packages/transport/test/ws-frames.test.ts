import { expect } from 'chai';
import fc from 'fast-check';
import { closeFrame } from '../src/ws-frames.js';

/** The close frame's code and reason bytes (the server's frames are unmasked, lengths ≤ 125). */
function parseClose(frame: Buffer): { code: number; reason: Buffer } {
  expect(frame[0]).to.equal(0x88); // FIN + close
  const length = (frame[1] as number) & 0x7f;
  expect(frame.length).to.equal(2 + length);
  return { code: frame.readUInt16BE(2), reason: frame.subarray(4) };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

describe('closeFrame', () => {
  it('carries the code and a reason that fits whole', () => {
    const { code, reason } = parseClose(closeFrame(1008, 'Policy violation: ünïcode'));
    expect(code).to.equal(1008);
    expect(utf8.decode(reason)).to.equal('Policy violation: ünïcode');
  });

  it('cuts a long reason to 123 bytes at most, never inside a character, so the peer reads valid UTF-8', () => {
    // 'é' is 2 bytes: 62 of them are 124 bytes, and the cut at 123 would split the last one.
    const { reason } = parseClose(closeFrame(1011, 'é'.repeat(62)));
    expect(reason.length).to.equal(122);
    expect(utf8.decode(reason)).to.equal('é'.repeat(61));
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        const { code, reason } = parseClose(closeFrame(4000, text));
        expect(code).to.equal(4000);
        expect(reason.length).to.be.at.most(123);
        const decoded = utf8.decode(reason); // throws on a split character
        expect(text.startsWith(decoded)).to.equal(true);
        if (Buffer.byteLength(text) <= 123) expect(decoded).to.equal(text);
        else expect(Buffer.byteLength(text.slice(0, decoded.length + 2))).to.be.greaterThan(123);
      }),
      { numRuns: 500 },
    );
  });
});

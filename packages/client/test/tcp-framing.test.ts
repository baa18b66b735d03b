import { expect } from 'chai';
import { FrameTooLargeError, TcpFrameDecoder, encodeTcpFrame } from '../src/tcp-framing.js';

describe('tcp-framing', () => {
  describe('encodeTcpFrame', () => {
    it('prefixes the UTF-8 bytes with their big-endian length', () => {
      const frame = encodeTcpFrame('{"a":"é"}');
      expect(frame.readUInt32BE(0)).to.equal(Buffer.byteLength('{"a":"é"}'));
      expect(frame.subarray(4).toString('utf8')).to.equal('{"a":"é"}');
    });
  });

  describe('TcpFrameDecoder', () => {
    it('returns frames split across chunks at every byte boundary, in order', () => {
      const texts = ['{"type":"ping","ts":1}', '{"x":"ü€😀"}', '{}'];
      const wire = Buffer.concat(texts.map(encodeTcpFrame));
      for (let cut = 0; cut <= wire.length; cut++) {
        const decoder = new TcpFrameDecoder();
        const frames = [...decoder.push(wire.subarray(0, cut)), ...decoder.push(wire.subarray(cut))];
        expect(frames, `cut at ${cut}`).to.deep.equal(texts);
      }
    });

    it('returns nothing until a whole frame arrived', () => {
      const decoder = new TcpFrameDecoder();
      const wire = encodeTcpFrame('{"a":1}');
      for (const byte of wire.subarray(0, wire.length - 1)) expect(decoder.push(Buffer.from([byte]))).to.deep.equal([]);
      expect(decoder.push(wire.subarray(wire.length - 1))).to.deep.equal(['{"a":1}']);
    });

    it('throws FrameTooLargeError on a length prefix over the cap', () => {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(4 * 1024 * 1024 + 1);
      expect(() => new TcpFrameDecoder().push(header)).to.throw(FrameTooLargeError);
      header.writeUInt32BE(11);
      expect(() => new TcpFrameDecoder().push(header, 10)).to.throw(FrameTooLargeError);
    });
  });
});

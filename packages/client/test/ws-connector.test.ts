import { expect } from 'chai';
import { InvalidOptionError } from '../src/errors.js';
import { webSocketConnector, type WebSocketConstructor } from '../src/ws-connector.js';
import { connectorFor } from '../src/node.js';

describe('connectors', () => {
  describe('webSocketConnector', () => {
    it('throws InvalidOptionError for a URL that is not ws:// or wss://', () => {
      expect(() => webSocketConnector('http://127.0.0.1/')).to.throw(InvalidOptionError);
    });

    it('throws InvalidOptionError naming the Node entry when no WebSocket implementation exists', () => {
      const global = globalThis as { WebSocket?: unknown };
      const saved = global.WebSocket;
      delete global.WebSocket;
      try {
        expect(() => webSocketConnector('ws://127.0.0.1/')).to.throw(InvalidOptionError, /@msghub\/client\/node/);
      } finally {
        if (saved !== undefined) global.WebSocket = saved;
      }
    });

    it('uses the WebSocket implementation it is given', () => {
      const opened: string[] = [];
      class Recorder {
        readyState = 0;
        onopen = null;
        onmessage = null;
        onclose = null;
        onerror = null;
        constructor(url: string) {
          opened.push(url);
        }
        send() {}
        close() {}
      }
      const connector = webSocketConnector('ws://127.0.0.1:1/hub', { WebSocket: Recorder as unknown as WebSocketConstructor });
      connector({ onOpen() {}, onFrame() {}, onClose() {} });
      expect(opened).to.deep.equal(['ws://127.0.0.1:1/hub']);
    });
  });

  describe('connectorFor', () => {
    it('accepts ws://, wss:// and tcp://host:port and refuses anything else', () => {
      for (const url of ['ws://127.0.0.1:1/', 'wss://example.test/hub', 'tcp://127.0.0.1:7000']) {
        expect(connectorFor(url), url).to.be.a('function');
      }
      expect(() => connectorFor('http://127.0.0.1/')).to.throw(InvalidOptionError);
      expect(() => connectorFor('tcp://127.0.0.1')).to.throw(InvalidOptionError);
    });
  });
});

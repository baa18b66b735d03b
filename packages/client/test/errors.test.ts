import { expect } from 'chai';
import { WIRE_ERROR_CODES, type WireErrorCode } from '@msghub/transport/protocol';
import {
  AuthError,
  ClientError,
  ConnectionEndedError,
  ForbiddenError,
  OperationError,
  ProtocolError,
  RateLimitedError,
  RoomError,
  SendDiscardedError,
  ServerError,
  UnknownOpError,
  UnsupportedVersionError,
  errorFromWire,
  isFatalCode,
} from '../src/errors.js';

const expected: Record<string, abstract new (...args: never[]) => ServerError> = {
  BAD_FRAME: ProtocolError,
  UNKNOWN_TYPE: ProtocolError,
  INVALID_FIELD: ProtocolError,
  FRAME_TOO_LARGE: ProtocolError,
  FRAME_TOO_DEEP: ProtocolError,
  NOT_AUTHENTICATED: AuthError,
  AUTH_FAILED: AuthError,
  AUTH_TIMEOUT: AuthError,
  UNSUPPORTED_VERSION: UnsupportedVersionError,
  FORBIDDEN: ForbiddenError,
  ROOM_NOT_FOUND: RoomError,
  NOT_JOINED: RoomError,
  ALREADY_JOINED: RoomError,
  USER_IN_ROOM: RoomError,
  ROOM_EXISTS: RoomError,
  UNKNOWN_OP: UnknownOpError,
  INTERNAL: OperationError,
  RATE_LIMITED: RateLimitedError,
  SLOW_CONSUMER: ConnectionEndedError,
  SESSION_REPLACED: ConnectionEndedError,
  KICKED: ConnectionEndedError,
  IDLE_TIMEOUT: ConnectionEndedError,
  HEARTBEAT_TIMEOUT: ConnectionEndedError,
  SHUTDOWN: ConnectionEndedError,
  CLOSED: ConnectionEndedError,
  INVALID_ARGUMENT: OperationError,
  NOT_FOUND: OperationError,
  ALREADY_EXISTS: OperationError,
  OFFLINE_QUEUE_FULL: OperationError,
  OFFLINE: OperationError,
  UNENCODABLE: ProtocolError,
  STORE_FAILED: OperationError,
  TOO_MANY_STREAMS: OperationError,
  STREAM_REQUIRED: OperationError,
  REQUEST_TIMEOUT: OperationError,
  DISCONNECTED: OperationError,
};

describe('errors', () => {
  describe('errorFromWire', () => {
    it('keeps the retryAfterMs hint of RATE_LIMITED, and none when the server sent none', () => {
      expect(errorFromWire({ code: 'RATE_LIMITED', message: 'm', retryAfterMs: 40 })).to.be.instanceOf(RateLimitedError).and.have.property('retryAfterMs', 40);
      expect(errorFromWire({ code: 'RATE_LIMITED', message: 'm' })).to.have.property('retryAfterMs', undefined);
    });

    it('gives every wire code its class and keeps the code and the offending frame type', () => {
      for (const [code, ErrorClass] of Object.entries(expected)) {
        const error = errorFromWire({ code: code as WireErrorCode, message: 'm', frame: 'publish' });
        expect(error, code).to.be.instanceOf(ErrorClass);
        expect(error).to.be.instanceOf(ServerError).and.instanceOf(ClientError);
        expect(error.code).to.equal(code);
        expect(error.frame).to.equal('publish');
      }
    });

    it('has a decided class for every code the protocol lists', () => {
      expect([...WIRE_ERROR_CODES].sort()).to.deep.equal(Object.keys(expected).sort());
    });

    it('keeps the versions a server supports on UNSUPPORTED_VERSION', () => {
      const error = errorFromWire({ code: 'UNSUPPORTED_VERSION', message: 'm', supported: [2, 3] });
      expect((error as UnsupportedVersionError).supported).to.deep.equal([2, 3]);
    });

    it('maps a code this client does not know to OperationError, keeping the code', () => {
      const error = errorFromWire({ code: 'SOMETHING_NEW' as WireErrorCode, message: 'm' });
      expect(error).to.be.instanceOf(OperationError);
      expect(error.code).to.equal('SOMETHING_NEW');
    });
  });

  describe('isFatalCode', () => {
    it('stops reconnecting on auth, version and session-takeover codes only', () => {
      const fatal = Object.keys(expected).filter(isFatalCode).sort();
      expect(fatal).to.deep.equal(['AUTH_FAILED', 'AUTH_TIMEOUT', 'KICKED', 'NOT_AUTHENTICATED', 'SESSION_REPLACED', 'UNSUPPORTED_VERSION']);
    });
  });

  describe('SendDiscardedError', () => {
    it('carries the code and the reason', () => {
      const error = new SendDiscardedError('full');
      expect(error.code).to.equal('SEND_DISCARDED');
      expect(error.reason).to.equal('full');
      expect(error.name).to.equal('SendDiscardedError');
    });
  });
});

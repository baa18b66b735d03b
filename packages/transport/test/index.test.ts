import { expect } from 'chai';
import * as api from '../src/index.js';
import * as protocol from '../src/protocol.js';

describe('@msghub/transport exports', () => {
  it('exports exactly the documented runtime names', () => {
    expect(Object.keys(api).sort()).to.deep.equal([
      'AlreadyJoinedError',
      'AuthFailedError',
      'AuthTimeoutError',
      'BadFrameError',
      'ClientAnswerError',
      'DisconnectedWireError',
      'FileOfflineQueue',
      'ForbiddenError',
      'FrameTooDeepError',
      'FrameTooLargeError',
      'HubServer',
      'InternalError',
      'InvalidArgumentWireError',
      'InvalidFieldError',
      'InvalidUserIdError',
      'MAX_ACK_IDS',
      'MAX_ANSWER_CODE_LENGTH',
      'MAX_ANSWER_MESSAGE_LENGTH',
      'MAX_DIRECT_TTL_MS',
      'MAX_FRAME_DEPTH',
      'MAX_TCP_FRAME_BYTES',
      'MemoryOfflineQueue',
      'NotAuthenticatedError',
      'NotFoundWireError',
      'NotJoinedError',
      'OfflineError',
      'OfflineQueueFullError',
      'OriginNotAllowedError',
      'PROTOCOL_VERSION',
      'RateLimitedError',
      'RequestTimeoutWireError',
      'RoomExistsError',
      'RoomNotFoundError',
      'RoomRegistry',
      'SUPPORTED_VERSIONS',
      'StreamRequiredError',
      'TcpAdapter',
      'TcpFrameDecoder',
      'TokenStore',
      'TooManyStreamsError',
      'UnknownOpError',
      'UnknownTypeError',
      'UnsupportedVersionError',
      'UserInRoomError',
      'WIRE_ERROR_CODES',
      'WireError',
      'WsAdapter',
      'contentTypeOf',
      'decodeFrame',
      'encodeFrame',
      'encodeTcpFrames',
      'isOriginAllowed',
      'resolveAllowedOrigins',
      'roomAllowed',
      'toWireError',
    ]);
  });

  it('keeps the protocol subpath free of runtime dependencies', () => {
    expect(Object.keys(protocol).sort()).to.deep.equal(['MAX_ACK_IDS', 'MAX_ANSWER_CODE_LENGTH', 'MAX_ANSWER_MESSAGE_LENGTH', 'MAX_DIRECT_TTL_MS', 'MAX_FRAME_DEPTH', 'MAX_TCP_FRAME_BYTES', 'PROTOCOL_VERSION', 'SUPPORTED_VERSIONS', 'WIRE_ERROR_CODES']);
  });

  it('gives every wire error class a code from WIRE_ERROR_CODES', () => {
    for (const value of Object.values(api)) {
      if (typeof value !== 'function' || !(value.prototype instanceof api.WireError)) continue;
      const Class = value as unknown as new (message: string) => api.WireError;
      expect(api.WIRE_ERROR_CODES).to.include(new Class('x').code);
    }
  });
});

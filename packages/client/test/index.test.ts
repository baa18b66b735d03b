import { expect } from 'chai';
import * as api from '../src/index.js';
import * as nodeApi from '../src/node.js';

const universal = [
  'AuthError',
  'ClientClosedError',
  'ClientError',
  'ConnectTimeoutError',
  'ConnectionEndedError',
  'ConnectionFailedError',
  'DisconnectedError',
  'ForbiddenError',
  'InvalidArgumentError',
  'InvalidOptionError',
  'MsghubClient',
  'OperationError',
  'PROTOCOL_VERSION',
  'ProtocolError',
  'RateLimitedError',
  'RequestTimeoutError',
  'RoomError',
  'SendDiscardedError',
  'ServerError',
  'UnknownOpError',
  'UnsupportedVersionError',
  'autoConnector',
  'createClient',
  'httpConnector',
  'webSocketConnector',
];

describe('@msghub/client exports', () => {
  it('exports exactly the documented runtime names from the universal entry', () => {
    expect(Object.keys(api).sort()).to.deep.equal(universal);
  });

  it('adds exactly the Node connectors on @msghub/client/node, with a createClient of its own', () => {
    expect(Object.keys(nodeApi).sort()).to.deep.equal(
      [...universal, 'connectorFor', 'tcpConnector', 'wsConnector'].sort(),
    );
    expect(nodeApi.createClient).to.not.equal(api.createClient);
    expect(nodeApi.MsghubClient).to.equal(api.MsghubClient);
  });

  it('speaks protocol version 1', () => {
    expect(api.PROTOCOL_VERSION).to.equal(1);
  });
});

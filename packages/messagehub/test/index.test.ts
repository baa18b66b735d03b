import { expect } from 'chai';
import * as api from '../src/index.js';

describe('@msghub/messagehub exports', () => {
  it('exports exactly the documented runtime names', () => {
    expect(Object.keys(api).sort()).to.deep.equal([
      'AlreadyExistsError',
      'BufferOverflowError',
      'ClosedError',
      'HubError',
      'InvalidArgumentError',
      'InvalidOptionError',
      'ListenerError',
      'MemoryStore',
      'MessageHub',
      'NotFoundError',
      'StoreError',
      'UnencodableError',
      'isHubError',
      'isVisibleTo',
      'randomId',
    ]);
  });
});

import { expect } from 'chai';
import * as api from '../src/index.js';

describe('@msghub/cluster exports', () => {
  it('exports exactly the documented runtime names', () => {
    expect(Object.keys(api).sort()).to.deep.equal([
      'ClusterError',
      'ClusterPresence',
      'ClusterRoomClaims',
      'ClusterSignals',
      'MalformedEntryError',
      'RedisOfflineQueue',
      'RedisStore',
      'RedisTokenStore',
      'RedisUnavailableError',
      'SIGNED_IN_ELSEWHERE',
      'SequenceResetError',
      'isClusterError',
    ]);
  });
});

import { expect } from 'chai';
import * as api from '../src/index.js';

describe('@msghub/datalog exports', () => {
  it('exports exactly the documented runtime names', () => {
    expect(Object.keys(api).sort()).to.deep.equal([
      'DataLog',
      'DatalogError',
      'FileStore',
      'LogClosedError',
      'LogEncodeError',
      'LogFileRemovedError',
      'LogIndexError',
      'LogNotFoundError',
      'LogOpenError',
      'LogOptionError',
      'LogReadError',
      'LogRoomNotOpenError',
      'LogSequenceError',
      'LogWriteError',
      'MalformedLineError',
      'TornLineError',
      'followLog',
      'formatEvent',
      'isDatalogError',
      'observeLog',
      'readLog',
      'replay',
    ]);
  });
});

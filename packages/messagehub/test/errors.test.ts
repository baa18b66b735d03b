import { expect } from 'chai';
import {
  AlreadyExistsError,
  BufferOverflowError,
  ClosedError,
  HubError,
  InvalidArgumentError,
  InvalidOptionError,
  ListenerError,
  NotFoundError,
  isHubError,
} from '../src/index.js';

describe('errors', () => {
  const cases: [Error & { code: string }, string, string][] = [
    [new InvalidOptionError('x'), 'InvalidOptionError', 'INVALID_OPTION'],
    [new InvalidArgumentError('x'), 'InvalidArgumentError', 'INVALID_ARGUMENT'],
    [new AlreadyExistsError('x'), 'AlreadyExistsError', 'ALREADY_EXISTS'],
    [new NotFoundError('x'), 'NotFoundError', 'NOT_FOUND'],
    [new ClosedError('x'), 'ClosedError', 'CLOSED'],
    [new BufferOverflowError('x'), 'BufferOverflowError', 'BUFFER_OVERFLOW'],
    [new ListenerError('x', { cause: 'inner' }), 'ListenerError', 'LISTENER_FAILED'],
  ];

  it('gives each kind its own class, name and stable code', () => {
    for (const [error, name, code] of cases) {
      expect(error.name).to.equal(name);
      expect(error.code).to.equal(code);
      expect(error).to.be.instanceOf(Error);
      expect(isHubError(error), name).to.equal(true);
      if (!(error instanceof InvalidOptionError)) expect(error).to.be.instanceOf(HubError);
    }
    expect(new Set(cases.map(([, , code]) => code)).size).to.equal(cases.length);
  });

  it('keeps the cause', () => {
    expect(new ListenerError('x', { cause: 'inner' }).cause).to.equal('inner');
  });

  it('recognises hub errors by code and nothing else', () => {
    expect(isHubError(new Error('plain'))).to.equal(false);
    expect(isHubError(Object.assign(new Error('other'), { code: 'ENOENT' }))).to.equal(false);
    expect(isHubError({ code: 'CLOSED' })).to.equal(false);
    expect(isHubError(Object.assign(new Error('copy'), { code: 'CLOSED' }))).to.equal(true);
  });
});

import { ArgumentsHost, NotFoundException } from '@nestjs/common';
import { ConnectionException } from '@mikro-orm/core';
import { DomainError } from '../../libs/shared/domain-error';
import { ProblemFilter, RateLimitedError, rechargeRequestOutcome } from './problem.filter';

function run(exception: unknown) {
  const sent: { status?: number; type?: string; body?: any; headers: Record<string, string> } = { headers: {} };
  const reply = {
    status: (s: number) => ((sent.status = s), reply),
    type: (t: string) => ((sent.type = t), reply),
    header: (k: string, v: string) => ((sent.headers[k] = v), reply),
    send: (b: unknown) => ((sent.body = b), reply),
  };
  const host = {
    switchToHttp: () => ({ getRequest: () => ({ id: 'req-1', url: '/v1/recharges?x=1' }), getResponse: () => reply }),
  } as unknown as ArgumentsHost;
  new ProblemFilter().catch(exception, host);
  return sent;
}

describe('ProblemFilter', () => {
  it.each([
    [
      new DomainError('INVALID_ARGUMENT', 'bad', [{ field: 'amount', message: 'must be positive' }]),
      400,
      'INVALID_ARGUMENT',
    ],
    [new DomainError('UNAUTHENTICATED', 'no key'), 401, 'UNAUTHENTICATED'],
    [new DomainError('UNAUTHORIZED', 'not yours'), 403, 'UNAUTHORIZED'],
    [new DomainError('NOT_FOUND', 'none'), 404, 'NOT_FOUND'],
    [new DomainError('INVALID_STATE', 'final'), 409, 'INVALID_STATE'],
    [new DomainError('DUPLICATE_REQUEST', 'reused'), 422, 'DUPLICATE_REQUEST'],
    [new RateLimitedError(2), 429, 'RATE_LIMITED'],
    [new DomainError('PROVIDER_ERROR', 'bss down'), 502, 'PROVIDER_ERROR'],
    [new DomainError('TIMEOUT', 'slow'), 504, 'TIMEOUT'],
    [new NotFoundException(), 404, 'NOT_FOUND'],
    [Object.assign(new Error('too large'), { statusCode: 413 }), 413, 'INVALID_ARGUMENT'],
    [Object.assign(new Error('media'), { statusCode: 415 }), 415, 'INVALID_ARGUMENT'],
    [new ConnectionException(new Error('connect ECONNREFUSED 127.0.0.1:5432')), 503, 'UNAVAILABLE'],
    [
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      503,
      'UNAVAILABLE',
    ],
    [new Error('Knex: Timeout acquiring a connection. The pool is probably full.'), 503, 'UNAVAILABLE'],
  ])('%s → %i %s as problem+json', (exception, status, code) => {
    const sent = run(exception);
    expect(sent.status).toBe(status);
    expect(sent.type).toBe('application/problem+json');
    expect(sent.body).toMatchObject({ status, code, correlationId: 'req-1', instance: '/v1/recharges' });
    expect(sent.headers['X-Request-Id']).toBe('req-1');
  });

  it('sets Retry-After on 429 and 503', () => {
    expect(run(new RateLimitedError(3)).headers['Retry-After']).toBe('3');
    expect(run(new ConnectionException(new Error('down'))).headers['Retry-After']).toBe('1');
  });

  it('never shows internals of an unexpected error', () => {
    const sent = run(new Error('relation "recharges" does not exist at /srv/app/dist/x.js:12'));
    expect(sent.status).toBe(500);
    expect(sent.body.code).toBe('INTERNAL_ERROR');
    expect(JSON.stringify(sent.body)).not.toMatch(/does not exist|srv|x\.js/);
  });

  it('lists field errors for validation problems', () => {
    expect(
      run(new DomainError('INVALID_ARGUMENT', 'bad', [{ field: 'amount', message: 'must be positive' }])).body.errors,
    ).toEqual([{ field: 'amount', message: 'must be positive' }]);
  });
});

describe('rechargeRequestOutcome', () => {
  it.each([
    [202, 'created'],
    [200, 'replayed'],
    [400, 'invalid_argument'],
    [401, 'unauthenticated'],
    [403, 'unauthorized'],
    [413, 'invalid_argument'],
    [415, 'invalid_argument'],
    [422, 'duplicate_request'],
    [429, 'rate_limited'],
    [500, 'error'],
    [503, 'unavailable'],
    [418, 'error'],
  ])('labels status %i as %s', (status, outcome) => {
    expect(rechargeRequestOutcome(status)).toBe(outcome);
  });

  it('gives every problem the filter can answer its code, and the internal error "error"', () => {
    for (const exception of [
      new DomainError('UNAUTHORIZED', 'no'),
      new DomainError('INVALID_STATE', 'final'),
      new RateLimitedError(1),
      new NotFoundException(),
    ]) {
      const sent = run(exception);
      expect(rechargeRequestOutcome(sent.status!)).toBe(sent.body.code.toLowerCase());
    }
    expect(rechargeRequestOutcome(run(new Error('boom')).status!)).toBe('error');
  });
});

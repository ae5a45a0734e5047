import { Writable } from 'node:stream';
import { createLogger, requestLogContext } from './logging';

/** What a logger writes, parsed line by line. */
function capture(): { lines: Array<Record<string, unknown>>; stream: Writable } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, stream };
}

describe('createLogger', () => {
  it('JSON lines: level label, ISO time, message; below the level nothing', () => {
    const { lines, stream } = capture();
    const logger = createLogger('info', stream);
    logger.debug('hidden');
    logger.warn('shown');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', msg: 'shown', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
  });

  it("a record's fields stay on that record: the next line of the same request carries only the correlation id", () => {
    const { lines, stream } = capture();
    const logger = createLogger('info', stream);
    requestLogContext.run({ correlationId: 'req-1' }, () => {
      logger.info({ rechargeId: 'rch_1', to: 'CREATED' }, 'first');
      logger.info('second');
    });
    expect(lines.map(({ msg, correlationId, rechargeId, to }) => ({ msg, correlationId, rechargeId, to }))).toEqual([
      { msg: 'first', correlationId: 'req-1', rechargeId: 'rch_1', to: 'CREATED' },
      { msg: 'second', correlationId: 'req-1', rechargeId: undefined, to: undefined },
    ]);
  });
});

import { Client } from 'pg';
import { DatabaseUrlError, normalizeDatabaseUrl } from './connection-string';

/** What node-postgres will use: the reader every connection of the service goes through. */
const seenByPg = (url: string) => {
  const { host, port, user, password, database } = new Client({ connectionString: url });
  return { host, port, user, password, database };
};

describe('normalizeDatabaseUrl: the forms libpq accepts, rewritten for node-postgres and new URL alike', () => {
  it.each([
    [
      'a plain URL stays as it is',
      'postgres://app:s3cret@db.internal:5433/recharge?sslmode=require',
      'postgresql://app:s3cret@db.internal:5433/recharge?sslmode=require',
      { host: 'db.internal', port: 5433, user: 'app', password: 's3cret', database: 'recharge' },
    ],
    [
      'a socket folder with an empty host',
      'postgresql://app@/recharge?host=/var/run/postgresql',
      'postgresql://app@localhost/recharge?host=/var/run/postgresql',
      { host: '/var/run/postgresql', port: 5432, user: 'app', password: null, database: 'recharge' },
    ],
    [
      'no user and no host (Cloud SQL proxy socket)',
      'postgresql:///recharge?host=/cloudsql/proj:region:inst&user=app',
      'postgresql://localhost/recharge?host=/cloudsql/proj%3Aregion%3Ainst&user=app',
      { host: '/cloudsql/proj:region:inst', port: 5432, user: 'app', password: null, database: 'recharge' },
    ],
    [
      'an empty host with a port',
      'postgresql://app:pw@:6432/recharge?host=/tmp',
      'postgresql://app:pw@localhost:6432/recharge?host=/tmp',
      { host: '/tmp', port: 6432, user: 'app', password: 'pw', database: 'recharge' },
    ],
    [
      'a %2F-encoded socket folder as the host',
      'postgresql://app@%2Fvar%2Frun%2Fpostgresql:5432/recharge',
      'postgresql://app@localhost/recharge?host=/var/run/postgresql&port=5432',
      { host: '/var/run/postgresql', port: 5432, user: 'app', password: null, database: 'recharge' },
    ],
    [
      'keyword/value with a socket and a quoted password',
      "host=/var/run/postgresql port=5432 dbname=recharge user=app password='it\\'s a secret'",
      "postgresql://app:it's%20a%20secret@localhost:5432/recharge?host=/var/run/postgresql",
      { host: '/var/run/postgresql', port: 5432, user: 'app', password: "it's a secret", database: 'recharge' },
    ],
    [
      'keyword/value over TCP with other parameters kept',
      'host=db.internal dbname=recharge user=app sslmode=require application_name=recharge',
      'postgresql://app@db.internal/recharge?sslmode=require&application_name=recharge',
      { host: 'db.internal', port: 5432, user: 'app', password: null, database: 'recharge' },
    ],
  ])('%s', (_name, input, normalized, expected) => {
    const url = normalizeDatabaseUrl(input);
    expect(url).toBe(normalized);
    expect(seenByPg(url)).toEqual(expected);
    // MikroORM and the test support read it with new URL: the database name is the path.
    expect(new URL(url).pathname).toBe(`/${expected.database}`);
  });

  it.each([
    ['mysql://x', 'must be a postgres:// URL or libpq keyword/value pairs'],
    ['postgresql://app@/recharge', 'names no host'],
    ['postgresql://app@h1,h2/recharge', 'several hosts'],
    ["host=/tmp dbname='unterminated", 'could not be read'],
    ['dbname=recharge user=app', 'names no host'],
  ])('%s is refused with a reason', (input, reason) => {
    expect(() => normalizeDatabaseUrl(input)).toThrow(DatabaseUrlError);
    expect(() => normalizeDatabaseUrl(input)).toThrow(reason);
  });
});

import { ID_PATTERN, newId } from './ids';

describe('newId', () => {
  it('gives prefixed UUIDv7s without dashes, unique and in creation order', () => {
    const ids = Array.from({ length: 10_000 }, () => newId('rch'));
    for (const id of ids) expect(id).toMatch(ID_PATTERN('rch'));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    // Version 7, RFC 4122 variant.
    expect(ids[0].slice(4 + 12, 4 + 13)).toBe('7');
    expect('89ab').toContain(ids[0].slice(4 + 16, 4 + 17));
  });
});

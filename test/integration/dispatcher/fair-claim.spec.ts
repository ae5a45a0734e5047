import { Client } from 'pg';
import { ManageClientsUseCase } from '../../../src/clients/application/manage-clients.use-case';
import { ClaimedRecharge, RechargeRepository } from '../../../src/recharge/application/ports/recharge.repository';
import { FAIR_CLAIM } from '../../../src/recharge/infrastructure/persistence/recharge.statements';
import { createTestDatabase, query } from '../../support/database';
import { startTestAppOn, TestApp } from '../../support/test-app';

/**
 * The fair claim on the real PostgreSQL. Queues are built straight in the tables (thousands of
 * rows in one statement); claims run through the repository with an explicit `now`, so what is
 * due and which leases are live is decided by the test, not by the wall clock.
 */
describe('fair claim across clients and accounts (issue 16, real PostgreSQL)', () => {
  let app: TestApp;
  let databaseUrl: string;
  let repo: RechargeRepository;
  const T0 = new Date('2026-01-01T00:00:00Z');
  /** Every queued row is due long before this. */
  const NOW = new Date('2026-01-02T00:00:00Z');
  const LEASE = new Date(NOW.getTime() + 4_000);

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    app = await startTestAppOn(databaseUrl);
    repo = app.app.get(RechargeRepository);
  }, 60_000);

  afterAll(() => app?.close());

  // Each test queues for clients of its own; what is left open must not compete in the next one.
  afterEach(() => query(databaseUrl, `DELETE FROM recharges WHERE state IN ('CREATED', 'SUBMITTED')`));

  const newClient = async (weight = 1): Promise<string> =>
    (await app.app.get(ManageClientsUseCase).create('fair test', ['*'], weight)).client.id;

  let batch = 0;
  /** Queues `count` CREATED recharges, due from `after` on, one millisecond apart, oldest first. */
  async function queue(clientId: string, accountId: string, count: number, after = T0): Promise<void> {
    const prefix = `rch_f${++batch}_`;
    await query(
      databaseUrl,
      `INSERT INTO recharges (id, client_id, idempotency_key, request_fingerprint, account_id, amount, currency, state,
         next_attempt_at, created_at, updated_at)
       SELECT $1 || lpad(g::text, 7, '0'), $2, $1 || g, 'f', $3, 100, 'CNY', 'CREATED',
         $4::timestamptz + g * interval '1 millisecond', $4, $4
       FROM generate_series(1, $5::int) g`,
      [prefix, clientId, accountId, after, count],
    );
  }

  /** The owners (client and account) of claimed recharges, in claim order. */
  async function owners(claims: ClaimedRecharge[]): Promise<Array<{ id: string; client: string; account: string }>> {
    const rows = await query<{ id: string; client_id: string; account_id: string }>(
      databaseUrl,
      'SELECT id, client_id, account_id FROM recharges WHERE id = ANY($1)',
      [claims.map((c) => c.id)],
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    return claims.map((c) => ({ id: c.id, client: byId.get(c.id)!.client_id, account: byId.get(c.id)!.account_id }));
  }

  /** `rounds` claims of `limit` each, as a dispatcher with that many free slots would make them. */
  async function claimRounds(rounds: number, limit: number, leaseUntil = LEASE) {
    const claimed: ClaimedRecharge[] = [];
    for (let i = 0; i < rounds; i++) claimed.push(...(await repo.claimDue(limit, NOW, leaseUntil)));
    return owners(claimed);
  }

  it("a client's later recharges are claimed within the first claims, not behind another client's earlier backlog", async () => {
    const a = await newClient();
    const b = await newClient();
    await queue(a, '1001', 5_000);
    // B's three recharges are due after every one of A's 5,000.
    await queue(b, '2001', 3, new Date(T0.getTime() + 60_000));

    const claimed = await claimRounds(6, 1);

    expect(claimed.filter((c) => c.client === b)).toHaveLength(3);
    // A keeps its share meanwhile, oldest first.
    const ofA = claimed.filter((c) => c.client === a).map((c) => c.id);
    expect(ofA).toHaveLength(3);
    expect(ofA).toEqual([...ofA].sort());
    expect(ofA[0]).toMatch(/_0000001$/);
  });

  it("a client queueing to many accounts gets one client's share, not one per account", async () => {
    const a = await newClient();
    const b = await newClient();
    // A's backlog spread over 200 accounts: 200 queues of A against B's one.
    for (let i = 0; i < 200; i++) await queue(a, String(3000 + i), 5);
    await queue(b, '2001', 10, new Date(T0.getTime() + 60_000));

    const claimed = await claimRounds(10, 2);

    expect(claimed.filter((c) => c.client === b)).toHaveLength(10);
    // A's ten turns went to ten different accounts.
    expect(new Set(claimed.filter((c) => c.client === a).map((c) => c.account)).size).toBe(10);
  });

  it('weights are respected: a client of weight 3 gets three claims for every one of a client of weight 1', async () => {
    const light = await newClient(1);
    const heavy = await newClient(3);
    await queue(light, '1001', 500);
    await queue(heavy, '2001', 500);

    const claimed = await claimRounds(20, 4);

    expect(claimed).toHaveLength(80);
    const heavyShare = claimed.filter((c) => c.client === heavy).length;
    expect(heavyShare).toBeGreaterThanOrEqual(58);
    expect(heavyShare).toBeLessThanOrEqual(62);
  });

  it("within a client, accounts share the client's turns equally", async () => {
    const c = await newClient();
    await queue(c, '1001', 300);
    await queue(c, '1002', 10, new Date(T0.getTime() + 60_000));

    const claimed = await claimRounds(10, 2);

    expect(claimed.filter((x) => x.account === '1002')).toHaveLength(10);
    expect(claimed.filter((x) => x.account === '1001')).toHaveLength(10);
  });

  it('starvation-free: a weight-1 client next to a weight-100 backlog still moves, and an idle queue earns no burst', async () => {
    const big = await newClient(100);
    const small = await newClient(1);
    await queue(big, '1001', 2_000);
    await queue(small, '2001', 5);

    const first = await claimRounds(25, 10);
    // 250 claims at 100:1: the small client is served about 2-3 times, never zero.
    const smallServed = first.filter((c) => c.client === small).length;
    expect(smallServed).toBeGreaterThanOrEqual(2);
    expect(smallServed).toBeLessThanOrEqual(4);

    // A client idle through all of that, then arriving, starts at the shared clock: it gets its
    // share (1 of 2 at equal weight) from now on, not everything until it has "caught up".
    const late = await newClient(1);
    const other = await newClient(1);
    await queue(other, '3001', 200);
    await claimRounds(10, 10);
    await queue(late, '4001', 200, new Date(T0.getTime() + 60_000));
    const after = await claimRounds(5, 10);
    const lateShare = after.filter((c) => c.client === late).length;
    const otherShare = after.filter((c) => c.client === other).length;
    expect(Math.abs(lateShare - otherShare)).toBeLessThanOrEqual(2);
  });

  it('a live lease is never taken; once it lapses the recharge is claimable again', async () => {
    const c = await newClient();
    await queue(c, '1001', 3);

    const held = await repo.claimDue(10, NOW, LEASE);
    expect(held).toHaveLength(3);
    // Still leased one millisecond before the lease ends, by any replica.
    expect(await repo.claimDue(10, new Date(LEASE.getTime() - 1), new Date(LEASE.getTime() + 4_000))).toEqual([]);
    // Renewed by its holder, it stays out of reach past the first lease end.
    const later = new Date(LEASE.getTime() + 4_000);
    expect(await repo.renewLease(held[0]!, later)).toBe(true);
    const retaken = await repo.claimDue(10, LEASE, new Date(LEASE.getTime() + 8_000));
    expect(retaken.map((r) => r.id).sort()).toEqual([held[1]!.id, held[2]!.id].sort());
  });

  it("a dead replica's lapsed claims are resumed before anyone's next turn", async () => {
    const a = await newClient();
    const b = await newClient();
    await queue(a, '1001', 50);
    await queue(b, '2001', 50);
    const first = await repo.claimDue(4, NOW, LEASE);
    expect(first).toHaveLength(4);
    // Their holder dies: nobody renews. Meanwhile others' turns went on, at a live replica that
    // keeps renewing its own claims (so only the dead replica's leases have lapsed below).
    await claimRounds(5, 2, new Date(LEASE.getTime() + 60_000));

    const afterLapse = new Date(LEASE.getTime() + 1);
    const next = await repo.claimDue(4, afterLapse, new Date(afterLapse.getTime() + 4_000));

    expect(next.map((c) => c.id).sort()).toEqual(first.map((c) => c.id).sort());
  });

  it('with a large backlog the claim walks the queue index, never the table: rows read stay flat', async () => {
    const a = await newClient();
    const b = await newClient();
    await queue(a, '1001', 50_000);
    await queue(b, '2001', 3);
    await queue(b, '2002', 3);
    await query(databaseUrl, 'ANALYZE recharges');

    const c = new Client({ connectionString: databaseUrl });
    await c.connect();
    try {
      // The dispatcher's statement is prepared once per connection; after five runs PostgreSQL may
      // switch to a generic plan, so that is the plan checked here.
      await c.query('BEGIN');
      await c.query('SET LOCAL plan_cache_mode = force_generic_plan');
      await c.query(`PREPARE fair_claim(timestamptz, timestamptz, int, text) AS ${FAIR_CLAIM.text}`);
      const [{ 'QUERY PLAN': plan }] = (
        await c.query(
          `EXPLAIN (ANALYZE, FORMAT JSON, TIMING OFF) EXECUTE fair_claim('${NOW.toISOString()}', '${LEASE.toISOString()}', 8, 'lse_plan')`,
        )
      ).rows as Array<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>;
      await c.query('ROLLBACK');

      const onRecharges = nodes(plan[0]!.Plan).filter(
        (n) => n['Relation Name'] === 'recharges' && n['Node Type'].endsWith('Scan'),
      );
      expect(onRecharges.length).toBeGreaterThan(0);
      for (const n of onRecharges) {
        expect(n['Node Type']).not.toBe('Seq Scan');
        expect(['recharges_queue_idx', 'recharges_leased_idx', 'recharges_pkey']).toContain(n['Index Name']);
        // Rows produced per node: a handful per queue, not a share of the 50,000.
        expect(n['Actual Rows'] * n['Actual Loops']).toBeLessThanOrEqual(50);
      }
    } finally {
      await c.end();
    }
  });
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

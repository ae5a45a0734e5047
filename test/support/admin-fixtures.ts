import { INestApplicationContext } from '@nestjs/common';
import { ManageOperatorsUseCase } from '../../src/operators/application/manage-operators.use-case';
import { RechargeRepository } from '../../src/recharge/application/ports/recharge.repository';
import { DiscrepancyKind } from '../../src/recharge/domain/discrepancy';
import { Recharge } from '../../src/recharge/domain/recharge';
import { bearer, newKey, rechargeBody } from './e2e-helpers';
import { TestApp } from './test-app';

/** An operator (or viewer) registered through the same use case as the CLI; resolves to its token. */
export async function createOperator(
  app: INestApplicationContext,
  role: 'viewer' | 'operator',
  name = `${role}-${Math.random().toString(36).slice(2, 8)}`,
): Promise<{ operatorId: string; token: string; name: string }> {
  const { operator, token } = await app.get(ManageOperatorsUseCase).create(name, role);
  return { operatorId: operator.id, token, name };
}

/** Where a seeded recharge is left, reached through the aggregate's own methods only. */
export type Situation = 'CREATED' | 'SUBMITTED' | 'PENDING' | 'TIMEOUT' | 'SUCCEEDED' | 'REJECTED' | 'CANCELED';

/** A recharge requested through POST /v1/recharges, then driven to `situation` as the workers would. */
export async function seedRecharge(
  t: TestApp,
  apiKey: string,
  situation: Situation,
  body: Record<string, unknown> = {},
): Promise<string> {
  const res = await t.http
    .post('/v1/recharges')
    .set('Authorization', bearer(apiKey))
    .set('Idempotency-Key', newKey())
    .send(rechargeBody(body));
  if (res.status !== 202) throw new Error(`seeding failed: ${res.status} ${res.text}`);
  const id = res.body.id as string;
  await drive(t.app, id, situation);
  return id;
}

export async function drive(app: INestApplicationContext, id: string, situation: Situation): Promise<void> {
  if (situation === 'CREATED') return;
  const now = new Date();
  await app.get(RechargeRepository).mutate(id, (r: Recharge) => {
    if (situation === 'CANCELED') return r.cancel('caller canceled', 'api', now);
    r.submit('dispatcher', now);
    if (situation === 'PENDING' || situation === 'TIMEOUT')
      r.awaitConfirmation('outcome unknown: timeout (test)', 'dispatcher', now);
    if (situation === 'TIMEOUT') r.expire('reconciliation', now);
    if (situation === 'SUCCEEDED') r.succeed('TX-seeded', 'provider confirmed the credit', 'dispatcher', now);
    if (situation === 'REJECTED') r.reject('NotAuthorized', 'not authorized', 'dispatcher', now);
  });
}

/** A discrepancy kept the way the service keeps them: noted on the aggregate, stored with its state. */
export async function seedDiscrepancy(app: INestApplicationContext, rechargeId: string, kind: DiscrepancyKind) {
  await app
    .get(RechargeRepository)
    .mutate(rechargeId, (r) => r.noteDiscrepancy(kind, { note: 'seeded by the test' }, new Date()));
}

import { ProviderSendSchedule } from './ports/provider-send-schedule';

/**
 * How far ahead work may be claimed for the provider: while the credits in hand run out within
 * this horizon — HORIZON_MS, or HORIZON_SLOTS send intervals when they are longer — and no more
 * than fits under it. A claimed recharge waits for a send permit behind every credit claimed
 * before it, out of the fair queue, so claiming seconds ahead would put another client's urgent
 * recharge behind seconds of work chosen before it arrived. The horizon covers a claim, the
 * preparing write and holding a permit, so a backlog still keeps every permit busy. The re-drive
 * keeps to it. (The dispatcher loop kept to it too for a while; on Node 24 in CI two replicas
 * then put 21 calls into one second at a limit of 20, twice in three runs, so the loop is back to
 * its window until that is understood: docs/fair-dispatch.md.)
 */
export const CLAIM_HORIZON_MS = 250;
export const CLAIM_HORIZON_SLOTS = 3;

/** How many more recharges may be claimed now; < 1 means none. */
export function claimRoom(schedule: ProviderSendSchedule): number {
  const horizonMs = Math.max(CLAIM_HORIZON_MS, CLAIM_HORIZON_SLOTS * schedule.slotIntervalMs);
  return Math.floor((horizonMs - schedule.creditsReservedAheadMs()) / schedule.slotIntervalMs);
}

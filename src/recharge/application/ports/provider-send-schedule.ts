/**
 * How far ahead the provider's send budget is already spoken for by this replica's credits. The
 * reconciliation's re-drive reads it before claiming work: a recharge claimed now waits behind
 * every credit claimed before it, and while it waits it is out of the fair queue. So work is
 * claimed only when the credits in hand are about to run out, and a client's urgent recharge that
 * arrives behind another client's backlog is chosen shortly before it can be sent rather than
 * seconds ahead.
 */
export abstract class ProviderSendSchedule {
  /** The average time between two sends at the full rate (ms): one window over the number of permits. */
  abstract readonly slotIntervalMs: number;
  /**
   * How long from now until the credits this replica holds send permits for have left (ms), plus
   * one interval for each of its credits still waiting for a permit; 0 when idle.
   */
  abstract creditsReservedAheadMs(): number;
}

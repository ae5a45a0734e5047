/**
 * How far ahead the provider's credit slots are already spoken for. The dispatcher reads it before
 * claiming work: a recharge claimed now waits behind every slot reserved before it, and while it
 * waits it is out of the fair queue. So work is claimed only when the schedule is about to run dry,
 * and a client's urgent recharge that arrives behind another client's backlog is chosen shortly
 * before a slot rather than seconds ahead of one.
 */
export abstract class ProviderSendSchedule {
  /** The time between two send slots (ms). */
  abstract readonly slotIntervalMs: number;
  /**
   * How long from now until the slots reserved so far are used up (ms), as this replica last saw
   * the shared schedule, plus the credits of this replica waiting for a reservation; 0 when idle.
   * Another replica's reservations show up at this replica's next one.
   */
  abstract creditsReservedAheadMs(): number;
}

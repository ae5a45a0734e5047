import { ProviderCall, ProviderCallLog } from '../../../src/recharge/application/ports/provider-call-log';

/** ProviderCallLog in memory: every recorded call, in order. */
export class InMemoryProviderCallLog extends ProviderCallLog {
  readonly calls: ProviderCall[] = [];

  async record(call: ProviderCall): Promise<void> {
    this.calls.push({ ...call });
  }

  async forRecharge(rechargeId: string): Promise<ProviderCall[]> {
    return this.calls.filter((c) => c.rechargeId === rechargeId);
  }
}

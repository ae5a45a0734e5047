import { Injectable } from '@nestjs/common';
import { DomainError } from '../../../libs/shared/domain-error';
import { Client } from '../../clients/domain/client';
import { Recharge, RechargeTransition } from '../domain/recharge';
import { RechargeNotFoundError } from '../domain/recharge.errors';
import { RechargeState } from '../domain/recharge-state';
import { Page } from './ports/page';
import { RechargeRepository } from './ports/recharge.repository';
import { RechargeNotifications } from './ports/recharge-notifications';

/** Read side of a client's recharges. Another client's recharge is indistinguishable from none. */
@Injectable()
export class GetRechargeUseCase {
  constructor(
    private readonly recharges: RechargeRepository,
    private readonly notifications: RechargeNotifications,
  ) {}

  async get(client: Client, id: string): Promise<Recharge> {
    const recharge = await this.recharges.findById(id);
    if (!recharge || recharge.clientId !== client.id) throw new RechargeNotFoundError(id);
    return recharge;
  }

  async list(
    client: Client,
    q: { accountId?: string; states?: RechargeState[]; limit: number; after?: string },
  ): Promise<Page<Recharge>> {
    // An empty page would read as "no recharges"; a filter the client may not use is refused.
    if (q.accountId !== undefined && !client.mayAccess(q.accountId)) {
      throw new DomainError('UNAUTHORIZED', `this client may not read account ${q.accountId}`);
    }
    return this.recharges.list({ clientId: client.id, ...q });
  }

  async events(client: Client, id: string): Promise<RechargeTransition[]> {
    await this.get(client, id);
    return this.recharges.transitions(id);
  }

  /**
   * `Prefer: wait`: re-reads the recharge whenever any replica signals it became final (and at
   * least every second, in case a signal is lost) until it is final, the time is up, or `stop`
   * aborts (the server is closing).
   */
  async waitUntilFinal(recharge: Recharge, timeoutMs: number, stop?: AbortSignal): Promise<Recharge> {
    const deadline = Date.now() + timeoutMs;
    let current = recharge;
    while (!current.isFinal() && Date.now() < deadline && !stop?.aborted) {
      await this.nextChange(current.id, Math.min(1000, deadline - Date.now()), stop);
      current = (await this.recharges.findById(current.id)) ?? current;
    }
    return current;
  }

  private nextChange(id: string, maxMs: number, stop?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        stop?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, maxMs));
      const unsubscribe = this.notifications.onFinished((changed) => changed === id && done());
      stop?.addEventListener('abort', done, { once: true });
    });
  }
}

import { EventEmitter } from 'node:events';
import { Client } from 'pg';
import { Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { RechargeNotifications } from '../../application/ports/recharge-notifications';
import { CALLBACK_QUEUED, RECHARGE_FINISHED_CHANNEL } from './recharge.statements';

const CREATED = 'created';

/**
 * State changes: one LISTEN connection per replica, fanned out in process. NOTIFY is delivered
 * only after the sender's commit, so a listener never sees a change that is not yet readable.
 * Creations: announced in process only, after the insert's commit (see RechargeNotifications).
 */
export class PgRechargeNotifications extends RechargeNotifications implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(PgRechargeNotifications.name);
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  private client: Client | null = null;
  private closed = false;

  constructor(private readonly databaseUrl: string) {
    super();
  }

  async onModuleInit(): Promise<void> {
    await this.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    await this.client?.end().catch(() => undefined);
  }

  announceCreated(id: string): void {
    this.emitter.emit(CREATED, id);
  }

  onCreated(listener: (id: string) => void): () => void {
    return this.subscribe(CREATED, listener);
  }

  onFinished(listener: (id: string, callbackQueued: boolean) => void): () => void {
    return this.subscribe(RECHARGE_FINISHED_CHANNEL, listener);
  }

  private subscribe(channel: string, listener: (id: string, callbackQueued: boolean) => void): () => void {
    this.emitter.on(channel, listener);
    return () => this.emitter.off(channel, listener);
  }

  private async connect(): Promise<void> {
    const client = new Client({ connectionString: this.databaseUrl });
    client.on('notification', (n) => {
      if (!n.payload) return;
      const [id, flag] = n.payload.split(' ');
      this.emitter.emit(n.channel, id, flag === CALLBACK_QUEUED);
    });
    client.on('error', (err) => {
      this.logger.warn(
        `notification connection lost (${err.message}); consumers fall back to polling until it is back`,
      );
      this.client = null;
      void client.end().catch(() => undefined);
      if (!this.closed) setTimeout(() => void this.connect().catch(() => undefined), 1000).unref();
    });
    await client.connect();
    await client.query(`LISTEN ${RECHARGE_FINISHED_CHANNEL}`);
    this.client = client;
  }
}

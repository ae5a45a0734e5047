import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable, OnModuleInit } from '@nestjs/common';
import { POOL_WARM_CONNECTIONS } from '../../config/mikro-orm.config';

/**
 * Opens pool connections before the service takes traffic or starts dispatching, instead of on
 * demand in the first burst (one backend start and password check each, while the first
 * provider slots are due). The pool keeps this many (`min`), so they stay open. Measured on the
 * bench's drain (2,000 queued, 50/s): 93.7–95.2 % of the allowed rate used without, 95.6–96.1 % with.
 */
@Injectable()
export class PoolWarmup implements OnModuleInit {
  constructor(private readonly em: EntityManager) {}

  async onModuleInit(): Promise<void> {
    const connection = this.em.getConnection();
    // Each query holds its connection briefly, so the pool has to open all of them.
    await Promise.all(Array.from({ length: POOL_WARM_CONNECTIONS }, () => connection.execute('SELECT pg_sleep(0.05)')));
  }
}

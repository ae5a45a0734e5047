import { DynamicModule, Module } from '@nestjs/common';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import { createOrmConfig } from '../../config/mikro-orm.config';
import { Clock, SystemClock } from '../../libs/shared/clock';
import type { AppModuleOptions } from '../app.module';
import { APP_CONFIG, DATABASE_URL } from '../app-config.provider';
import { ClientsModule } from '../clients/clients.module';
import { ObservabilityModule } from '../observability/observability.module';
import { RechargeModule } from '../recharge/recharge.module';

/** The same global providers AppModule's CoreModule gives the service. */
@Module({})
class CliCoreModule {}

/** A CLI process does a handful of queries; a small pool is plenty. */
const CLI_POOL_MAX = 4;

/**
 * The operator CLI's application context: persistence and the use cases it drives, without the
 * HTTP API, health checks or background workers (dispatcher).
 */
@Module({})
export class CliModule {
  static forRoot({ config, databaseUrl }: AppModuleOptions): DynamicModule {
    return {
      module: CliModule,
      imports: [
        {
          module: CliCoreModule,
          global: true,
          providers: [
            { provide: APP_CONFIG, useValue: config },
            { provide: DATABASE_URL, useValue: databaseUrl },
            { provide: Clock, useClass: SystemClock },
          ],
          exports: [APP_CONFIG, DATABASE_URL, Clock],
        },
        MikroOrmModule.forRoot({ ...createOrmConfig(databaseUrl, CLI_POOL_MAX), registerRequestContext: false }),
        // Global RechargeTelemetry for RechargeModule's adapters; the metrics of a CLI run are never scraped.
        ObservabilityModule,
        ClientsModule,
        RechargeModule,
      ],
    };
  }
}

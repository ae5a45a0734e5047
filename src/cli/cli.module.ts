import { DynamicModule, Module } from '@nestjs/common';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import { createOrmConfig } from '../../config/mikro-orm.config';
import { AppModuleOptions, CoreModule } from '../app.module';
import { ClientsModule } from '../clients/clients.module';
import { ObservabilityModule } from '../observability/observability.module';
import { OperatorsModule } from '../operators/operators.module';
import { RechargeModule } from '../recharge/recharge.module';
import { RulesModule } from '../rules/rules.module';

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
        CoreModule.forRoot({ config, databaseUrl }),
        MikroOrmModule.forRoot({ ...createOrmConfig(databaseUrl, CLI_POOL_MAX), registerRequestContext: false }),
        // Global RechargeTelemetry for RechargeModule's adapters; the metrics of a CLI run are never scraped.
        ObservabilityModule,
        ClientsModule,
        OperatorsModule,
        RechargeModule,
        RulesModule,
      ],
    };
  }
}

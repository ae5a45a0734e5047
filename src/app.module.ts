import { DynamicModule, Module } from '@nestjs/common';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import { ScheduleModule } from '@nestjs/schedule';
import { AppConfig } from '../config/app-config';
import { createOrmConfig } from '../config/mikro-orm.config';
import { Clock, SystemClock } from '../libs/shared/clock';
import { AdminModule } from './admin/admin.module';
import { ApiModule } from './api/api.module';
import { ConsoleModule } from './console/console.module';
import { APP_CONFIG, DATABASE_URL } from './app-config.provider';
import { CallbacksModule } from './callbacks/callbacks.module';
import { DispatcherModule } from './dispatcher/dispatcher.module';
import { ReconciliationModule } from './reconciliation/reconciliation.module';
import { WebhooksModule } from './webhooks/webhooks.module';
import { HealthModule } from './health/health.module';
import { ObservabilityModule } from './observability/observability.module';
import { PoolWarmup } from './database/pool-warmup';

export interface AppModuleOptions {
  config: AppConfig;
  databaseUrl: string;
}

/** Configuration, database URL and clock, global to every module (the service's and the CLI's). */
@Module({})
export class CoreModule {
  static forRoot({ config, databaseUrl }: AppModuleOptions): DynamicModule {
    return {
      module: CoreModule,
      global: true,
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: DATABASE_URL, useValue: databaseUrl },
        { provide: Clock, useClass: SystemClock },
      ],
      exports: [APP_CONFIG, DATABASE_URL, Clock],
    };
  }
}

@Module({})
export class AppModule {
  static forRoot({ config, databaseUrl }: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot({ config, databaseUrl }),
        MikroOrmModule.forRoot({ ...createOrmConfig(databaseUrl), registerRequestContext: false }),
        ObservabilityModule,
        HealthModule,
        ScheduleModule.forRoot(),
        ApiModule,
        AdminModule,
        ConsoleModule,
        WebhooksModule,
        DispatcherModule,
        ReconciliationModule,
        CallbacksModule,
      ],
      providers: [PoolWarmup],
    };
  }
}

import { Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../app-config.provider';
import { ClientsModule } from '../clients/clients.module';
import { RechargeModule } from '../recharge/recharge.module';
import { AccountsController } from './accounts.controller';
import { AuthGuard } from './auth.guard';
import { ClientRateLimiter } from './client-rate-limiter';
import { RechargesController } from './recharges.controller';
import { RulesModule, RuleWorkerModule } from '../rules/rules.module';
import { RulesController } from './rules.controller';

@Module({
  imports: [ClientsModule, RechargeModule, RulesModule, RuleWorkerModule],
  controllers: [RechargesController, AccountsController, RulesController],
  providers: [
    AuthGuard,
    {
      provide: ClientRateLimiter,
      useFactory: (c: AppConfig) => new ClientRateLimiter(c.clientRateLimitRps),
      inject: [APP_CONFIG],
    },
  ],
})
export class ApiModule {}

import { Module } from '@nestjs/common';
import { PgStatements } from '../database/pg-statements';
import { OperatorsModule } from '../operators/operators.module';
import { RechargeModule } from '../recharge/recharge.module';
import { RulesModule } from '../rules/rules.module';
import { AdminController } from './admin.controller';
import { AccountViewUseCase } from './application/account-view.use-case';
import { OperatorActionsUseCase } from './application/operator-actions.use-case';
import { AccountRules } from './application/ports/account-rules';
import { AdminCommands, OperatorTelemetry } from './application/ports/admin-commands';
import { AdminReadModel } from './application/ports/admin-read-model';
import { PgAdminCommands } from './infrastructure/pg-admin.commands';
import { PgAdminReadModel } from './infrastructure/pg-admin.read-model';
import { RuleRepositoryAccountRules } from './infrastructure/rule-repository.account-rules';
import { PrometheusOperatorTelemetry } from './infrastructure/prometheus-operator.telemetry';
import { OperatorGuard } from './operator.guard';

/** The operators' admin API at /admin/v1 (the console at /console is its only built-in client). */
@Module({
  imports: [OperatorsModule, RechargeModule, RulesModule],
  controllers: [AdminController],
  providers: [
    PgStatements,
    { provide: AdminReadModel, useClass: PgAdminReadModel },
    { provide: AdminCommands, useClass: PgAdminCommands },
    { provide: OperatorTelemetry, useClass: PrometheusOperatorTelemetry },
    // Every client's auto-recharge rules, read through the rules feature's repository.
    { provide: AccountRules, useClass: RuleRepositoryAccountRules },
    OperatorGuard,
    OperatorActionsUseCase,
    AccountViewUseCase,
  ],
})
export class AdminModule {}

import { Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../app-config.provider';
import { ClientsModule } from '../clients/clients.module';
import { PgStatements } from '../database/pg-statements';
import { RechargeModule } from '../recharge/recharge.module';
import { EvaluateRuleUseCase, RuleSettings } from './application/evaluate-rule.use-case';
import { ManageRulesUseCase } from './application/manage-rules.use-case';
import { RuleTelemetry } from './application/ports/rule-telemetry';
import { RuleRepository } from './application/ports/rule.repository';
import { TopUpRecharges } from './application/ports/top-up-recharges';
import { PgRuleRepository } from './infrastructure/pg-rule.repository';
import { PrometheusRuleTelemetry } from './infrastructure/prometheus-rule.telemetry';
import { RechargeTopUps } from './infrastructure/recharge-top-ups';
import { RuleEvaluationWorker } from './rule-evaluation.worker';

/** Binds the rules' ports to their adapters (no background work: the CLI uses it too). */
@Module({
  imports: [RechargeModule, ClientsModule],
  providers: [
    PgStatements,
    { provide: RuleRepository, useClass: PgRuleRepository },
    { provide: TopUpRecharges, useClass: RechargeTopUps },
    { provide: RuleTelemetry, useClass: PrometheusRuleTelemetry },
    {
      provide: RuleSettings,
      useFactory: (c: AppConfig): RuleSettings => ({
        maxTopUpAmount: BigInt(c.maxRechargeAmount),
        failuresBeforeDisable: c.ruleFailuresBeforeDisable,
        // A quota read waits for a slot behind every credit; the row lock re-checks anyway.
        leaseMs: c.alibabaCloud.timeoutMs + 60_000,
      }),
      inject: [APP_CONFIG],
    },
    ManageRulesUseCase,
    EvaluateRuleUseCase,
  ],
  exports: [RuleRepository, ManageRulesUseCase, EvaluateRuleUseCase, RuleTelemetry],
})
export class RulesModule {}

/** The evaluation loop of this replica (RULES_ENABLED). */
@Module({
  imports: [RulesModule],
  providers: [RuleEvaluationWorker],
  exports: [RuleEvaluationWorker],
})
export class RuleWorkerModule {}

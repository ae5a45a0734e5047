import { Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig, DATABASE_URL } from '../app-config.provider';
import { PgStatements } from '../database/pg-statements';
import { AccountLedgerUseCase } from './application/account-ledger.use-case';
import { ApplyNotificationUseCase } from './application/apply-notification.use-case';
import { CallbackSettings, DeliverCallbacksUseCase } from './application/deliver-callbacks.use-case';
import { CallbackOutbox, CallbackSender } from './application/ports/callback-outbox';
import { NotificationInbox } from './application/ports/notification-inbox';
import { ReconcileUseCase } from './application/reconcile.use-case';
import { HttpCallbackSender } from './infrastructure/callbacks/http-callback.sender';
import { MikroOrmCallbackOutbox } from './infrastructure/persistence/mikro-orm-callback.outbox';
import { MikroOrmNotificationInbox } from './infrastructure/persistence/mikro-orm-notification.inbox';
import { MikroOrmReconciliationRunLog } from './infrastructure/persistence/mikro-orm-reconciliation-run.log';
import { CancelRechargeUseCase } from './application/cancel-recharge.use-case';
import { CreateRechargeUseCase } from './application/create-recharge.use-case';
import { DispatchRechargeUseCase, DispatchSettings } from './application/dispatch-recharge.use-case';
import { GetRechargeUseCase } from './application/get-recharge.use-case';
import { RechargeProvider } from './application/ports/recharge-provider';
import { RechargeTelemetry } from './application/ports/recharge-telemetry';
import { LedgerReader, ReconciliationRunLog, RechargeRepository } from './application/ports/recharge.repository';
import { RechargeNotifications } from './application/ports/recharge-notifications';
import { RechargePolicy } from './application/recharge-policy';
import { MikroOrmLedgerReader } from './infrastructure/persistence/mikro-orm-ledger.reader';
import { PgRechargeRepository } from './infrastructure/persistence/pg-recharge.repository';
import { PgRechargeNotifications } from './infrastructure/persistence/pg-recharge.notifications';
import { AlibabaCloudRechargeProvider } from './infrastructure/alibaba-cloud/alibaba-cloud-recharge.provider';
import { PgProviderRateLimiter } from './infrastructure/provider/pg-provider-rate-limiter';
import { ResilientRechargeProvider } from './infrastructure/provider/resilient-recharge.provider';

/** Binds the recharge ports to their adapters. */
@Module({
  providers: [
    PgStatements,
    { provide: RechargeRepository, useClass: PgRechargeRepository },
    { provide: LedgerReader, useClass: MikroOrmLedgerReader },
    { provide: NotificationInbox, useClass: MikroOrmNotificationInbox },
    { provide: ReconciliationRunLog, useClass: MikroOrmReconciliationRunLog },
    { provide: CallbackOutbox, useClass: MikroOrmCallbackOutbox },
    { provide: CallbackSender, useFactory: () => new HttpCallbackSender() },
    {
      provide: CallbackSettings,
      useFactory: (c: AppConfig): CallbackSettings => ({ retryBaseMs: c.callbackRetryBaseMs }),
      inject: [APP_CONFIG],
    },
    {
      provide: RechargeNotifications,
      useFactory: (url: string) => new PgRechargeNotifications(url),
      inject: [DATABASE_URL],
    },
    {
      provide: RechargePolicy,
      useFactory: (c: AppConfig): RechargePolicy => ({
        maxRechargeAmount: c.maxRechargeAmount,
        supportedCurrencies: c.supportedCurrencies,
        callbackAllowedHosts: c.callbackAllowedHosts,
      }),
      inject: [APP_CONFIG],
    },
    {
      provide: RechargeProvider,
      useFactory: (c: AppConfig, sql: PgStatements, telemetry: RechargeTelemetry) =>
        new ResilientRechargeProvider(
          new AlibabaCloudRechargeProvider(c.alibabaCloud),
          new PgProviderRateLimiter(sql, c.providerMaxRps),
          telemetry,
        ),
      inject: [APP_CONFIG, PgStatements, RechargeTelemetry],
    },
    {
      provide: DispatchSettings,
      useFactory: (c: AppConfig): DispatchSettings => ({
        leaseMs: c.alibabaCloud.timeoutMs + 30_000,
        reconcileAfterMs: c.reconcileAfterMs,
        confirmationWindowMs: c.confirmationWindowMs,
        maxQuickRetries: 6,
        retryBaseMs: 250,
        retryMaxMs: 15_000,
      }),
      inject: [APP_CONFIG],
    },
    CreateRechargeUseCase,
    DispatchRechargeUseCase,
    ApplyNotificationUseCase,
    ReconcileUseCase,
    DeliverCallbacksUseCase,
    GetRechargeUseCase,
    CancelRechargeUseCase,
    AccountLedgerUseCase,
  ],
  exports: [
    RechargePolicy,
    RechargeRepository,
    RechargeNotifications,
    RechargeProvider,
    DispatchRechargeUseCase,
    ApplyNotificationUseCase,
    ReconcileUseCase,
    DeliverCallbacksUseCase,
    CreateRechargeUseCase,
    GetRechargeUseCase,
    CancelRechargeUseCase,
    AccountLedgerUseCase,
  ],
})
export class RechargeModule {}

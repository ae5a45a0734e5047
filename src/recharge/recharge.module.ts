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
import { PgCallbackOutbox } from './infrastructure/persistence/pg-callback.outbox';
import { PgNotificationInbox } from './infrastructure/persistence/pg-notification.inbox';
import { PgReconciliationRunLog } from './infrastructure/persistence/pg-reconciliation-run.log';
import { CancelRechargeUseCase } from './application/cancel-recharge.use-case';
import { CreateRechargeUseCase } from './application/create-recharge.use-case';
import { DispatchRechargeUseCase, DispatchSettings } from './application/dispatch-recharge.use-case';
import { GetRechargeUseCase } from './application/get-recharge.use-case';
import { RechargeProvider } from './application/ports/recharge-provider';
import { RechargeTelemetry } from './application/ports/recharge-telemetry';
import { LedgerReader } from './application/ports/ledger.reader';
import { RechargeRepository } from './application/ports/recharge.repository';
import { ReconciliationRunLog } from './application/ports/reconciliation-run.log';
import { RechargeNotifications } from './application/ports/recharge-notifications';
import { RechargePolicy } from './application/recharge-policy';
import { MikroOrmLedgerReader } from './infrastructure/persistence/mikro-orm-ledger.reader';
import { PgRechargeRepository } from './infrastructure/persistence/pg-recharge.repository';
import { DiscrepancyRepository } from './application/ports/discrepancy.repository';
import { ProviderCallLog } from './application/ports/provider-call-log';
import { PgDiscrepancyRepository } from './infrastructure/persistence/pg-discrepancy.repository';
import { PgProviderCallLog } from './infrastructure/persistence/pg-provider-call.log';
import { PgRechargeNotifications } from './infrastructure/persistence/pg-recharge.notifications';
import { AlibabaCloudRechargeProvider } from './infrastructure/alibaba-cloud/alibaba-cloud-recharge.provider';
import { PgProviderRateLimiter } from './infrastructure/provider/pg-provider-rate-limiter';
import { ProviderSendSchedule } from './application/ports/provider-send-schedule';
import { ResilientRechargeProvider } from './infrastructure/provider/resilient-recharge.provider';
import { LoggedRechargeProvider } from './infrastructure/provider/logged-recharge.provider';
import { Clock } from '../../libs/shared/clock';

/** Binds the recharge ports to their adapters. */
@Module({
  providers: [
    PgStatements,
    { provide: RechargeRepository, useClass: PgRechargeRepository },
    { provide: LedgerReader, useClass: MikroOrmLedgerReader },
    { provide: DiscrepancyRepository, useClass: PgDiscrepancyRepository },
    { provide: ProviderCallLog, useClass: PgProviderCallLog },
    { provide: NotificationInbox, useClass: PgNotificationInbox },
    { provide: ReconciliationRunLog, useClass: PgReconciliationRunLog },
    { provide: CallbackOutbox, useClass: PgCallbackOutbox },
    {
      provide: CallbackSender,
      useFactory: (c: AppConfig) =>
        new HttpCallbackSender({
          allowedHosts: c.callbackAllowedHosts,
          allowPrivateNetworks: c.callbackAllowPrivateNetworks,
        }),
      inject: [APP_CONFIG],
    },
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
      provide: PgProviderRateLimiter,
      useFactory: (c: AppConfig, sql: PgStatements) =>
        new PgProviderRateLimiter(sql, c.providerMaxRps, { maxTransitMs: c.providerMaxTransitMs }),
      inject: [APP_CONFIG, PgStatements],
    },
    // The same budget, read by the dispatcher to claim work only shortly before it can be sent.
    { provide: ProviderSendSchedule, useExisting: PgProviderRateLimiter },
    {
      provide: RechargeProvider,
      useFactory: (
        c: AppConfig,
        limiter: PgProviderRateLimiter,
        telemetry: RechargeTelemetry,
        calls: ProviderCallLog,
        clock: Clock,
      ) =>
        new ResilientRechargeProvider(
          new LoggedRechargeProvider(new AlibabaCloudRechargeProvider(c.alibabaCloud), calls, clock),
          limiter,
          telemetry,
        ),
      inject: [APP_CONFIG, PgProviderRateLimiter, RechargeTelemetry, ProviderCallLog, Clock],
    },
    {
      provide: DispatchSettings,
      useFactory: (c: AppConfig): DispatchSettings => ({
        // Renewed every quarter of its length while the work runs, so it need not cover a rate-slot
        // wait or a call; short, so a dead replica's recharges are taken over within seconds.
        leaseMs: c.dispatchLeaseMs,
        reconcileAfterMs: c.reconcileAfterMs,
        confirmationWindowMs: c.confirmationWindowMs,
        maxQuickRetries: 6,
        retryBaseMs: 250,
        retryMaxMs: 15_000,
        creditDefaults: { businessType: c.alibabaCloud.businessType, source: c.alibabaCloud.source },
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
    DiscrepancyRepository,
    ProviderCallLog,
    RechargeNotifications,
    RechargeProvider,
    ProviderSendSchedule,
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

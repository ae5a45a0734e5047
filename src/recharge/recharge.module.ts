import { Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig, DATABASE_URL } from '../app-config.provider';
import { AccountLedgerUseCase } from './application/account-ledger.use-case';
import { CancelRechargeUseCase } from './application/cancel-recharge.use-case';
import { CreateRechargeUseCase } from './application/create-recharge.use-case';
import { GetRechargeUseCase } from './application/get-recharge.use-case';
import { LedgerReader, RechargeRepository } from './application/ports/recharge.repository';
import { RechargeNotifications } from './application/ports/recharge-notifications';
import { RechargePolicy } from './application/recharge-policy';
import { MikroOrmLedgerReader } from './infrastructure/persistence/mikro-orm-ledger.reader';
import { MikroOrmRechargeRepository } from './infrastructure/persistence/mikro-orm-recharge.repository';
import { PgRechargeNotifications } from './infrastructure/persistence/pg-recharge.notifications';

/** Binds the recharge ports to their adapters. */
@Module({
  providers: [
    { provide: RechargeRepository, useClass: MikroOrmRechargeRepository },
    { provide: LedgerReader, useClass: MikroOrmLedgerReader },
    { provide: RechargeNotifications, useFactory: (url: string) => new PgRechargeNotifications(url), inject: [DATABASE_URL] },
    {
      provide: RechargePolicy,
      useFactory: (c: AppConfig): RechargePolicy => ({
        maxRechargeAmount: c.maxRechargeAmount,
        supportedCurrencies: c.supportedCurrencies,
        callbackAllowedHosts: c.callbackAllowedHosts,
      }),
      inject: [APP_CONFIG],
    },
    CreateRechargeUseCase,
    GetRechargeUseCase,
    CancelRechargeUseCase,
    AccountLedgerUseCase,
  ],
  exports: [RechargeRepository, RechargeNotifications, CreateRechargeUseCase, GetRechargeUseCase, CancelRechargeUseCase, AccountLedgerUseCase],
})
export class RechargeModule {}

import { Module } from '@nestjs/common';
import { RechargeModule } from '../recharge/recharge.module';
import { ReconciliationScheduler } from './reconciliation.scheduler';

@Module({ imports: [RechargeModule], providers: [ReconciliationScheduler] })
export class ReconciliationModule {}

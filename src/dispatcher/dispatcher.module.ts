import { Module } from '@nestjs/common';
import { RechargeModule } from '../recharge/recharge.module';
import { DispatcherWorker } from './dispatcher.worker';

@Module({ imports: [RechargeModule], providers: [DispatcherWorker] })
export class DispatcherModule {}

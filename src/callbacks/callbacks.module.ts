import { Module } from '@nestjs/common';
import { RechargeModule } from '../recharge/recharge.module';
import { CallbackDeliveryWorker } from './callback-delivery.worker';

@Module({ imports: [RechargeModule], providers: [CallbackDeliveryWorker] })
export class CallbacksModule {}

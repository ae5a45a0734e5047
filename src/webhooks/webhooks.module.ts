import { Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../app-config.provider';
import { RechargeModule } from '../recharge/recharge.module';
import { WebhooksController } from './webhooks.controller';
import { WebhookSignatureVerifier } from './webhook-signature';

@Module({
  imports: [RechargeModule],
  controllers: [WebhooksController],
  providers: [
    {
      provide: WebhookSignatureVerifier,
      useFactory: (c: AppConfig) => new WebhookSignatureVerifier(c.providerWebhookSecrets),
      inject: [APP_CONFIG],
    },
  ],
})
export class WebhooksModule {}

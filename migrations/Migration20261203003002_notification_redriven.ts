import { Migration } from '@mikro-orm/migrations';

/**
 * A provider notification can end as `redriven`: a Failed whose FailureCode the provider would
 * retry (InternalError, -1101, CreditInnerError, UndefinedError, Throttling*) is kept, and the
 * recharge is sent again with the same OutBizId instead of failing.
 */
export class Migration20261203003002_notification_redriven extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      ALTER TABLE provider_notifications DROP CONSTRAINT provider_notifications_result_check;
      ALTER TABLE provider_notifications ADD CONSTRAINT provider_notifications_result_check
        CHECK (result IN ('applied', 'duplicate', 'ignored', 'orphan', 'discrepancy', 'redriven'));
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      UPDATE provider_notifications SET result = 'ignored' WHERE result = 'redriven';
      ALTER TABLE provider_notifications DROP CONSTRAINT provider_notifications_result_check;
      ALTER TABLE provider_notifications ADD CONSTRAINT provider_notifications_result_check
        CHECK (result IN ('applied', 'duplicate', 'ignored', 'orphan', 'discrepancy'));
    `);
  }
}

import { Migration } from '@mikro-orm/migrations';

/**
 * Operators may pause and resume auto-recharge rules from the admin API; those actions are audited
 * in operator_actions like the recharge ones, with the rule as their target (no recharge).
 */
export class Migration20261203010001_rule_operator_actions extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      ALTER TABLE operator_actions DROP CONSTRAINT operator_actions_target_type_check;
      ALTER TABLE operator_actions ADD CONSTRAINT operator_actions_target_type_check
        CHECK (target_type IN ('recharge', 'discrepancy', 'rule'));
    `);
  }

  override async down(): Promise<void> {
    // operator_actions is append-only: rule actions already recorded stay (the check skips them).
    this.addSql(`
      ALTER TABLE operator_actions DROP CONSTRAINT operator_actions_target_type_check;
      ALTER TABLE operator_actions ADD CONSTRAINT operator_actions_target_type_check
        CHECK (target_type IN ('recharge', 'discrepancy')) NOT VALID;
    `);
  }
}

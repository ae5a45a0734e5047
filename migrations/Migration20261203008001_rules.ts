import { Migration } from '@mikro-orm/migrations';

/**
 * Auto-recharge rules. The database keeps the promises the rules make: one active rule per
 * (client, account, currency) by a partial unique index; one top-up per trigger number and per
 * scheduled slot by unique constraints (the recharge's idempotency key `rule:<ruleId>:<n>` is a
 * second guard); evaluations are append-only history. `due_at` is both the schedule and the lease
 * (claimed with SKIP LOCKED), so a replica that dies mid-evaluation only delays the rule.
 * `rule.disabled` callbacks go through the recharge callback outbox, which therefore now holds
 * deliveries about a rule as well as about a recharge (exactly one of the two).
 */
export class Migration20261203008001_rules extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE rules (
        id text PRIMARY KEY,
        client_id text NOT NULL REFERENCES clients (id),
        account_id text NOT NULL CHECK (account_id ~ '^[0-9]{1,20}$'),
        currency text NOT NULL CHECK (currency IN ('CNY', 'USD', 'JPY')),
        trigger_type text NOT NULL CHECK (trigger_type IN ('threshold', 'schedule')),
        threshold_below bigint CHECK (threshold_below > 0),
        schedule_cron text,
        schedule_timezone text,
        top_up_type text NOT NULL CHECK (top_up_type IN ('fixed', 'target')),
        top_up_amount bigint NOT NULL CHECK (top_up_amount > 0),
        max_amount_per_day bigint CHECK (max_amount_per_day > 0),
        max_amount_per_month bigint CHECK (max_amount_per_month > 0),
        max_count_per_day integer CHECK (max_count_per_day > 0),
        max_count_per_month integer CHECK (max_count_per_month > 0),
        cooldown_seconds integer NOT NULL CHECK (cooldown_seconds >= 60),
        check_interval_seconds integer CHECK (check_interval_seconds >= 60),
        callback_url text,
        dry_run boolean NOT NULL,
        status text NOT NULL CHECK (status IN ('active', 'paused', 'disabled')),
        disabled_reason text,
        consecutive_failures integer NOT NULL DEFAULT 0,
        top_up_seq integer NOT NULL DEFAULT 0,
        next_slot_at timestamptz,
        last_evaluated_at timestamptz,
        due_at timestamptz,
        deleted_at timestamptz,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        version integer NOT NULL DEFAULT 1,
        CHECK ((trigger_type = 'threshold') = (threshold_below IS NOT NULL AND check_interval_seconds IS NOT NULL)),
        CHECK ((trigger_type = 'schedule') = (schedule_cron IS NOT NULL AND schedule_timezone IS NOT NULL)),
        CHECK (trigger_type = 'threshold' OR top_up_type = 'fixed')
      );
      CREATE UNIQUE INDEX rules_one_active_per_account ON rules (client_id, account_id, currency)
        WHERE status = 'active' AND deleted_at IS NULL;
      CREATE INDEX rules_client_idx ON rules (client_id, id DESC) WHERE deleted_at IS NULL;
      -- the evaluators' work queue
      CREATE INDEX rules_due_idx ON rules (due_at) WHERE status = 'active' AND deleted_at IS NULL;

      CREATE TABLE rule_top_ups (
        rule_id text NOT NULL REFERENCES rules (id),
        n integer NOT NULL CHECK (n > 0),
        amount bigint NOT NULL CHECK (amount > 0),
        slot_at timestamptz,
        -- the request is fixed when the trigger fires, so finishing it after a crash replays it exactly
        callback_url text,
        recharge_id text UNIQUE REFERENCES recharges (id),
        refused_reason text,
        settled boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (rule_id, n),
        CONSTRAINT rule_top_ups_once_per_slot UNIQUE (rule_id, slot_at)
      );
      CREATE INDEX rule_top_ups_unsettled_idx ON rule_top_ups (rule_id) WHERE NOT settled;

      CREATE TABLE rule_evaluations (
        id bigserial PRIMARY KEY,
        rule_id text NOT NULL REFERENCES rules (id),
        at timestamptz NOT NULL,
        quota bigint,
        decision text NOT NULL CHECK (decision IN ('topped_up', 'above_threshold', 'not_due', 'pending', 'cooldown',
          'cap_reached', 'quota_unavailable', 'dry_run', 'paused', 'disabled')),
        reason text NOT NULL,
        top_up_n integer,
        FOREIGN KEY (rule_id, top_up_n) REFERENCES rule_top_ups (rule_id, n)
      );
      CREATE INDEX rule_evaluations_rule_idx ON rule_evaluations (rule_id, id DESC);
      CREATE FUNCTION rule_evaluations_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'rule_evaluations is append-only: % refused', TG_OP USING ERRCODE = 'restrict_violation';
      END $$;
      CREATE TRIGGER rule_evaluations_no_update_delete BEFORE UPDATE OR DELETE ON rule_evaluations
        FOR EACH ROW EXECUTE FUNCTION rule_evaluations_are_immutable();

      ALTER TABLE callback_deliveries ALTER COLUMN recharge_id DROP NOT NULL;
      ALTER TABLE callback_deliveries ADD COLUMN rule_id text REFERENCES rules (id);
      ALTER TABLE callback_deliveries ADD CONSTRAINT callback_deliveries_one_subject
        CHECK ((recharge_id IS NULL) <> (rule_id IS NULL));
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      DELETE FROM callback_attempts a USING callback_deliveries d WHERE a.delivery_id = d.id AND d.rule_id IS NOT NULL;
      DELETE FROM callback_deliveries WHERE rule_id IS NOT NULL;
      ALTER TABLE callback_deliveries DROP CONSTRAINT callback_deliveries_one_subject;
      ALTER TABLE callback_deliveries DROP COLUMN rule_id;
      ALTER TABLE callback_deliveries ALTER COLUMN recharge_id SET NOT NULL;
      DROP TABLE rule_evaluations, rule_top_ups, rules;
      DROP FUNCTION rule_evaluations_are_immutable();
    `);
  }
}

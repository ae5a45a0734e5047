import { Migration } from '@mikro-orm/migrations';

/**
 * Unknown stays unknown.
 *
 * - `recharges` remembers what the first send carried (`credit_parameters`: every re-send repeats
 *   them, whatever the configuration says today), how many sends were started, whether one is
 *   still unanswered, and whether any send may have reached the provider (after that, no answer is
 *   a definitive rejection). It also gets an explicit lease (`lease_owner`, `lease_until`): expiry
 *   and re-drive leave a recharge alone while a replica holds it.
 * - `discrepancies` becomes the operators' list: a text id, the evidence, when it was seen and who
 *   acknowledged it. A discrepancy found from a notification is kept once per notification and
 *   kind; one found otherwise once per recharge and kind while it is open.
 * - `provider_calls` is the append-only log of every call to the provider.
 */
export class Migration20261203001001_unknown_stays_unknown extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      ALTER TABLE recharges
        ADD COLUMN credit_parameters jsonb,
        ADD COLUMN sends integer NOT NULL DEFAULT 0,
        ADD COLUMN send_started_at timestamptz,
        ADD COLUMN may_have_reached_provider boolean NOT NULL DEFAULT false,
        ADD COLUMN lease_owner text,
        ADD COLUMN lease_until timestamptz;
      -- What was sent before this version is not known: anything already handed to the provider may
      -- have been applied there.
      UPDATE recharges SET may_have_reached_provider = true, sends = GREATEST(attempts, 1)
        WHERE state IN ('SUBMITTED', 'PENDING_CONFIRMATION') OR (state = 'FAILED' AND failure_code = 'TIMEOUT');

      ALTER TABLE discrepancies DROP CONSTRAINT discrepancies_once_per_notification;
      ALTER TABLE discrepancies ALTER COLUMN id DROP DEFAULT;
      ALTER TABLE discrepancies ALTER COLUMN id TYPE text USING 'dsc_' || lpad(id::text, 32, '0');
      DROP SEQUENCE IF EXISTS discrepancies_id_seq;
      UPDATE discrepancies SET detail = detail || jsonb_build_object('webhookId', webhook_id) WHERE webhook_id IS NOT NULL;
      UPDATE discrepancies SET kind = 'success_after_cancel' WHERE kind = 'succeeded_after_cancel';
      ALTER TABLE discrepancies DROP COLUMN webhook_id;
      ALTER TABLE discrepancies RENAME COLUMN detail TO evidence;
      ALTER TABLE discrepancies RENAME COLUMN detected_at TO seen_at;
      ALTER TABLE discrepancies
        ADD COLUMN acknowledged_by text,
        ADD COLUMN acknowledged_at timestamptz,
        ADD COLUMN acknowledgement_note text,
        ADD CONSTRAINT discrepancies_acknowledged_together CHECK ((acknowledged_by IS NULL) = (acknowledged_at IS NULL));
      CREATE UNIQUE INDEX discrepancies_once_per_notification ON discrepancies (kind, (evidence->>'webhookId'))
        WHERE evidence->>'webhookId' IS NOT NULL;
      CREATE UNIQUE INDEX discrepancies_open_once_per_recharge ON discrepancies (recharge_id, kind)
        WHERE acknowledged_at IS NULL AND evidence->>'webhookId' IS NULL;
      CREATE INDEX discrepancies_recharge_idx ON discrepancies (recharge_id);
      CREATE INDEX discrepancies_open_idx ON discrepancies (seen_at DESC) WHERE acknowledged_at IS NULL;

      CREATE TABLE provider_calls (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        recharge_id text,
        account_id text,
        action text NOT NULL,
        attempt integer,
        at timestamptz NOT NULL,
        outcome text NOT NULL,
        provider_code text,
        http_status integer,
        duration_ms integer NOT NULL CHECK (duration_ms >= 0),
        request_id text
      );
      CREATE INDEX provider_calls_recharge_idx ON provider_calls (recharge_id, id) WHERE recharge_id IS NOT NULL;
      CREATE INDEX provider_calls_at_idx ON provider_calls (at);
      CREATE FUNCTION provider_calls_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'provider_calls is append-only: % refused', TG_OP USING ERRCODE = 'restrict_violation';
      END $$;
      CREATE TRIGGER provider_calls_no_update_delete BEFORE UPDATE OR DELETE ON provider_calls
        FOR EACH ROW EXECUTE FUNCTION provider_calls_are_immutable();
      CREATE TRIGGER provider_calls_no_truncate BEFORE TRUNCATE ON provider_calls
        FOR EACH STATEMENT EXECUTE FUNCTION provider_calls_are_immutable();
    `);
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE provider_calls;');
    this.addSql('DROP FUNCTION provider_calls_are_immutable();');
    this.addSql(`
      DROP INDEX discrepancies_once_per_notification, discrepancies_open_once_per_recharge, discrepancies_recharge_idx,
        discrepancies_open_idx;
      ALTER TABLE discrepancies DROP CONSTRAINT discrepancies_acknowledged_together,
        DROP COLUMN acknowledged_by, DROP COLUMN acknowledged_at, DROP COLUMN acknowledgement_note;
      ALTER TABLE discrepancies RENAME COLUMN evidence TO detail;
      ALTER TABLE discrepancies RENAME COLUMN seen_at TO detected_at;
      ALTER TABLE discrepancies ADD COLUMN webhook_id text REFERENCES provider_notifications (webhook_id);
      UPDATE discrepancies SET webhook_id = detail->>'webhookId';
      UPDATE discrepancies SET kind = 'succeeded_after_cancel' WHERE kind = 'success_after_cancel';
      ALTER TABLE discrepancies ADD COLUMN legacy_id bigserial;
      ALTER TABLE discrepancies DROP CONSTRAINT discrepancies_pkey;
      ALTER TABLE discrepancies DROP COLUMN id;
      ALTER TABLE discrepancies RENAME COLUMN legacy_id TO id;
      ALTER TABLE discrepancies ADD PRIMARY KEY (id);
      ALTER TABLE discrepancies ADD CONSTRAINT discrepancies_once_per_notification UNIQUE (webhook_id, kind);
      ALTER TABLE recharges DROP COLUMN credit_parameters, DROP COLUMN sends, DROP COLUMN send_started_at,
        DROP COLUMN may_have_reached_provider, DROP COLUMN lease_owner, DROP COLUMN lease_until;
    `);
  }
}

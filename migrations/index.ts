import { Migration20261125000001_initial } from './Migration20261125000001_initial';
import { Migration20261125000002_dispatcher } from './Migration20261125000002_dispatcher';
import { Migration20261125000003_confirmations } from './Migration20261125000003_confirmations';
import { Migration20261126000004_unlogged_rate_limits } from './Migration20261126000004_unlogged_rate_limits';
import { Migration20261203001001_unknown_stays_unknown } from './Migration20261203001001_unknown_stays_unknown';
import { Migration20261203003001_callback_order } from './Migration20261203003001_callback_order';
import { Migration20261203003002_notification_redriven } from './Migration20261203003002_notification_redriven';
import { Migration20261203008001_rules } from './Migration20261203008001_rules';
import { Migration20261203007001_operators } from './Migration20261203007001_operators';
import { Migration20261203007002_admin_indexes } from './Migration20261203007002_admin_indexes';
import { Migration20261203009001_fair_dispatch } from './Migration20261203009001_fair_dispatch';
import { Migration20261203010001_rule_operator_actions } from './Migration20261203010001_rule_operator_actions';
import { Migration20261203011001_send_permits } from './Migration20261203011001_send_permits';

/** Listed explicitly so the compiled service and the TypeScript tests run the same migrations. */
export const MIGRATIONS = [
  { name: 'Migration20261125000001_initial', class: Migration20261125000001_initial },
  { name: 'Migration20261125000002_dispatcher', class: Migration20261125000002_dispatcher },
  { name: 'Migration20261125000003_confirmations', class: Migration20261125000003_confirmations },
  { name: 'Migration20261126000004_unlogged_rate_limits', class: Migration20261126000004_unlogged_rate_limits },
  { name: 'Migration20261203001001_unknown_stays_unknown', class: Migration20261203001001_unknown_stays_unknown },
  { name: 'Migration20261203003001_callback_order', class: Migration20261203003001_callback_order },
  { name: 'Migration20261203003002_notification_redriven', class: Migration20261203003002_notification_redriven },
  { name: 'Migration20261203007001_operators', class: Migration20261203007001_operators },
  { name: 'Migration20261203007002_admin_indexes', class: Migration20261203007002_admin_indexes },
  { name: 'Migration20261203008001_rules', class: Migration20261203008001_rules },
  { name: 'Migration20261203009001_fair_dispatch', class: Migration20261203009001_fair_dispatch },
  { name: 'Migration20261203010001_rule_operator_actions', class: Migration20261203010001_rule_operator_actions },
  { name: 'Migration20261203011001_send_permits', class: Migration20261203011001_send_permits },
];

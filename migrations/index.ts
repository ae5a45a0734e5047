import { Migration20261125000001_initial } from './Migration20261125000001_initial';
import { Migration20261125000002_dispatcher } from './Migration20261125000002_dispatcher';
import { Migration20261125000003_confirmations } from './Migration20261125000003_confirmations';
import { Migration20261126000004_unlogged_rate_limits } from './Migration20261126000004_unlogged_rate_limits';
import { Migration20261203001001_unknown_stays_unknown } from './Migration20261203001001_unknown_stays_unknown';
import { Migration20261203009001_fair_dispatch } from './Migration20261203009001_fair_dispatch';

/** Listed explicitly so the compiled service and the TypeScript tests run the same migrations. */
export const MIGRATIONS = [
  { name: 'Migration20261125000001_initial', class: Migration20261125000001_initial },
  { name: 'Migration20261125000002_dispatcher', class: Migration20261125000002_dispatcher },
  { name: 'Migration20261125000003_confirmations', class: Migration20261125000003_confirmations },
  { name: 'Migration20261126000004_unlogged_rate_limits', class: Migration20261126000004_unlogged_rate_limits },
  { name: 'Migration20261203001001_unknown_stays_unknown', class: Migration20261203001001_unknown_stays_unknown },
  { name: 'Migration20261203009001_fair_dispatch', class: Migration20261203009001_fair_dispatch },
];

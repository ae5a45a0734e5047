import { Migration20261125000001_initial } from './Migration20261125000001_initial';
import { Migration20261125000002_dispatcher } from './Migration20261125000002_dispatcher';

/** Listed explicitly so the compiled service and the TypeScript tests run the same migrations. */
export const MIGRATIONS = [
  { name: 'Migration20261125000001_initial', class: Migration20261125000001_initial },
  { name: 'Migration20261125000002_dispatcher', class: Migration20261125000002_dispatcher },
];

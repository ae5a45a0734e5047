import { Migration20261125000001_initial } from './Migration20261125000001_initial';

/** Listed explicitly so the compiled service and the TypeScript tests run the same migrations. */
export const MIGRATIONS = [{ name: 'Migration20261125000001_initial', class: Migration20261125000001_initial }];

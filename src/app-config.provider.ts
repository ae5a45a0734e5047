import { AppConfig } from '../config/app-config';

/** DI token for the validated configuration (an interface has no runtime class to inject by). */
export const APP_CONFIG = 'APP_CONFIG';
export const DATABASE_URL = 'DATABASE_URL';
export type { AppConfig };

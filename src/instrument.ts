/**
 * Loaded before anything else (first import of main.ts), so auto-instrumentation can patch http,
 * pg, pino and Nest as they are required. Configured only by the standard OTEL_* variables.
 */
import { startTracing } from './observability/tracing';

startTracing();

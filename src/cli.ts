import 'reflect-metadata';
import type { AppRunner } from './cli/application';
import { CliIo, EXIT_FAILURE, runCli } from './cli/commands';

/**
 * `npm run cli -- <command> [--json]`. Results go to stdout (exactly one JSON object with --json);
 * progress and errors go to stderr. Exit codes: 0 done, 1 failed, 2 bad usage.
 */
const write = (stream: NodeJS.WriteStream, text: string) =>
  new Promise<void>((resolve) => stream.write(text, () => resolve()));
const pending: Array<Promise<void>> = [];
const io: CliIo = {
  out: (text) => void pending.push(write(process.stdout, text)),
  err: (text) => void pending.push(write(process.stderr, text)),
};

// Nest, MikroORM and the adapters load only when a command needs them: --help and usage errors stay fast.
const withApp: AppRunner = async (fn) => {
  const { createAppRunner } = await import('./cli/application');
  return createAppRunner((msg) => io.err(`${msg}\n`))(fn);
};

function main(): Promise<number> {
  return runCli(process.argv, io, withApp);
}

main()
  .catch(async (err: unknown) => {
    const { describeStartupFailure } = await import('./startup/startup-failure');
    io.err(`${describeStartupFailure(err)}\n`);
    return EXIT_FAILURE;
  })
  .then(async (code) => {
    await Promise.all(pending);
    // Explicit: nothing may keep an operator's shell waiting (pools, LISTEN connection, timers).
    process.exit(code);
  });

import { BSS_API_VERSION, createBssSimulator } from './bss-simulator';
import { simulatorOptionsFromEnv } from './simulator-env';

/** `npm run simulator`: the BssOpenApi simulator on its own, configured by SIMULATOR_* variables. */
async function main(): Promise<void> {
  let options;
  try {
    options = simulatorOptionsFromEnv(process.env);
  } catch (err) {
    console.error(`bss-simulator: ${(err as Error).message}`);
    process.exit(1);
  }
  const simulator = await createBssSimulator({ ...options, log: (msg) => console.log(msg) });
  const credential = options.credentials![0]!;
  console.log(`bss-simulator: BssOpenApi ${BSS_API_VERSION} listening on ${simulator.url}`);
  console.log(`bss-simulator: access key id "${credential.accessKeyId}", admin API at ${simulator.url}/__admin/stats`);

  const stop = (signal: string) => {
    console.log(`bss-simulator: ${signal}, closing`);
    simulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`bss-simulator: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});

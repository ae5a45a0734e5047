/**
 * Alibaba Cloud BssOpenApi (2017-12-14) simulator for tests, benchmarks and `npm start`.
 *
 *   const sim = await createBssSimulator({ port: 0 });
 *   const client = new RPCClient({ endpoint: sim.url, apiVersion: '2017-12-14', ...DEFAULT_CREDENTIAL });
 *   sim.addFaults([{ fault: 'applyThenDrop', count: 1 }]);
 *   ... exercise the service ...
 *   expect(sim.credits()).toMatchObject([{ outBizId, timesApplied: 1 }]);
 *   await sim.close();
 *
 * Standalone: `npm run simulator` (SIMULATOR_* variables, see simulator-env.ts); admin API under /__admin/.
 */
export { BSS_API_VERSION, createBssSimulator, DEFAULT_CREDENTIAL } from './bss-simulator';
export type { BssSimulator, BssSimulatorOptions, SimulatorCredential } from './bss-simulator';
export type { AccountInput, AccountView, AdjustType, AppliedCredit, Site } from './bss-ledger';
export { parseFaultRules } from './fault-injector';
export type { FaultKind, FaultRule } from './fault-injector';
export { formatMinorAmount, parseMajorAmount } from './money';
export type { Currency } from './money';
export type { SimulatorStats } from './request-stats';
export {
  canonicalizedQueryString,
  hmacSha1Signature,
  percentEncode,
  signRpcParams,
  stringToSign,
} from './rpc-signature';
export type { RpcParams } from './rpc-signature';
export { simulatorOptionsFromEnv } from './simulator-env';
export type { CloudEvent, NotifyOptions } from './webhook-notifier';

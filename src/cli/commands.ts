import { Command, CommanderError } from 'commander';
import { ManageClientsUseCase } from '../clients/application/manage-clients.use-case';
import { Client } from '../clients/domain/client';
import { ManageOperatorsUseCase } from '../operators/application/manage-operators.use-case';
import { Operator, OPERATOR_ROLES } from '../operators/domain/operator';
import { RechargeRepository } from '../recharge/application/ports/recharge.repository';
import { presentRecharge, presentTransition } from '../recharge/application/recharge.representation';
import type { AppRunner } from './application';
import { CliError } from './cli-error';
import { runReconcilePass } from './reconcile';
import { ManageRulesUseCase } from '../rules/application/manage-rules.use-case';
import { presentRuleView } from '../rules/application/rule.representation';
import { RULE_STATUSES, RuleStatus } from '../rules/domain/rule';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

/** What a command produced: one JSON object for --json, lines of text otherwise. */
interface Result {
  json: Record<string, unknown>;
  human: string[];
}

interface JsonOption {
  json?: boolean;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Parses argv (process.argv form), runs the command and resolves to the process exit code. */
export async function runCli(argv: string[], io: CliIo, withApp: AppRunner): Promise<number> {
  let exitCode = EXIT_OK;
  const program = buildProgram(io, withApp, (code) => (exitCode = code));
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already written its message (or the help) to stderr/stdout.
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT_OK : EXIT_USAGE;
    }
    throw err;
  }
  return exitCode;
}

function buildProgram(io: CliIo, withApp: AppRunner, setExitCode: (code: number) => void): Command {
  const program = new Command('npm run cli --');
  // Set before adding commands: subcommands inherit these settings when they are created.
  program
    .description('Operator commands for alicloud-recharge. Every command accepts --json (one JSON object on stdout).')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError('(add --help for usage)')
    .allowExcessArguments(false);

  /** Runs a command body; its failure is one line on stderr and exit code 1, never a stack trace. */
  const respond = async (opts: JsonOption, body: () => Promise<Result>): Promise<void> => {
    try {
      const result = await body();
      io.out(opts.json ? `${JSON.stringify(result.json)}\n` : `${result.human.join('\n')}\n`);
    } catch (err) {
      io.err(`error: ${err instanceof Error ? err.message : String(err)}\n`);
      setExitCode(EXIT_FAILURE);
    }
  };

  program
    .command('clients:create')
    .description('register an internal client; prints its API key and webhook secret once')
    .requiredOption('--name <name>', 'client name')
    .requiredOption(
      '--accounts <uids>',
      'comma-separated Alibaba Cloud account UIDs the client may recharge, or * for all',
    )
    .option('--weight <n>', "share of the provider's rate budget relative to other clients (1-1000)", '1')
    .option('--json', 'print {"clientId","apiKey","webhookSecret"}')
    .action((opts: JsonOption & { name: string; accounts: string; weight: string }) =>
      respond(opts, async () => {
        const accounts = parseAccounts(opts.accounts);
        const weight = parseWeight(opts.weight);
        // Same rules as the domain, checked before any database is touched (no id, nothing stored).
        Client.register('validation-only', opts.name, accounts, new Date(), weight);
        const { client, apiKey, webhookSecret } = await withApp((app) =>
          app.get(ManageClientsUseCase).create(opts.name, accounts, weight),
        );
        return {
          json: { clientId: client.id, apiKey, webhookSecret },
          human: [
            `Client created: ${client.id}`,
            `  name:           ${client.name}`,
            `  accounts:       ${client.allowedAccounts.join(',')}`,
            `  weight:         ${client.weight}`,
            `  API key:        ${apiKey}`,
            `  webhook secret: ${webhookSecret}`,
            '',
            'WARNING: the API key and the webhook secret are shown only now. Store them safely:',
            'only a hash of the API key is kept, and no command prints either of them again.',
          ],
        };
      }),
    );

  program
    .command('clients:list')
    .description('list clients (never their secrets)')
    .option('--json', 'print {"clients":[...]}')
    .action((opts: JsonOption) =>
      respond(opts, async () => {
        const clients = await withApp((app) => app.get(ManageClientsUseCase).list());
        const rows = clients.map(presentClient);
        return { json: { clients: rows }, human: clientsTable(rows) };
      }),
    );

  program
    .command('clients:weight')
    .description("set a client's share of the provider's rate budget when several clients have work queued")
    .argument('<clientId>', 'client id (cli_...)')
    .argument('<weight>', 'an integer from 1 to 1000: weight 3 gets three credits for every one of weight 1')
    .option('--json', 'print {"clientId","weight"}')
    .action((clientId: string, weightText: string, opts: JsonOption) =>
      respond(opts, async () => {
        const weight = parseWeight(weightText);
        Client.checkWeight(weight);
        const client = await withApp((app) => app.get(ManageClientsUseCase).setWeight(clientId, weight));
        return {
          json: { clientId: client.id, weight: client.weight },
          human: [`Client ${client.id} (${client.name}) now has weight ${client.weight}.`],
        };
      }),
    );

  program
    .command('clients:revoke')
    .description('revoke a client: its API key stops working within a second')
    .argument('<clientId>', 'client id (cli_...)')
    .option('--json', 'print {"clientId","revokedAt"}')
    .action((clientId: string, opts: JsonOption) =>
      respond(opts, async () => {
        const client = await withApp((app) => app.get(ManageClientsUseCase).revoke(clientId));
        const revokedAt = client.revokedAt?.toISOString() ?? null;
        return {
          json: { clientId: client.id, revokedAt },
          human: [`Client ${client.id} (${client.name}) revoked at ${revokedAt}.`],
        };
      }),
    );

  program
    .command('operators:create')
    .description('register a person for the admin API and the console; prints the op_ token once')
    .requiredOption('--name <name>', 'who the operator is (shown on every action they take)')
    .requiredOption('--role <role>', `${OPERATOR_ROLES.join(' or ')}: a viewer reads, an operator also acts`)
    .option('--json', 'print {"operatorId","token"}')
    .action((opts: JsonOption & { name: string; role: string }) =>
      respond(opts, async () => {
        // Same rules as the domain, checked before any database is touched.
        Operator.register('validation-only', opts.name, opts.role, new Date());
        const { operator, token } = await withApp((app) =>
          app.get(ManageOperatorsUseCase).create(opts.name, opts.role),
        );
        return {
          json: { operatorId: operator.id, token },
          human: [
            `Operator created: ${operator.id}`,
            `  name:  ${operator.name}`,
            `  role:  ${operator.role}`,
            `  token: ${token}`,
            '',
            'WARNING: the token is shown only now; only its hash is kept. Sign in to /console with it.',
          ],
        };
      }),
    );

  program
    .command('operators:list')
    .description('list operators (never their tokens)')
    .option('--json', 'print {"operators":[...]}')
    .action((opts: JsonOption) =>
      respond(opts, async () => {
        const operators = await withApp((app) => app.get(ManageOperatorsUseCase).list());
        const rows = operators.map(presentOperator);
        return {
          json: { operators: rows },
          human:
            rows.length === 0
              ? ['No operators.']
              : table(
                  ['ID', 'NAME', 'ROLE', 'TOKEN PREFIX', 'CREATED', 'REVOKED'],
                  rows.map((r) => [r.id, r.name, r.role, `${r.tokenPrefix}…`, r.createdAt, r.revokedAt ?? '-']),
                ),
        };
      }),
    );

  program
    .command('operators:revoke')
    .description('revoke an operator: the token stops working within a second')
    .argument('<operatorId>', 'operator id (opr_...)')
    .option('--json', 'print {"operatorId","revokedAt"}')
    .action((operatorId: string, opts: JsonOption) =>
      respond(opts, async () => {
        const operator = await withApp((app) => app.get(ManageOperatorsUseCase).revoke(operatorId));
        const revokedAt = operator.revokedAt?.toISOString() ?? null;
        return {
          json: { operatorId: operator.id, revokedAt },
          human: [`Operator ${operator.id} (${operator.name}) revoked at ${revokedAt}.`],
        };
      }),
    );

  program
    .command('recharges:show')
    .description("show any client's recharge and its state history")
    .argument('<rechargeId>', 'recharge id (rch_...)')
    .option('--json', 'print {"recharge":{...},"events":[...]}')
    .action((rechargeId: string, opts: JsonOption) =>
      respond(opts, async () => {
        // Operators see every client's recharges, so this reads the repository port directly
        // rather than GetRechargeUseCase, which scopes every read to one client.
        const found = await withApp(async (app) => {
          const recharges = app.get(RechargeRepository);
          const recharge = await recharges.findById(rechargeId);
          return recharge ? { recharge, events: await recharges.transitions(rechargeId) } : null;
        });
        if (!found) throw new CliError(`recharge ${rechargeId} not found`);
        // The public representation plus its owner, which only an operator gets to see.
        const { id, ...rest } = presentRecharge(found.recharge);
        const recharge = { id, clientId: found.recharge.clientId, ...rest };
        const events = found.events.map(presentTransition);
        return { json: { recharge, events }, human: rechargeDetails(recharge, events) };
      }),
    );

  program
    .command('reconcile')
    .description('run one reconciliation pass now')
    .option('--json', 'print the pass summary as one JSON object')
    .action((opts: JsonOption) =>
      respond(opts, async () => {
        const summary = await withApp((app) => runReconcilePass(app));
        return {
          json: summary,
          human: ['Reconciliation pass done.', ...Object.entries(summary).map(([k, v]) => `  ${k}: ${v}`)],
        };
      }),
    );

  program
    .command('rules:list')
    .description("list auto-recharge rules of every client (newest first), with each one's latest decision")
    .option('--client <clientId>', 'only this client')
    .option('--account <uid>', 'only this account')
    .option('--status <status>', `only ${RULE_STATUSES.join(', ')}`)
    .option('--limit <n>', 'at most this many (1–500)', '100')
    .option('--json', 'print {"rules":[...]}')
    .action((opts: JsonOption & { client?: string; account?: string; status?: string; limit: string }) =>
      respond(opts, async () => {
        if (opts.status !== undefined && !(RULE_STATUSES as readonly string[]).includes(opts.status)) {
          throw new CliError(`--status must be one of ${RULE_STATUSES.join(', ')}`);
        }
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new CliError('--limit must be 1–500');
        const page = await withApp((app) =>
          app.get(ManageRulesUseCase).listAll({
            clientId: opts.client,
            accountId: opts.account,
            status: opts.status as RuleStatus | undefined,
            limit,
          }),
        );
        const rules = page.data.map((v) => ({ ...presentRuleView(v), clientId: v.rule.clientId }));
        return { json: { rules }, human: rulesTable(rules) };
      }),
    );

  for (const [name, status, verb] of [
    ['rules:pause', 'paused', 'paused'],
    ['rules:resume', 'active', 'resumed (evaluated at once)'],
  ] as const) {
    program
      .command(name)
      .description(
        status === 'paused'
          ? 'pause a rule: it is not evaluated until resumed'
          : 'resume a paused or disabled rule (a disabled one starts with no failures)',
      )
      .argument('<ruleId>', 'rule id (rul_...)')
      .option('--json', 'print the rule')
      .action((ruleId: string, opts: JsonOption) =>
        respond(opts, async () => {
          const view = await withApp((app) => app.get(ManageRulesUseCase).setStatus(ruleId, status));
          const rule = presentRuleView(view);
          return { json: rule, human: [`Rule ${rule.id} ${verb}: status ${rule.status}.`] };
        }),
      );
  }

  return program;
}

function rulesTable(rules: Array<ReturnType<typeof presentRuleView> & { clientId: string }>): string[] {
  if (rules.length === 0) return ['No rules.'];
  const trigger = (r: (typeof rules)[number]) =>
    r.trigger.type === 'threshold' ? `below ${r.trigger.below}` : `${r.trigger.cron} ${r.trigger.timezone}`;
  return table(
    ['ID', 'CLIENT', 'ACCOUNT', 'CUR', 'TRIGGER', 'TOP-UP', 'STATUS', 'FAILURES', 'LAST DECISION'],
    rules.map((r) => [
      r.id,
      r.clientId,
      r.accountId,
      r.currency,
      trigger(r),
      `${r.topUp.type} ${r.topUp.amount}${r.dryRun ? ' (dry run)' : ''}`,
      r.status,
      String(r.consecutiveFailures),
      r.lastEvaluation ? `${r.lastEvaluation.decision} at ${r.lastEvaluation.at}` : '-',
    ]),
  );
}

function parseAccounts(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

type ClientRow = ReturnType<typeof presentClient>;

function presentOperator(o: Operator) {
  return {
    id: o.id,
    name: o.name,
    role: o.role,
    tokenPrefix: o.tokenPrefix,
    createdAt: o.createdAt.toISOString(),
    revokedAt: o.revokedAt?.toISOString() ?? null,
  };
}

/** Digits only: "2.5" or "3x" is a usage error, not a rounded weight. */
function parseWeight(text: string): number {
  if (!/^\d{1,4}$/.test(text.trim())) throw new CliError(`weight must be an integer from 1 to 1000, got "${text}"`);
  return Number(text.trim());
}

function presentClient(c: Client) {
  return {
    id: c.id,
    name: c.name,
    apiKeyPrefix: c.apiKeyPrefix,
    allowedAccounts: c.allowedAccounts,
    weight: c.weight,
    createdAt: c.createdAt.toISOString(),
    revokedAt: c.revokedAt?.toISOString() ?? null,
  };
}

function clientsTable(rows: ClientRow[]): string[] {
  if (rows.length === 0) return ['No clients.'];
  return table(
    ['ID', 'NAME', 'KEY PREFIX', 'ACCOUNTS', 'WEIGHT', 'CREATED', 'REVOKED'],
    rows.map((r) => [
      r.id,
      r.name,
      `${r.apiKeyPrefix}…`,
      r.allowedAccounts.join(','),
      String(r.weight),
      r.createdAt,
      r.revokedAt ?? '-',
    ]),
  );
}

function rechargeDetails(
  recharge: Record<string, unknown>,
  events: Array<ReturnType<typeof presentTransition>>,
): string[] {
  const width = Math.max(...Object.keys(recharge).map((k) => k.length));
  const lines = [`Recharge ${recharge.id}`];
  for (const [key, value] of Object.entries(recharge)) {
    if (key === 'id') continue;
    const shown = value === null ? '-' : typeof value === 'object' ? JSON.stringify(value) : String(value);
    lines.push(`  ${key.padEnd(width)}  ${shown}`);
  }
  lines.push('', `Events (${events.length})`);
  lines.push(
    ...table(
      ['AT', 'FROM', 'TO', 'SOURCE', 'REASON'],
      events.map((e) => [e.at, e.from ?? '-', e.to, e.source, e.reason ?? '']),
    ).map((l) => `  ${l}`),
  );
  return lines;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

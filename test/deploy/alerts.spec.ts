import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { PrometheusTelemetry } from '../../src/observability/prometheus-telemetry';
import { onPath, readYaml, repoRoot } from './kustomize-lite';

/**
 * The alert rules against what the service really exports: every metric an expression names must
 * be served at /metrics (taken from the PrometheusTelemetry registry itself, default process metrics
 * included), every label matcher must use a label that metric has, and every matched value must be
 * one the code emits. promtool, when installed, checks the syntax and runs the rule unit tests.
 */
const RULES = join(repoRoot, 'config/alerts/alicloud-recharge.rules.yml');
const RULE_TESTS = join(repoRoot, 'test/deploy/alerts.promtool-tests.yml');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** PromQL words that are not metric names. */
const PROMQL_WORDS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
  'group',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'rate',
  'irate',
  'increase',
  'delta',
  'idelta',
  'deriv',
  'resets',
  'changes',
  'histogram_quantile',
  'time',
  'absent',
  'absent_over_time',
  'abs',
  'clamp_min',
  'clamp_max',
  'round',
  'ceil',
  'floor',
  'vector',
  'scalar',
  'avg_over_time',
  'max_over_time',
  'min_over_time',
  'sum_over_time',
  'count_over_time',
  'last_over_time',
  'label_replace',
  'timestamp',
  'predict_linear',
  'sort',
  'sort_desc',
  'inf',
  'nan',
]);
/** Labels Prometheus attaches at scrape time (kubernetes-pods job), not the service. */
const TARGET_LABELS = new Set(['namespace', 'pod', 'instance', 'job']);

/** Source of the service outside tests: where label values such as "invalid_signature" must appear. */
function productionSource(): string {
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') && !p.endsWith('.spec.ts') ? [p] : [];
    });
  return walk(join(repoRoot, 'src'))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
}

function parseExpr(expr: string) {
  const matchers: Array<{ metric: string; label: string; op: string; value: string }> = [];
  const metrics = new Set<string>();
  const groupingLabels = new Set<string>();
  let rest = expr.replace(
    /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g,
    (_, _kw, labels: string) => {
      for (const l of labels
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean))
        groupingLabels.add(l);
      return ' ';
    },
  );
  rest = rest.replace(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g, (_, metric: string, body: string) => {
    for (const m of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"/g))
      matchers.push({ metric, label: m[1], op: m[2], value: m[3] });
    return ` ${metric} `;
  });
  rest = rest.replace(/"[^"]*"/g, ' ').replace(/\[[^\]]*\]/g, ' ');
  for (const m of rest.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)/g)) {
    if (!PROMQL_WORDS.has(m[1].toLowerCase())) metrics.add(m[1]);
  }
  return { metrics, matchers, groupingLabels };
}

describe('config/alerts/alicloud-recharge.rules.yml', () => {
  const file = readYaml(RULES);
  const rules: Rule[] = file.groups.flatMap((g: { rules: Rule[] }) => g.rules);
  const alerts = rules.filter((r) => r.alert);
  let exported: Map<string, { type: string; labels: string[] }>;

  beforeAll(async () => {
    const telemetry = new PrometheusTelemetry();
    exported = new Map();
    for (const m of await telemetry.registry.getMetricsAsJSON()) {
      const labels = (
        (telemetry.registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames ?? []
      ).slice();
      exported.set(m.name, { type: String(m.type), labels });
      if (String(m.type) === 'histogram') {
        exported.set(`${m.name}_bucket`, { type: 'counter', labels: [...labels, 'le'] });
        exported.set(`${m.name}_sum`, { type: 'counter', labels });
        exported.set(`${m.name}_count`, { type: 'counter', labels });
      }
    }
    telemetry.registry.clear();
  });

  it('exports what the source declares (the registry is not empty or different from the file)', () => {
    const declared = [
      ...readFileSync(join(repoRoot, 'src/observability/prometheus-telemetry.ts'), 'utf8').matchAll(
        /name: '([a-z_:]+)'/g,
      ),
    ].map((m) => m[1]);
    expect(declared.length).toBeGreaterThanOrEqual(13);
    for (const name of declared) expect(exported.has(name)).toBe(true);
    expect(exported.has('process_resident_memory_bytes')).toBe(true);
    expect(exported.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
  });

  it('is groups of uniquely named alerts, each with expr, severity, summary, description and runbook', () => {
    expect(file.groups.length).toBeGreaterThan(0);
    expect(alerts.length).toBe(rules.length);
    expect(new Set(alerts.map((a) => a.alert)).size).toBe(alerts.length);
    for (const a of alerts) {
      expect({
        alert: a.alert,
        expr: typeof a.expr,
        severity: a.labels?.severity,
        summary: typeof a.annotations?.summary,
        description: typeof a.annotations?.description,
        runbook: a.annotations?.runbook,
      }).toEqual({
        alert: a.alert,
        expr: 'string',
        severity: expect.stringMatching(/^(critical|warning|info)$/),
        summary: 'string',
        description: 'string',
        runbook: expect.stringContaining('When an alert fires'),
      });
      if (a.for !== undefined) expect(a.for).toMatch(/^\d+[smh]$/);
    }
  });

  it('names only metrics the service exports, with labels they have and values the code emits', () => {
    const code = productionSource();
    for (const a of alerts) {
      const { metrics, matchers, groupingLabels } = parseExpr(a.expr);
      expect({ alert: a.alert, metrics: metrics.size > 0 }).toEqual({ alert: a.alert, metrics: true });
      for (const m of metrics)
        expect({ alert: a.alert, metric: m, exported: exported.has(m) }).toEqual({
          alert: a.alert,
          metric: m,
          exported: true,
        });
      const allLabels = new Set([...metrics].flatMap((m) => exported.get(m)!.labels));
      for (const l of groupingLabels)
        expect({ alert: a.alert, label: l, known: allLabels.has(l) || TARGET_LABELS.has(l) }).toEqual({
          alert: a.alert,
          label: l,
          known: true,
        });
      for (const m of matchers) {
        expect({
          alert: a.alert,
          metric: m.metric,
          label: m.label,
          known: exported.get(m.metric)!.labels.includes(m.label),
        }).toEqual({ alert: a.alert, metric: m.metric, label: m.label, known: true });
        if (m.op === '=' || m.op === '!=')
          expect({ alert: a.alert, value: m.value, emitted: code.includes(`'${m.value}'`) }).toEqual({
            alert: a.alert,
            value: m.value,
            emitted: true,
          });
      }
    }
  });

  it('covers the failure modes operators must hear about', () => {
    const used = new Set(alerts.flatMap((a) => [...parseExpr(a.expr).metrics]));
    for (const m of [
      'provider_requests_total',
      'provider_circuit_state',
      'recharges_pending_beyond_sla',
      'webhook_events_total',
      'reconciliation_last_success_timestamp_seconds',
      'reconciliation_runs_total',
      'recharge_discrepancies_total',
      'recharge_corrections_total',
      'callback_deliveries_total',
    ]) {
      expect(used).toContain(m);
    }
  });

  it('points runbooks at a README section that exists (once the README does)', () => {
    const readme = join(repoRoot, 'README.md');
    if (!existsSync(readme)) {
      console.log('README.md does not exist yet: runbook target "When an alert fires" not checked');
      return;
    }
    expect(readFileSync(readme, 'utf8')).toMatch(/^#+ .*When an alert fires/m);
  });

  it('passes promtool check rules and the rule unit tests (when promtool is installed)', () => {
    if (!onPath('promtool')) {
      console.log(
        'promtool not on PATH: skipping `promtool check rules` and `promtool test rules` (apt-get install prometheus provides it)',
      );
      return;
    }
    const check = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    expect({ status: check.status, output: check.stdout + check.stderr }).toEqual({
      status: 0,
      output: expect.stringContaining('SUCCESS'),
    });
    // Unit tests against a copy without annotations: promtool compares annotations verbatim, and
    // their wording is checked above.
    const dir = mkdtempSync(join(tmpdir(), 'alert-rules-'));
    try {
      const stripped = {
        groups: file.groups.map((g: { rules: Rule[] }) => ({
          ...g,
          rules: g.rules.map(({ annotations: _a, ...r }) => r),
        })),
      };
      writeFileSync(join(dir, 'rules.yml'), stringify(stripped));
      writeFileSync(join(dir, 'tests.yml'), stringify({ ...readYaml(RULE_TESTS), rule_files: ['rules.yml'] }));
      const test = spawnSync('promtool', ['test', 'rules', join(dir, 'tests.yml')], { encoding: 'utf8' });
      expect({ status: test.status, output: test.stdout + test.stderr }).toEqual({
        status: 0,
        output: expect.stringContaining('SUCCESS'),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('parseExpr', () => {
  it('separates metrics from functions, grouping labels, matchers, durations and strings', () => {
    const p = parseExpr(
      'sum by (namespace, action) (rate(provider_requests_total{outcome!="succeeded", action=~"a|b"}[5m])) / on (namespace) time() > 0.2 and x_total offset 5m',
    );
    expect([...p.metrics].sort()).toEqual(['provider_requests_total', 'x_total']);
    expect([...p.groupingLabels].sort()).toEqual(['action', 'namespace']);
    expect(p.matchers).toEqual([
      { metric: 'provider_requests_total', label: 'outcome', op: '!=', value: 'succeeded' },
      { metric: 'provider_requests_total', label: 'action', op: '=~', value: 'a|b' },
    ]);
  });
});

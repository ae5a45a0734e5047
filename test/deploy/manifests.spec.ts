import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ipaddr from 'ipaddr.js';
import { loadConfig } from '../../config/app-config';
import { refusedAddressReason } from '../../src/recharge/infrastructure/callbacks/callback-address.policy';
import {
  K8sObject,
  byKey,
  find,
  imageName,
  kubectlKustomize,
  onPath,
  podContainers,
  podSpec,
  readYaml,
  readYamlDocuments,
  render,
  repoRoot,
} from './kustomize-lite';

/**
 * The deployment files against the code they deploy: ports, probe paths, shutdown timings, the
 * start and migrate commands and the environment variables must all be the ones the service has.
 * No network and no cluster; `kubectl kustomize` is used as a cross-check only when installed.
 */
const K8S = join(repoRoot, 'config/k8s');
const BASE = join(K8S, 'base');
const OVERLAYS = ['dev', 'staging', 'prod'] as const;
const APP = 'alicloud-recharge';
const SECRET_KEYS = [
  'ALIBABA_CLOUD_ACCESS_KEY_ID',
  'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
  'PROVIDER_WEBHOOK_SECRETS',
  'DATABASE_URL',
];
const defaults = loadConfig({});
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
const source = (path: string) => readFileSync(join(repoRoot, path), 'utf8');

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

function container(objects: K8sObject[], kind: string, name: string): any {
  return podContainers(find(objects, kind, name))[0];
}

/** Environment variables the code reads: the validated ones of docs/configuration.md, plus OTEL_* (standard). */
const appEnv = new Set([...source('config/app-config.ts').matchAll(/\b([A-Z][A-Z0-9_]+)\?:/g)].map((m) => m[1]));
const simulatorEnv = new Set(
  [...source('libs/bss-simulator/simulator-env.ts').matchAll(/\b(SIMULATOR_[A-Z0-9_]+)\b/g)].map((m) => m[1]),
);

function effectiveEnv(objects: K8sObject[], c: any): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    Object.assign(env, find(objects, 'ConfigMap', from.configMapRef.name).data);
  }
  for (const e of c.env ?? []) {
    // Stand-ins with the shapes config/app-config.ts validates; the real values live in the Secret.
    const dummy: Record<string, string> = {
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'test-key-id',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'test-key-secret',
      PROVIDER_WEBHOOK_SECRETS: `whsec_${Buffer.from('0123456789abcdefghijklmnopqrstuv').toString('base64')}`,
      DATABASE_URL: 'postgres://user:pass@db:5432/recharge',
      MIGRATION_DATABASE_URL: 'postgres://owner:pass@db:5432/recharge',
    };
    env[e.name] = e.value ?? (e.valueFrom?.secretKeyRef ? dummy[e.valueFrom.secretKeyRef.key] : `<${e.name}>`);
  }
  return env;
}

describe('config/k8s', () => {
  const base = render(BASE);
  const deployment = find(base, 'Deployment', APP);
  const pod = podSpec(deployment);
  const app = container(base, 'Deployment', APP);
  const rendered = Object.fromEntries(OVERLAYS.map((o) => [o, render(join(K8S, 'overlays', o))])) as Record<
    (typeof OVERLAYS)[number],
    K8sObject[]
  >;

  it('parses: every YAML file is valid and every object has apiVersion, kind and a name', () => {
    const files = filesUnder(K8S).filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).toBeGreaterThanOrEqual(15);
    for (const f of files) {
      for (const doc of readYamlDocuments(f)) {
        expect({ file: relative(repoRoot, f), apiVersion: typeof doc.apiVersion, kind: typeof doc.kind }).toEqual({
          file: relative(repoRoot, f),
          apiVersion: 'string',
          kind: 'string',
        });
        if (doc.kind !== 'Kustomization') expect(doc.metadata?.name).toEqual(expect.any(String));
      }
    }
  });

  it('renders the base and each overlay the way kubectl kustomize does (when kubectl is installed)', () => {
    if (!onPath('kubectl')) {
      console.log('kubectl not on PATH: skipping the `kubectl kustomize` cross-check of kustomize-lite');
      return;
    }
    expect(byKey(render(BASE))).toEqual(byKey(kubectlKustomize(BASE)));
    for (const o of OVERLAYS) expect(byKey(rendered[o])).toEqual(byKey(kubectlKustomize(join(K8S, 'overlays', o))));
  });

  it('lists every base manifest in the base kustomization, except the Secret example', () => {
    const listed = readYaml(join(BASE, 'kustomization.yaml')).resources as string[];
    const present = readdirSync(BASE).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...listed].sort()).toEqual(present.filter((f) => f !== 'secret.example.yaml').sort());
    for (const k of filesUnder(K8S).filter((f) => f.endsWith('kustomization.yaml'))) {
      expect(readYaml(k).resources ?? []).not.toContain('secret.example.yaml');
      expect(JSON.stringify(readYaml(k))).not.toMatch(/secret\.example/);
    }
  });

  describe('Deployment (base)', () => {
    it('runs 3 replicas, the HPA minimum', () => {
      expect(deployment.spec.replicas).toBe(3);
      const hpa = find(base, 'HorizontalPodAutoscaler', APP);
      expect(hpa.apiVersion).toBe('autoscaling/v2');
      expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: APP });
      expect(hpa.spec.minReplicas).toBe(3);
      expect(hpa.spec.maxReplicas).toBeGreaterThanOrEqual(hpa.spec.minReplicas);
      expect(hpa.spec.metrics).toContainEqual({
        type: 'Resource',
        resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
      });
    });

    it('exposes the port named http as containerPort = the service default PORT, not overridden', () => {
      expect(app.ports).toContainEqual(expect.objectContaining({ name: 'http', containerPort: defaults.port }));
      expect(defaults.port).toBe(3000);
      for (const o of [base, ...Object.values(rendered)]) {
        const env = effectiveEnv(o, container(o, 'Deployment', APP));
        if (env.PORT !== undefined) expect(Number(env.PORT)).toBe(defaults.port);
      }
    });

    it('probes /health/live (startup, liveness) and /health/ready (readiness) on port http, routes the app serves', () => {
      expect(app.startupProbe.httpGet).toEqual({ path: '/health/live', port: 'http' });
      expect(app.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'http' });
      expect(app.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'http' });
      const health = source('src/health/health.module.ts');
      expect(health).toMatch(/@Controller\('health'\)/);
      expect(health).toMatch(/@Get\('live'\)/);
      expect(health).toMatch(/@Get\('ready'\)/);
      // Liveness must not depend on the database, or a database outage restarts every pod.
      const live = health.slice(health.indexOf("@Get('live')"), health.indexOf("@Get('ready')"));
      expect(live).not.toMatch(/em\.|database|Migration/i);
    });

    it('lets the startup probe outlast start-time migrations (≥ 60 s)', () => {
      const p = app.startupProbe;
      expect(p.periodSeconds * p.failureThreshold).toBeGreaterThanOrEqual(60);
    });

    it('waits for drain + grace before the SIGKILL (terminationGracePeriodSeconds), with the defaults and every overlay', () => {
      const need = (drainMs: number, graceMs: number) => Math.ceil((drainMs + graceMs) / 1000) + 5;
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(
        need(defaults.shutdownDrainDelayMs, defaults.shutdownGraceMs),
      );
      for (const o of [base, ...Object.values(rendered)]) {
        const c = loadConfig(effectiveEnv(o, container(o, 'Deployment', APP)));
        expect(podSpec(find(o, 'Deployment', APP)).terminationGracePeriodSeconds).toBeGreaterThanOrEqual(
          need(c.shutdownDrainDelayMs, c.shutdownGraceMs),
        );
      }
      // The container runs node itself (Dockerfile CMD), so the SIGTERM reaches the service.
      expect(app.command).toBeUndefined();
    });

    it('runs as non-root with a read-only root filesystem and no privileges', () => {
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(app.securityContext).toMatchObject({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
      expect(pod.automountServiceAccountToken).toBe(false);
      const writable = (app.volumeMounts ?? []).map((m: any) => m.mountPath);
      expect(writable).toEqual(['/tmp']);
    });

    it('sets requests and limits that fit the 300 MB RSS target, and a heap limit below the memory limit', () => {
      const mi = (q: string) => Number(q.replace(/Mi$/, ''));
      expect(app.resources.requests).toEqual({ cpu: expect.any(String), memory: expect.stringMatching(/Mi$/) });
      expect(app.resources.limits).toEqual({ cpu: expect.any(String), memory: expect.stringMatching(/Mi$/) });
      expect(mi(app.resources.limits.memory) * 1024 * 1024).toBeGreaterThan(300e6);
      const heap = Number(
        /--max-old-space-size=(\d+)/.exec(app.env.find((e: any) => e.name === 'NODE_OPTIONS').value)![1],
      );
      expect(heap).toBeLessThan(mi(app.resources.limits.memory));
    });

    it('takes configuration from the ConfigMap and the four credentials from a Secret', () => {
      expect(app.envFrom).toEqual([{ configMapRef: { name: 'alicloud-recharge-config' } }]);
      for (const key of SECRET_KEYS) {
        expect(app.env).toContainEqual({
          name: key,
          valueFrom: { secretKeyRef: { name: 'alicloud-recharge-secrets', key } },
        });
      }
    });

    it('uses only environment variables the service knows (a typo would be silently ignored)', () => {
      const extra = new Set(['NODE_OPTIONS', 'POD_NAME', 'POD_NAMESPACE']);
      for (const o of [base, ...Object.values(rendered)]) {
        for (const name of Object.keys(effectiveEnv(o, container(o, 'Deployment', APP)))) {
          expect({ name, known: appEnv.has(name) || name.startsWith('OTEL_') || extra.has(name) }).toEqual({
            name,
            known: true,
          });
        }
      }
      expect(appEnv).toContain('SHUTDOWN_DRAIN_DELAY_MS');
    });

    it('is scraped by Prometheus at /metrics on the metrics port (METRICS_PORT), apart from the API port', () => {
      const config = loadConfig(effectiveEnv(base, app));
      expect(config.metricsPort).not.toBeNull();
      expect(config.metricsPort).not.toBe(config.port);
      expect(app.ports).toContainEqual({ name: 'metrics', containerPort: config.metricsPort, protocol: 'TCP' });
      expect(deployment.spec.template.metadata.annotations).toEqual({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(config.metricsPort),
        'prometheus.io/path': '/metrics',
      });
      expect(source('src/main.ts')).toMatch(/startMetricsServer\(/);
      expect(source('src/observability/metrics-server.ts')).toMatch(/'\/metrics'/);
      // The Service exposes the API port only.
      expect(find(base, 'Service', APP).spec.ports.map((p: any) => p.targetPort)).toEqual(['http']);
    });

    it('does not migrate at start: its database role has no DDL rights (the Job migrates)', () => {
      expect(loadConfig(effectiveEnv(base, app)).migrateOnStart).toBe(false);
      expect(source('src/main.ts')).toMatch(/if \(config\.migrateOnStart\) \{\s*const applied = await runMigrations/);
    });

    it('spreads replicas over zones and nodes, counting only its own pods', () => {
      const keys = pod.topologySpreadConstraints.map((t: any) => t.topologyKey);
      expect(keys).toEqual(expect.arrayContaining(['topology.kubernetes.io/zone', 'kubernetes.io/hostname']));
      for (const t of pod.topologySpreadConstraints)
        expect(t.labelSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    });

    it('rolls out without losing capacity', () => {
      expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 });
    });
  });

  describe('Service, PDB, migration Job (base)', () => {
    const podLabels = deployment.spec.template.metadata.labels;
    const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
      Object.entries(selector).every(([k, v]) => labels[k] === v);

    it('the Service and the PDB select the API pods and not the migration pods', () => {
      const service = find(base, 'Service', APP);
      const pdb = find(base, 'PodDisruptionBudget', APP);
      const jobLabels = find(base, 'Job', 'alicloud-recharge-migrate').spec.template.metadata.labels;
      expect(selects(service.spec.selector, podLabels)).toBe(true);
      expect(selects(service.spec.selector, jobLabels)).toBe(false);
      expect(selects(pdb.spec.selector.matchLabels, podLabels)).toBe(true);
      expect(selects(pdb.spec.selector.matchLabels, jobLabels)).toBe(false);
      expect(selects(deployment.spec.selector.matchLabels, jobLabels)).toBe(false);
      expect(service.spec.ports).toEqual([expect.objectContaining({ name: 'http', targetPort: 'http' })]);
    });

    it('the PDB allows one voluntary disruption at a time (never blocks a drain, never empties the service)', () => {
      const pdb = find(base, 'PodDisruptionBudget', APP);
      expect(pdb.apiVersion).toBe('policy/v1');
      expect(pdb.spec.maxUnavailable ?? null).toBe(1);
    });

    it('the Job runs `npm run migrate` as node directly, with the Deployment image and security, and only DATABASE_URL (the migrator role)', () => {
      const job = find(base, 'Job', 'alicloud-recharge-migrate');
      const c = container(base, 'Job', 'alicloud-recharge-migrate');
      expect(pkg.scripts.migrate).toBe('node dist/src/migrate.js');
      expect(c.command).toEqual(pkg.scripts.migrate.split(' '));
      expect(c.image).toBe(app.image);
      // No provider keys, no webhook secrets, no ConfigMap: the DDL role's URL and nothing else.
      expect(c.envFrom).toBeUndefined();
      expect(c.env).toEqual([
        {
          name: 'DATABASE_URL',
          valueFrom: { secretKeyRef: { name: 'alicloud-recharge-secrets', key: 'MIGRATION_DATABASE_URL' } },
        },
      ]);
      expect(podSpec(job).restartPolicy).toBe('Never');
      expect(podSpec(job).securityContext).toEqual(pod.securityContext);
      expect(c.securityContext).toEqual(app.securityContext);
      expect(job.spec.backoffLimit).toBeLessThanOrEqual(3);
      // dist/src/migrate.js is compiled from src/migrate.ts, which validates the database settings only.
      expect(source('src/migrate.ts')).toMatch(/loadConfig\(onlyDatabaseSettings\(process\.env\)\)/);
      for (const o of Object.values(rendered))
        expect(() => loadConfig(effectiveEnv(o, container(o, 'Job', 'alicloud-recharge-migrate')))).not.toThrow();
    });
  });

  describe('overlays', () => {
    const secretNames = (objects: K8sObject[]) =>
      new Set(
        objects
          .flatMap(podContainers)
          .flatMap((c) => (c.env ?? []).map((e: any) => e.valueFrom?.secretKeyRef?.name).filter(Boolean)),
      );
    const config = (o: (typeof OVERLAYS)[number]) =>
      loadConfig(effectiveEnv(rendered[o], container(rendered[o], 'Deployment', APP)));

    it('each puts every object in its own namespace', () => {
      const namespaces = OVERLAYS.map((o) => {
        const ns = new Set(rendered[o].map((x) => x.metadata.namespace));
        expect(ns.size).toBe(1);
        return [...ns][0];
      });
      expect(new Set(namespaces).size).toBe(OVERLAYS.length);
      expect(namespaces).toEqual(OVERLAYS.map((o) => `alicloud-recharge-${o}`));
    });

    it('each refers to its own Secret, from every workload: four credentials for the service, the migrator URL for the Job', () => {
      const names = OVERLAYS.map((o) => {
        const s = secretNames(rendered[o]);
        expect(s.size).toBe(1);
        for (const [kind, keys] of [
          ['Deployment', SECRET_KEYS],
          ['Job', ['MIGRATION_DATABASE_URL']],
        ] as const) {
          const w = rendered[o].find((x) => x.kind === kind)!;
          const refs = podContainers(w)[0]
            .env.filter((e: any) => e.valueFrom?.secretKeyRef)
            .map((e: any) => e.valueFrom.secretKeyRef.key);
          expect(refs.sort()).toEqual([...keys].sort());
        }
        return [...s][0];
      });
      expect(new Set(names).size).toBe(OVERLAYS.length);
      expect(names).not.toContain('alicloud-recharge-secrets');
    });

    it('dev talks to the in-cluster simulator; staging and prod to Alibaba Cloud over https', () => {
      expect(config('dev').alibabaCloud.endpoint).toBe('http://bss-simulator:8089');
      const sim = find(rendered.dev, 'Service', 'bss-simulator');
      expect(sim.spec.ports[0].port).toBe(8089);
      const simContainer = container(rendered.dev, 'Deployment', 'bss-simulator');
      expect(simContainer.command).toEqual(['node', 'dist/libs/bss-simulator/main.js']);
      expect(pkg.scripts.simulator).toContain('node dist/libs/bss-simulator/main.js');
      for (const e of simContainer.env) expect(simulatorEnv).toContain(e.name);
      for (const o of ['staging', 'prod'] as const) {
        const c = config(o);
        expect(c.provider).toBe('alibaba-cloud');
        expect(c.alibabaCloud.endpoint).toMatch(/^https:\/\/business(\.ap-southeast-1)?\.aliyuncs\.com$/);
        expect(c.warnings).toEqual([]);
      }
    });

    it('each configuration passes the service validation, with the shutdown budget intact', () => {
      for (const o of OVERLAYS) {
        const c = config(o);
        expect(c.databaseUrl).not.toBeNull();
        expect(c.simulatorEmbedded).toBe(false);
        expect(c.shutdownDrainDelayMs).toBeGreaterThan(0);
      }
    });

    it('each pins an image tag of its own (never latest), on every container', () => {
      const tags = OVERLAYS.map((o) => {
        const images = new Set(rendered[o].flatMap(podContainers).map((c) => c.image));
        expect(images.size).toBe(1);
        const [image] = [...images];
        expect(imageName(image)).not.toBe('alicloud-recharge');
        expect(image).toMatch(/[:@]/);
        expect(image).not.toMatch(/:latest$/);
        return image;
      });
      expect(new Set(tags).size).toBe(OVERLAYS.length);
    });

    it('dev runs one replica that a node drain may evict; prod keeps the base scale', () => {
      const dev = rendered.dev;
      expect(find(dev, 'Deployment', APP).spec.replicas).toBe(1);
      expect(find(dev, 'HorizontalPodAutoscaler', APP).spec.minReplicas).toBe(1);
      expect(find(dev, 'PodDisruptionBudget', APP).spec).toMatchObject({ maxUnavailable: '100%' });
      expect(find(dev, 'PodDisruptionBudget', APP).spec.minAvailable).toBeUndefined();
      const prod = rendered.prod;
      expect(find(prod, 'Deployment', APP).spec.replicas).toBe(3);
      expect(find(prod, 'HorizontalPodAutoscaler', APP).spec.minReplicas).toBe(3);
      for (const o of OVERLAYS) {
        const hpa = find(rendered[o], 'HorizontalPodAutoscaler', APP).spec;
        expect(find(rendered[o], 'Deployment', APP).spec.replicas).toBe(hpa.minReplicas);
      }
    });
  });

  describe('NetworkPolicies', () => {
    const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
      Object.entries(selector).every(([k, v]) => labels[k] === v);
    const policiesFor = (objects: K8sObject[], kind: string, name: string) => {
      const labels = find(objects, kind, name).spec.template.metadata.labels;
      return objects
        .filter((o) => o.kind === 'NetworkPolicy')
        .filter((p) => selects(p.spec.podSelector.matchLabels ?? {}, labels));
    };
    const all = { base, ...rendered } as Record<string, K8sObject[]>;
    const portOf = (c: any, port: number | string) =>
      typeof port === 'number' ? port : c.ports.find((p: any) => p.name === port).containerPort;
    const inCidr = (address: string, cidr: string) => ipaddr.parse(address).match(ipaddr.parseCIDR(cidr));

    it('select every pod of the service and of the migration Job, in both directions, in every environment', () => {
      for (const [env, objects] of Object.entries(all)) {
        for (const [kind, name] of [
          ['Deployment', APP],
          ['Job', 'alicloud-recharge-migrate'],
        ]) {
          const types = new Set(policiesFor(objects, kind, name).flatMap((p) => p.spec.policyTypes));
          expect({ env, kind, types: [...types].sort() }).toEqual({ env, kind, types: ['Egress', 'Ingress'] });
        }
        for (const p of objects.filter((o) => o.kind === 'NetworkPolicy'))
          expect(p.metadata.namespace).toBe(env === 'base' ? undefined : `alicloud-recharge-${env}`);
      }
    });

    it('let in only clients and the provider relay on the API port, and Prometheus on the metrics port only', () => {
      const config = loadConfig(effectiveEnv(base, app));
      const allowed: string[] = [];
      for (const p of policiesFor(base, 'Deployment', APP)) {
        for (const rule of p.spec.ingress ?? []) {
          // Never "from anywhere": every rule names its peers and its ports.
          expect(rule.from?.length).toBeGreaterThan(0);
          expect(rule.ports?.length).toBeGreaterThan(0);
          for (const peer of rule.from) {
            expect(peer.ipBlock).toBeUndefined();
            for (const port of rule.ports) {
              allowed.push(`${JSON.stringify(peer)} → ${portOf(app, port.port)}/${port.protocol}`);
            }
          }
        }
      }
      const ns = (labels: Record<string, string>) => ({ namespaceSelector: { matchLabels: labels } });
      expect(allowed.sort()).toEqual(
        [
          `${JSON.stringify(ns({ 'alicloud-recharge.io/client': 'true' }))} → ${config.port}/TCP`,
          `${JSON.stringify(ns({ 'alicloud-recharge.io/provider-relay': 'true' }))} → ${config.port}/TCP`,
          `${JSON.stringify({
            ...ns({ 'kubernetes.io/metadata.name': 'monitoring' }),
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
          })} → ${config.metricsPort}/TCP`,
        ].sort(),
      );
    });

    it('let the service out only to DNS, PostgreSQL, the OTLP collector, and public addresses on 443/80 (BSS, callbacks)', () => {
      const rules = policiesFor(base, 'Deployment', APP).flatMap((p) => p.spec.egress ?? []);
      for (const rule of rules) {
        expect(rule.to?.length).toBeGreaterThan(0);
        expect(rule.ports?.length).toBeGreaterThan(0);
      }
      const ports = (rule: any) => rule.ports.map((p: any) => `${p.port}/${p.protocol}`).sort();
      const dns = rules.filter((r: any) => r.to[0].podSelector?.matchLabels?.['k8s-app'] === 'kube-dns');
      expect(dns.map(ports)).toEqual([['53/TCP', '53/UDP']]);
      const database = rules.filter(
        (r: any) => r.to[0].namespaceSelector?.matchLabels?.['alicloud-recharge.io/database'],
      );
      expect(database.map(ports)).toEqual([['5432/TCP']]);
      const otlp = new URL(effectiveEnv(base, app).OTEL_EXPORTER_OTLP_ENDPOINT);
      const collector = rules.filter(
        (r: any) =>
          r.to[0].namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === otlp.hostname.split('.')[1],
      );
      expect(collector.map(ports)).toEqual([[`${otlp.port}/TCP`]]);
      const internet = rules.filter((r: any) => r.to[0].ipBlock);
      expect(internet).toHaveLength(1);
      expect(ports(internet[0])).toEqual(['443/TCP', '80/TCP']);
      expect(rules).toHaveLength(4);
      // The BSS endpoint of staging and prod is https, so port 443.
      for (const o of ['staging', 'prod'] as const) {
        const endpoint = loadConfig(effectiveEnv(rendered[o], container(rendered[o], 'Deployment', APP))).alibabaCloud
          .endpoint;
        expect(new URL(endpoint).protocol).toBe('https:');
      }
      // The public block excludes what the service's own callback check refuses.
      const block = internet[0].to[0].ipBlock;
      expect(block.cidr).toBe('0.0.0.0/0');
      for (const address of [
        '10.1.2.3',
        '172.16.0.1',
        '192.168.1.1',
        '127.0.0.1',
        '169.254.169.254',
        '100.64.0.1',
        '0.0.0.0',
        '224.0.0.1',
        '240.0.0.1',
      ]) {
        expect(refusedAddressReason(address)).not.toBeNull();
        expect({ address, excepted: block.except.some((c: string) => inCidr(address, c)) }).toEqual({
          address,
          excepted: true,
        });
      }
      expect(block.except.some((c: string) => inCidr('93.184.215.14', c))).toBe(false);
    });

    it('dev also lets the service reach its in-cluster simulator on the endpoint port, and lets the simulator notify it', () => {
      const endpoint = new URL(
        loadConfig(effectiveEnv(rendered.dev, container(rendered.dev, 'Deployment', APP))).alibabaCloud.endpoint,
      );
      const policies = policiesFor(rendered.dev, 'Deployment', APP);
      const toSimulator = policies
        .flatMap((p) => p.spec.egress ?? [])
        .filter((r: any) => r.to?.[0]?.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'bss-simulator');
      expect(toSimulator.map((r: any) => r.ports.map((p: any) => p.port))).toEqual([[Number(endpoint.port)]]);
      const fromSimulator = policies
        .flatMap((p) => p.spec.ingress ?? [])
        .filter((r: any) => r.from?.[0]?.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'bss-simulator');
      expect(fromSimulator.map((r: any) => r.ports.map((p: any) => p.port))).toEqual([['http']]);
      // Staging and prod get nothing beyond the base policies.
      for (const o of ['staging', 'prod'] as const)
        expect(
          rendered[o]
            .filter((x) => x.kind === 'NetworkPolicy')
            .map((p) => p.metadata.name)
            .sort(),
        ).toEqual(['alicloud-recharge-api', 'alicloud-recharge-migrate']);
    });

    it('the migration Job: nothing in; DNS and PostgreSQL out, nothing else', () => {
      for (const objects of Object.values(all)) {
        const policies = policiesFor(objects, 'Job', 'alicloud-recharge-migrate');
        expect(policies.flatMap((p) => p.spec.ingress ?? [])).toEqual([]);
        const egress = policies.flatMap((p) => p.spec.egress ?? []);
        expect(egress.map((r: any) => r.ports.map((p: any) => `${p.port}/${p.protocol}`).sort())).toEqual([
          ['53/TCP', '53/UDP'],
          ['5432/TCP'],
        ]);
      }
    });
  });

  describe('no credentials committed', () => {
    const files = filesUnder(K8S);

    it('has no Secret object with data, except the documented example of placeholders', () => {
      for (const f of files.filter((x) => /\.ya?ml$/.test(x))) {
        for (const doc of readYamlDocuments(f)) {
          if (doc.kind !== 'Secret') continue;
          expect(relative(K8S, f)).toBe('base/secret.example.yaml');
          expect(doc.data).toBeUndefined();
          expect(Object.keys(doc.stringData).sort()).toEqual([...SECRET_KEYS, 'MIGRATION_DATABASE_URL'].sort());
          for (const value of Object.values(doc.stringData) as string[]) expect(value).toMatch(/<[^>]+>/);
        }
      }
    });

    it('contains no literal key, webhook secret, password or private key in any file', () => {
      const patterns: Array<[string, RegExp]> = [
        ['Alibaba Cloud AccessKey ID', /\bLTAI[A-Za-z0-9]{12,}\b/],
        ['Standard Webhooks secret', /whsec_[A-Za-z0-9+/=]{16,}/],
        ['password in a URL', /[a-z][a-z0-9+.-]*:\/\/[^\s:/@<]+:(?!<)[^\s@/]+@/i],
        ['private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
        ['base64 blob', /[A-Za-z0-9+/]{40,}={0,2}/],
      ];
      for (const f of files) {
        const text = readFileSync(f, 'utf8');
        for (const [what, re] of patterns)
          expect({ file: relative(repoRoot, f), what, match: re.exec(text)?.[0] ?? null }).toEqual({
            file: relative(repoRoot, f),
            what,
            match: null,
          });
      }
    });

    it('gives every credential-like variable through valueFrom, never a value', () => {
      for (const o of [base, ...Object.values(rendered)]) {
        for (const c of o.flatMap(podContainers)) {
          for (const e of c.env ?? []) {
            if (/SECRET|PASSWORD|TOKEN|ACCESS_KEY|DATABASE_URL/.test(e.name))
              expect({ name: e.name, value: e.value }).toEqual({ name: e.name, value: undefined });
          }
        }
        for (const cm of o.filter((x) => x.kind === 'ConfigMap')) {
          for (const key of Object.keys(cm.data ?? {}))
            expect(key).not.toMatch(/SECRET|PASSWORD|TOKEN|ACCESS_KEY|DATABASE_URL/);
        }
      }
    });
  });
});

describe('Dockerfile', () => {
  type Instruction = { op: string; args: string };
  const text = source('Dockerfile');
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const stages: Array<{ from: string; name: string | null; steps: Instruction[] }> = [];
  for (const line of lines) {
    const [, op, rest] = /^(\S+)\s+(.*)$/.exec(line)!;
    const instruction = { op: op.toUpperCase(), args: rest.trim() };
    if (instruction.op === 'ARG' && stages.length === 0) {
      const [k, v] = instruction.args.split('=');
      args[k] = v;
    } else if (instruction.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args)!;
      stages.push({ from: m[1].replace(/\$\{(\w+)\}/g, (_, k) => args[k]), name: m[2] ?? null, steps: [] });
    } else {
      stages[stages.length - 1].steps.push(instruction);
    }
  }
  const final = stages[stages.length - 1];
  const last = (stage: typeof final, op: string) => stage.steps.filter((s) => s.op === op).pop()?.args;
  const runs = (stage: typeof final) =>
    stage.steps
      .filter((s) => s.op === 'RUN')
      .map((s) => s.args)
      .join('\n');

  it('builds in stages on a pinned node 24 slim image, the runtime package.json declares', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.from).toMatch(/^node:24\.\d+\.\d+-(bookworm-)?slim(@sha256:[0-9a-f]{64})?$/);
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe('>=24');
    const build = stages.find((s) => s.name === 'build')!;
    expect(runs(build)).toMatch(/npm ci\b/);
    expect(runs(build)).toMatch(/npm run build\b/);
  });

  it('copies everything tsconfig.build.json compiles into the build stage', () => {
    const build = stages.find((s) => s.name === 'build')!;
    const copied = build.steps.filter((s) => s.op === 'COPY').flatMap((s) => s.args.split(/\s+/).slice(0, -1));
    const tsconfig = readYaml(join(repoRoot, 'tsconfig.build.json'));
    for (const dir of tsconfig.include as string[]) expect(copied).toContain(dir);
    expect(copied).toEqual(
      expect.arrayContaining(['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']),
    );
  });

  it('ships only dist/ and production dependencies', () => {
    const copies = final.steps.filter((s) => s.op === 'COPY').map((s) => s.args);
    expect(copies).toContain('--from=build /app/dist ./dist');
    expect(copies.every((c) => c.startsWith('--from=') || c === 'package.json ./')).toBe(true);
    const depsStage = stages.find((s) => copies.some((c) => c.startsWith(`--from=${s.name} /app/node_modules`)))!;
    expect(runs(depsStage)).toMatch(/npm ci\b.*--omit=dev/);
    expect(runs(final)).toBe('');
  });

  it('runs as non-root, in production mode, on the service port', () => {
    const user = last(final, 'USER')!;
    expect(user).toBeDefined();
    expect(user.split(':')[0]).not.toMatch(/^(0|root)$/);
    const uid = Number(user.split(':')[0]);
    // Numeric, so runAsNonRoot can verify it; and the same uid the manifests run as.
    expect(Number.isInteger(uid) && uid > 0).toBe(true);
    expect(uid).toBe(podSpec(find(render(BASE), 'Deployment', APP)).securityContext.runAsUser);
    expect(final.steps.filter((s) => s.op === 'ENV').map((s) => s.args)).toContain('NODE_ENV=production');
    expect(last(final, 'EXPOSE')).toBe(String(defaults.port));
  });

  it('starts with node directly (so SIGTERM reaches it), the same command as npm run start:prod', () => {
    const cmd = JSON.parse(last(final, 'CMD')!);
    expect(cmd).toEqual(['node', '--max-semi-space-size=16', 'dist/src/main.js']);
    expect(cmd).toEqual(pkg.scripts['start:prod'].split(' '));
    // npm start runs the same command after building, young-generation size included.
    expect(pkg.scripts.start).toBe(`npm run build && ${pkg.scripts['start:prod']}`);
    expect(final.steps.some((s) => s.op === 'ENTRYPOINT')).toBe(false);
  });

  it('.dockerignore keeps local state and deployment files out of the build context', () => {
    const ignored = source('.dockerignore')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    expect(ignored).toEqual(
      expect.arrayContaining([
        'node_modules',
        'dist',
        '.data',
        '.test-data',
        '.git',
        'coverage',
        '.env',
        'config/k8s',
        'config/alerts',
      ]),
    );
    expect(ignored.some((p) => p === 'bench' || p === 'bench/results.json')).toBe(true);
    for (const needed of ['src', 'libs', 'config', 'migrations', 'package.json', 'package-lock.json'])
      expect(ignored).not.toContain(needed);
  });
});

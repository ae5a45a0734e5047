import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

/**
 * Just enough of kustomize to render config/k8s without kubectl: resources, namespace, images,
 * replicas, configMapGenerator (merge) and strategic-merge patches, for the features those files
 * use. Anything else throws, so a new kustomize feature cannot be silently ignored. When kubectl is
 * on PATH, manifests.spec.ts checks this renderer against `kubectl kustomize`.
 */
export type K8sObject = Record<string, any> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string } & Record<string, any>;
};

const SUPPORTED_KEYS = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'resources',
  'images',
  'replicas',
  'configMapGenerator',
  'patches',
]);

export function readYamlDocuments(file: string): any[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  return docs
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJS();
    })
    .filter((d) => d !== null && d !== undefined);
}

export function readYaml(file: string): any {
  const docs = readYamlDocuments(file);
  if (docs.length !== 1) throw new Error(`${file}: expected one YAML document, found ${docs.length}`);
  return docs[0];
}

export function kustomizationFile(dir: string): string {
  const file = join(dir, 'kustomization.yaml');
  if (!existsSync(file)) throw new Error(`no kustomization.yaml in ${dir}`);
  return file;
}

export function render(dir: string): K8sObject[] {
  const k = readYaml(kustomizationFile(dir));
  for (const key of Object.keys(k)) {
    if (!SUPPORTED_KEYS.has(key))
      throw new Error(`${dir}/kustomization.yaml: kustomize-lite does not support "${key}"`);
  }
  let objects: K8sObject[] = [];
  for (const entry of (k.resources ?? []) as string[]) {
    const path = resolve(dir, entry);
    objects.push(...(statSync(path).isDirectory() ? render(path) : (readYamlDocuments(path) as K8sObject[])));
  }
  for (const gen of (k.configMapGenerator ?? []) as any[]) {
    if (gen.behavior !== 'merge' || Object.keys(gen).some((key) => !['name', 'behavior', 'literals'].includes(key))) {
      throw new Error(`${dir}: only configMapGenerator { name, behavior: merge, literals } is supported`);
    }
    const target = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === gen.name);
    if (!target) throw new Error(`${dir}: configMapGenerator merges into missing ConfigMap ${gen.name}`);
    for (const literal of gen.literals as string[]) {
      const at = literal.indexOf('=');
      target.data = { ...(target.data ?? {}), [literal.slice(0, at)]: literal.slice(at + 1) };
    }
  }
  for (const patch of (k.patches ?? []) as any[]) {
    if (!patch.path || Object.keys(patch).length !== 1)
      throw new Error(`${dir}: only patches with a path are supported`);
    for (const doc of readYamlDocuments(resolve(dir, patch.path)) as K8sObject[]) {
      const i = objects.findIndex((o) => o.kind === doc.kind && o.metadata.name === doc.metadata.name);
      if (i < 0) throw new Error(`${dir}/${patch.path}: no ${doc.kind} ${doc.metadata.name} to patch`);
      objects[i] = strategicMerge(objects[i], doc) as K8sObject;
    }
  }
  if (k.namespace) objects = objects.map((o) => ({ ...o, metadata: { ...o.metadata, namespace: k.namespace } }));
  for (const image of (k.images ?? []) as any[]) {
    for (const container of objects.flatMap(podContainers)) {
      if (imageName(container.image) !== image.name) continue;
      container.image = `${image.newName ?? image.name}${image.digest ? `@${image.digest}` : image.newTag ? `:${image.newTag}` : ''}`;
    }
  }
  for (const r of (k.replicas ?? []) as any[]) {
    const target = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === r.name);
    if (!target) throw new Error(`${dir}: replicas for missing Deployment ${r.name}`);
    target.spec.replicas = r.count;
  }
  return objects;
}

/** Strategic merge as far as these manifests need: maps merge, lists of named items merge by name, null deletes. */
export function strategicMerge(base: unknown, patch: unknown): unknown {
  if (
    Array.isArray(base) &&
    Array.isArray(patch) &&
    [...base, ...patch].every((x) => isMap(x) && typeof x.name === 'string')
  ) {
    const merged = base.map((item) => {
      const p = patch.find((q) => q.name === item.name);
      return p ? strategicMerge(item, p) : structuredClone(item);
    });
    for (const p of patch) if (!base.some((item) => item.name === p.name)) merged.push(structuredClone(p));
    return merged;
  }
  if (isMap(base) && isMap(patch)) {
    const out: Record<string, unknown> = structuredClone(base);
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) delete out[key];
      else out[key] = key in out ? strategicMerge(out[key], value) : structuredClone(value);
    }
    return out;
  }
  return structuredClone(patch);
}

export function podSpec(o: K8sObject): any | undefined {
  return o.spec?.template?.spec;
}

export function podContainers(o: K8sObject): any[] {
  const spec = podSpec(o);
  return spec ? [...(spec.initContainers ?? []), ...(spec.containers ?? [])] : [];
}

export function imageName(image: string): string {
  const noDigest = image.split('@')[0];
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} in [${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}]`);
  return o;
}

export function onPath(command: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = join(dir, command);
    if (dir && existsSync(candidate)) return candidate;
  }
  return null;
}

/** The real renderer, when kubectl is installed. */
export function kubectlKustomize(dir: string): K8sObject[] {
  const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseAllDocuments(out)
    .map((d) => d.toJS())
    .filter(Boolean);
}

export function byKey(objects: K8sObject[]): Record<string, K8sObject> {
  return Object.fromEntries(objects.map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o]));
}

export const repoRoot = resolve(__dirname, '..', '..');

function isMap(x: unknown): x is Record<string, any> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

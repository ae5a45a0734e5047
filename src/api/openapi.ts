import { applyDecorators, INestApplication } from '@nestjs/common';
import { ApiHeader, ApiResponse, DocumentBuilder, getSchemaPath, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { ProblemDto } from './dto/problem.response';

/*
 * The OpenAPI document is generated from the controllers' decorators and the response classes in
 * ./dto. What every operation shares (X-Request-Id, 500, 503) is added here once, so a new
 * controller only declares what is its own. The e2e suite validates every real answer against the
 * served document (test/support/openapi-validator.ts).
 */

/** Security scheme names: client API keys on /v1, operator tokens on /admin. */
export const CLIENT_AUTH = 'bearer';
export const OPERATOR_AUTH = 'operator';

const REQUEST_ID_SCHEMA = { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' } as const;

/** Response headers, reusable in `@ApiResponse({ headers })`. */
export const RESPONSE_HEADERS = {
  location: {
    Location: { description: 'the path of the recharge', required: true, schema: { type: 'string' } },
  },
  replayed: {
    'Idempotent-Replayed': {
      description: 'present on the answer to a replayed request (same key, same request)',
      required: true,
      schema: { type: 'string', enum: ['true'] },
    },
  },
  preferenceApplied: {
    'Preference-Applied': {
      description: 'present when a `Prefer: wait=N` was honoured; N is capped at 30',
      required: false,
      schema: { type: 'string', pattern: '^wait=\\d+$' },
    },
  },
  retryAfter: (required: boolean) => ({
    'Retry-After': {
      description: 'seconds to wait before retrying',
      required,
      schema: { type: 'string', pattern: '^\\d+$' },
    },
  }),
};

const PROBLEMS: Record<number, string> = {
  400: 'INVALID_ARGUMENT: the request is invalid; `errors` lists the fields at fault',
  401: 'UNAUTHENTICATED: missing, unknown or revoked credentials (or a bad webhook signature)',
  403: 'UNAUTHORIZED: the credentials may not touch this account',
  404: 'NOT_FOUND: no such resource for this caller (another client’s recharge is 404 too)',
  409: 'INVALID_STATE: the resource is not in a state that allows this',
  413: 'INVALID_ARGUMENT: the body exceeds 64 KB',
  415: 'INVALID_ARGUMENT: the body is not JSON',
  422: 'DUPLICATE_REQUEST: the idempotency key was used before with a different request',
  429: 'RATE_LIMITED: too many requests from this client; see Retry-After',
  500: 'INTERNAL_ERROR: an unexpected error; no internals are disclosed, quote the correlationId',
  502: 'PROVIDER_ERROR: the provider failed in a way that leaves nothing to retry here',
  503: 'UNAVAILABLE: shutting down or the database is unreachable; retry (Retry-After when known)',
  504: 'TIMEOUT: the provider did not answer in time',
};

const problemContent = () => ({ 'application/problem+json': { schema: { $ref: getSchemaPath(ProblemDto) } } });

/** Declares problem+json answers with these statuses (on a controller or a handler). */
export function ApiProblems(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: PROBLEMS[status] ?? 'problem',
        content: problemContent(),
        ...(status === 429 ? { headers: RESPONSE_HEADERS.retryAfter(true) } : {}),
      }),
    ),
  ) as MethodDecorator & ClassDecorator;
}

/** The `Prefer: wait=N` request header of the recharge endpoints. */
export const ApiPreferWait = (): MethodDecorator & ClassDecorator =>
  ApiHeader({
    name: 'Prefer',
    required: false,
    description: '`wait=N` (N ≤ 30): hold the answer until the recharge is final or N seconds pass',
    schema: { type: 'string', example: 'wait=10' },
  });

/** Builds the document from the application's controllers and completes what all operations share. */
export function createOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('alicloud-recharge')
    .setDescription(
      'Tops up Alibaba Cloud customer accounts exactly once. Money is an integer in the currency’s minor ' +
        'unit; account ids are strings. Errors are application/problem+json with `code` and `correlationId`. ' +
        'Every answer carries X-Request-Id.',
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'a client API key (`rk_…`)' }, CLIENT_AUTH)
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'an operator token (`op_…`)' }, OPERATOR_AUTH)
    .build();
  const document = SwaggerModule.createDocument(app, config, { extraModels: [ProblemDto] });
  return completeDocument(document);
}

export function setupOpenApi(app: INestApplication): OpenAPIObject {
  const document = createOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document);
  return document;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

function completeDocument(document: OpenAPIObject): OpenAPIObject {
  for (const item of Object.values(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const parameters = (operation.parameters ??= []);
      if (!parameters.some((p) => 'name' in p && p.name.toLowerCase() === 'x-request-id')) {
        parameters.push({
          name: 'X-Request-Id',
          in: 'header',
          required: false,
          description: 'your correlation id (1–128 of `[A-Za-z0-9._:-]`); otherwise one is generated',
          schema: { ...REQUEST_ID_SCHEMA },
        });
      }
      for (const status of [500, 503]) {
        operation.responses[String(status)] ??= {
          description: PROBLEMS[status],
          content: problemContent(),
          ...(status === 503 ? { headers: RESPONSE_HEADERS.retryAfter(false) } : {}),
        };
      }
      for (const response of Object.values(operation.responses)) {
        if (!response || '$ref' in response) continue;
        response.headers = {
          'X-Request-Id': {
            description: 'the request’s correlation id (the caller’s if valid); the `correlationId` of errors and logs',
            required: true,
            schema: { ...REQUEST_ID_SCHEMA },
          },
          ...response.headers,
        };
      }
    }
  }
  return document;
}

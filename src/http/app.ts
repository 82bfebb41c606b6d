import { existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyPluginCallback, type FastifyReply, type FastifyRequest } from 'fastify';
import type { FastifyBaseLogger } from 'fastify';
import { authenticationHook, type AuthenticationOptions } from './authentication-hook.js';
import { DomainError } from '../errors/domain-errors.js';
import type { ImageService } from '../images/image-service.js';
import type { JsonSchema } from '../images/image-schema.js';
import type { MemberService } from '../images/member-service.js';
import type { ImageDataService } from '../images/image-data-service.js';
import { imageDataRoutes } from './routes/image-data-routes.js';
import type { SocketBodyReader } from './socket-body.js';
import { infoRoutes } from './routes/info-routes.js';
import type { InfoService } from '../info/info-service.js';
import type { SecretService } from '../keymanager/embedded/secret-service.js';
import { keyManagerVersionRoutes, secretRoutes } from './routes/key-manager-routes.js';
import { barbicanErrorBody, renderErrorBody, type ErrorText } from './error-body.js';
import { domainErrorText, INTERNAL_ERROR_TEXT } from './error-mapping.js';
import { imageRoutes } from './routes/image-routes.js';
import { memberRoutes } from './routes/member-routes.js';
import { schemaRoutes } from './routes/schema-routes.js';
import { healthcheckRoutes } from './routes/healthcheck-routes.js';
import { versionRoutes } from './routes/version-routes.js';
import { negotiateUrl } from './versions.js';

export interface AppOptions {
  readonly logger: FastifyBaseLogger;
  /** `public_endpoint`: overrides the host URL in links (reference §1.1). */
  readonly publicEndpoint: string | null;
  readonly maxRequestIdLength: number;
  readonly allowAnonymous: boolean;
  readonly healthcheckDisableFile: string | null;
  readonly images: ImageService;
  readonly members: MemberService;
  readonly data: ImageDataService;
  /** Upload bodies read from the socket, or null to read every body through Node's parser. */
  readonly uploads: SocketBodyReader | null;
  readonly info: InfoService;
  /** The embedded key manager's secrets (Barbican subset under /key-manager), when enabled. */
  readonly secrets: SecretService | null;
  readonly schemas: Readonly<Record<'image' | 'images' | 'member' | 'members', JsonSchema>>;
  readonly authenticator: AuthenticationOptions['authenticator'];
  readonly isAdmin: AuthenticationOptions['isAdmin'];
  /** Extra routes outside /v2, e.g. the embedded identity API under /identity/v3. */
  readonly extraRoutes?: FastifyPluginCallback;
  /** The routes of each domain module under /v2 (tasks and import, ...), authenticated like the rest. */
  readonly moduleRoutes: readonly FastifyPluginCallback[];
  /** `enabled_import_methods`, for the OpenStack-image-import-methods header of image create. */
  readonly importMethods: readonly string[];
}

/** Metadata bodies are small; 1 MiB leaves room for 128 long properties and refuses floods. */
const JSON_BODY_LIMIT = 1024 * 1024;

export function requestBaseUrl(request: FastifyRequest, publicEndpoint: string | null): string {
  if (publicEndpoint !== null) return publicEndpoint.replace(/\/+$/, '');
  return `${request.protocol}://${request.host}`;
}

/**
 * Turns what a handler threw into an answer: a domain error by its code (src/http/error-mapping.ts),
 * Fastify's own 4xx refusals as they are, anything else a logged 500. Each route plugin chooses
 * the body shape its clients read.
 */
function errorHandler(render: (text: ErrorText, request: FastifyRequest) => { contentType: string; body: string }) {
  return async (error: unknown, request: FastifyRequest, reply: FastifyReply): Promise<string> => {
    let text: ErrorText;
    let headers: Readonly<Record<string, string>> = {};
    if (error instanceof DomainError) {
      text = domainErrorText(error);
      headers = error.headers;
    } else if (
      typeof error === 'object' &&
      error !== null &&
      'statusCode' in error &&
      typeof error.statusCode === 'number' &&
      error.statusCode >= 400 &&
      error.statusCode < 500
    ) {
      // Fastify's own refusals (oversized body, bad Content-Length) keep their status.
      const status = error.statusCode;
      text = {
        status,
        title: status === 413 ? 'Request Entity Too Large' : 'Bad Request',
        explanation: status === 413 ? 'Request body is too large.' : 'The request could not be parsed.',
        detail: '',
      };
    } else {
      request.log.error({ err: error }, 'unhandled error');
      text = INTERNAL_ERROR_TEXT;
    }
    const rendered = render(text, request);
    void reply.code(text.status).headers(headers).type(rendered.contentType);
    return request.method === 'HEAD' ? '' : rendered.body;
  };
}

/** Builds the HTTP application; `listen` is the caller's business so tests can use any port. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger,
    // One line per request, written when it completes (below), instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    genReqId: () => `req-${randomUUID()}`,
    bodyLimit: JSON_BODY_LIMIT,
    rewriteUrl: (req) => negotiateUrl(req.url ?? '/', req.headers.accept),
    routerOptions: { maxParamLength: 1024 },
  });

  app.decorateRequest('authContext', null);
  // Glance answers `application/json` with no charset parameter (reference conventions).
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.getHeader('content-type') === 'application/json; charset=utf-8') void reply.header('content-type', 'application/json');
    return payload;
  });
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-openstack-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
  });

  // Bodies are kept raw; JSON routes decode them with Glance's rules (src/http/body.ts).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, body);
  });

  app.setErrorHandler(errorHandler((text, request) => renderErrorBody(text, request.headers.accept)));

  app.setNotFoundHandler(async (request, reply) => {
    const rendered = renderErrorBody({ status: 404, title: 'Not Found', explanation: 'The resource could not be found.', detail: '' }, request.headers.accept);
    void reply.code(404).type(rendered.contentType);
    return rendered.body;
  });

  const baseUrl = (request: FastifyRequest): string => requestBaseUrl(request, options.publicEndpoint);
  const authentication = authenticationHook({
    authenticator: options.authenticator,
    isAdmin: options.isAdmin,
    maxRequestIdLength: options.maxRequestIdLength,
    allowAnonymous: options.allowAnonymous,
    baseUrl,
  });
  await app.register(versionRoutes, { baseUrl });
  await app.register(healthcheckRoutes, { disableFile: () => options.healthcheckDisableFile !== null && existsSync(options.healthcheckDisableFile) });
  if (options.extraRoutes !== undefined) await app.register(options.extraRoutes);

  await app.register(
    async (v2) => {
      // onRequest: an unauthenticated caller is refused before its body is even read.
      v2.addHook('onRequest', authentication);
      await v2.register(imageRoutes, { images: options.images, baseUrl, storeIds: options.info.storeIds(), importMethods: options.importMethods });
      await v2.register(memberRoutes, { members: options.members });
      await v2.register(imageDataRoutes, { data: options.data, uploads: options.uploads });
      await v2.register(schemaRoutes, { schemas: options.schemas });
      await v2.register(infoRoutes, { info: options.info });
      for (const routes of options.moduleRoutes) await v2.register(routes);
    },
    { prefix: '/v2' },
  );

  const secrets = options.secrets;
  if (secrets !== null) {
    await app.register(
      async (keyManager) => {
        // The key manager answers in Barbican's error shape, which barbicanclient reads.
        keyManager.setErrorHandler(errorHandler((text) => barbicanErrorBody(text)));
        await keyManager.register(keyManagerVersionRoutes, { baseUrl });
        await keyManager.register(async (authenticated) => {
          authenticated.addHook('onRequest', authentication);
          await authenticated.register(secretRoutes, { secrets, baseUrl });
        });
      },
      { prefix: '/key-manager' },
    );
  }
  return app;
}

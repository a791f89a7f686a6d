/**
 * One place maps every error to a response `{"error": {"code", "message"}}`: typed errors keep
 * their code and status; Fastify's own refusals (bad JSON, body too large, wrong content type,
 * schema violations) get codes of the catalogue; anything unexpected is logged and answered
 * as E_INTERNAL without its details.
 */

import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TtsError, isStorageFull, storageFullError } from '../errors.js';

/** Seconds a client is asked to wait before sending new work to a service whose storage is full. */
const STORAGE_FULL_RETRY_AFTER_S = 30;

function fromFastify(error: FastifyError): TtsError | undefined {
  if (error.validation !== undefined) {
    const first = error.validation[0];
    const where = first?.instancePath ? `\`${first.instancePath.replace(/^\//u, '').replaceAll('/', '.')}\`` : error.validationContext ?? 'the request';
    return new TtsError('E_INVALID_ARGUMENT', `Expected ${where} ${first?.message ?? 'to be valid'}.`);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new TtsError('E_MALFORMED_JSON', `The body is not valid JSON (${error.message}).`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new TtsError('E_BODY_TOO_LARGE', `The request is too large: ${error.message}`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new TtsError('E_UNSUPPORTED_MEDIA_TYPE', 'Send application/json, or multipart/form-data for uploads.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new TtsError('E_INVALID_ARGUMENT', 'The Content-Length header does not match the body.');
  }
  if (error instanceof SyntaxError) return new TtsError('E_MALFORMED_JSON', `The body is not valid JSON (${error.message}).`);
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new TtsError('E_INVALID_ARGUMENT', error.message);
  }
  return undefined;
}

export function sendError(reply: FastifyReply, error: TtsError): FastifyReply {
  if (error.code === 'E_STORAGE_FULL') reply.header('retry-after', String(STORAGE_FULL_RETRY_AFTER_S));
  return reply.code(error.status).header('content-type', 'application/json; charset=utf-8').send({ error: { code: error.code, message: error.message } });
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    // An upload written straight to disk fails with the file system's own error.
    const typed = error instanceof TtsError ? error : isStorageFull(error) ? storageFullError(error) : fromFastify(error);
    if (typed === undefined || typed.status >= 500) request.log.error({ err: error }, 'request failed');
    return sendError(reply, typed ?? new TtsError('E_INTERNAL', 'An unexpected error happened; it was logged.'));
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new TtsError('E_ROUTE_NOT_FOUND', `No route for ${request.method} ${request.url.split('?')[0]!.slice(0, 200)}; see /docs.`)),
  );
}

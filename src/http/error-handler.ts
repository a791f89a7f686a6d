/**
 * One place maps every error to a response `{"error": {"code", "message"}}` (on the
 * OpenAI-compatible /v1 routes, OpenAI's shape with the same code): typed errors keep
 * their code and status; Fastify's own refusals (bad JSON, body too large, wrong content type,
 * schema violations) get codes of the catalogue; anything unexpected is logged and answered
 * as E_INTERNAL without its details.
 */

import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TtsError, isStorageFull, redactPaths, storageFullError } from '../errors.js';
import { schemaViolation, type SchemaError } from './validation-errors.js';

/** Seconds a client is asked to wait before sending new work to a service whose storage is full. */
const STORAGE_FULL_RETRY_AFTER_S = 30;

function fromFastify(error: FastifyError, request: FastifyRequest): TtsError | undefined {
  if (error.validation !== undefined) {
    const context = error.validationContext;
    const schema = context === undefined ? undefined : (request.routeOptions.schema as Record<string, unknown> | undefined)?.[context];
    return schemaViolation(error.validation as SchemaError[], context, schema as Parameters<typeof schemaViolation>[2]);
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
    case 'FST_PROTO_VIOLATION':
      return new TtsError('E_INVALID_ARGUMENT', 'A multipart field is named like a property of every object (`constructor`, `__proto__`, `toString`…); use the documented field names.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new TtsError('E_INVALID_ARGUMENT', 'The Content-Length header does not match the body.');
  }
  if (error instanceof SyntaxError) return new TtsError('E_MALFORMED_JSON', `The body is not valid JSON (${error.message}).`);
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new TtsError('E_INVALID_ARGUMENT', error.message);
  }
  return undefined;
}

/** The OpenAI-compatible routes answer errors in OpenAI's shape; every other route in ours. */
const OPENAI_PREFIX = /^\/v1(?:[/?]|$)/u;

/** OpenAI's error `type` for an HTTP status. */
function openAIErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/**
 * The body of an error: `{"error": {"code", "message"}}`, or on /v1 routes OpenAI's
 * `{"error": {"message", "type", "param", "code"}}` (code: ours, stable; param: the field at fault, if known).
 */
function errorBody(error: TtsError, url: string): Record<string, unknown> {
  if (OPENAI_PREFIX.test(url)) return openAIErrorBody(error);
  return { error: { code: error.code, message: redactPaths(error.message) } };
}

/** OpenAI's `{"error": {"message", "type", "param", "code"}}` (also the `error` event of the speech SSE). */
export function openAIErrorBody(error: TtsError): { error: { message: string; type: string; param: string | null; code: string } } {
  return { error: { message: redactPaths(error.message), type: openAIErrorType(error.status), param: error.param ?? null, code: error.code } };
}

export function sendError(reply: FastifyReply, error: TtsError): FastifyReply {
  const retryAfterS = error.retryAfterS ?? (error.code === 'E_STORAGE_FULL' ? STORAGE_FULL_RETRY_AFTER_S : undefined);
  if (retryAfterS !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfterS))));
  if (error.code === 'E_UNAUTHORIZED') reply.header('www-authenticate', 'Bearer realm="tts-queue"');
  return reply.code(error.status).header('content-type', 'application/json; charset=utf-8').send(errorBody(error, reply.request.url));
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    // An upload written straight to disk fails with the file system's own error.
    const typed = error instanceof TtsError ? error : isStorageFull(error) ? storageFullError(error) : fromFastify(error, request);
    if (typed === undefined || typed.status >= 500) request.log.error({ err: error }, 'request failed');
    return sendError(reply, typed ?? new TtsError('E_INTERNAL', 'An unexpected error happened; it was logged.'));
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, new TtsError('E_ROUTE_NOT_FOUND', `No route for ${request.method} ${request.url.split('?')[0]!.slice(0, 200)}; see /docs.`)));
}

/** The error body, as JSON text. */
function errorJson(error: TtsError): string {
  return JSON.stringify({ error: { code: error.code, message: error.message } });
}

function protocolError(error: Error & { code?: string; reason?: string }): TtsError {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new TtsError('E_HEADERS_TOO_LARGE', 'The request headers are larger than the server takes (16 KiB in all); send fewer or shorter headers.');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new TtsError('E_REQUEST_TIMEOUT', 'The request did not arrive in time; send the headers and the body without pausing.');
    default: {
      // llhttp's reason ("Invalid method encountered", "Content-Length can't be present with Transfer-Encoding") says what is wrong, and never echoes the request.
      const reason = typeof error.reason === 'string' ? error.reason.slice(0, 120) : 'it cannot be parsed';
      return new TtsError('E_MALFORMED_HTTP', `The request is not valid HTTP/1.1 (${error.code ?? 'parse error'}: ${reason}).`);
    }
  }
}

/**
 * Fastify's `clientErrorHandler`: a request Node's HTTP parser refuses (bad Content-Length,
 * Content-Length with Transfer-Encoding, an unknown method, a raw control or non-ASCII byte in
 * the path, oversized headers, too slow) never reaches a route, so the answer is written to the
 * socket here, in the same shape as every other error, and the connection is closed.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  // A response already under way on this connection cannot be followed by another one.
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (inFlight?.headersSent === true) {
    socket.destroy();
    return;
  }
  const typed = protocolError(error);
  const body = errorJson(typed);
  socket.end(
    `HTTP/1.1 ${typed.status} ${STATUS_CODES[typed.status] ?? 'Error'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}

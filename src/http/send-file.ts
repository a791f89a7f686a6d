/**
 * Sends a stored file as a download, with our headers and our error codes, and makes sure the
 * file is closed on every path: finished, failed, or the client gone. A file on this machine goes
 * through `@fastify/send` (Range, If-Range, ETag, Last-Modified, 304 and 416 are its work); an
 * object in a remote store gets the same answers from `object-conditions.ts`, and only the bytes
 * asked for are streamed from the store (never held whole in memory).
 *
 * Why the connection is watched: with pipelined requests, the responses queued behind the one in
 * flight never see 'close' when the client closes the connection, so a stream handed to such a
 * response would keep its descriptor (and buffers) for good. Every file stream is therefore tied
 * to its socket and destroyed when the socket closes.
 */

import type { Socket } from 'node:net';
import { basename, dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { send } from '@fastify/send';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TtsError, isResourceExhaustion } from '../errors.js';
import type { StoredDownload } from '../storage/blob-store.js';
import { answerFor } from './object-conditions.js';

export interface DownloadOptions {
  contentType: string;
  /** The name a browser saves the file as. */
  fileName: string;
  /** Answer when the file is not there (deleted after its retention, or never written). */
  missing: () => TtsError;
}

const CACHE_CONTROL = 'private, max-age=3600';

/** File streams still open, by connection (WeakMap: a connection that goes away takes its entry with it). */
const openStreams = new WeakMap<Socket, Set<Readable>>();

/** Destroys `stream` when `socket` closes; at once if it is closed already. */
function closeWithConnection(socket: Socket | null, stream: Readable): void {
  if (socket === null) return; // app.inject(): no socket, Fastify's own end-of-response handling is enough
  if (socket.destroyed) {
    stream.destroy();
    return;
  }
  let streams = openStreams.get(socket);
  if (streams === undefined) {
    const set = new Set<Readable>();
    streams = set;
    openStreams.set(socket, set);
    // One listener per connection, not one per request: thousands of pipelined requests share it.
    socket.once('close', () => {
      for (const open of set) open.destroy();
      set.clear();
    });
  }
  streams.add(stream);
  stream.once('close', () => streams.delete(stream));
}

/** Resolves once the file is open; rejects with the open error, or if the stream was closed first. */
async function opened(stream: Readable): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const settle = (error?: Error): void => {
      stream.off('ready', onReady).off('error', settle).off('close', onClose);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onReady = (): void => settle();
    const onClose = (): void => settle(new TtsError('E_CANCELED', 'The client closed the connection before the download started.'));
    stream.once('ready', onReady).once('error', settle).once('close', onClose);
  });
}

/** Answers with `download` (from the blob store's `openForDownload`; undefined: not stored). */
export async function sendDownload(request: FastifyRequest, reply: FastifyReply, download: StoredDownload | undefined, options: DownloadOptions): Promise<FastifyReply> {
  if (download === undefined) throw options.missing();
  if (download.kind === 'file') return await sendFile(request, reply, download.path, options);
  return await sendObject(request, reply, download, options);
}

async function sendObject(request: FastifyRequest, reply: FastifyReply, object: StoredDownload & { kind: 'object' }, options: DownloadOptions): Promise<FastifyReply> {
  const answer = answerFor(request.raw.method ?? 'GET', request.headers, object);
  if (answer.status === 412) throw new TtsError('E_PRECONDITION_FAILED', 'The file does not match If-Match or If-Unmodified-Since: it changed, or the validator is wrong.');
  if (answer.status === 416) {
    reply.header('content-range', `bytes */${object.size}`);
    throw new TtsError('E_RANGE_NOT_SATISFIABLE', `The file has ${object.size} bytes; ask for a range inside it.`);
  }
  reply.code(answer.status).headers(answer.headers).header('cache-control', CACHE_CONTROL);
  if (answer.status === 304) return reply.send();
  reply.header('content-type', options.contentType).header('content-disposition', `attachment; filename="${options.fileName}"`);
  if (request.method === 'HEAD') return reply.send();
  let stream: Readable;
  try {
    stream = await object.open(answer.range);
  } catch (error) {
    if (error instanceof TtsError && error.code === 'E_STORED_FILE_MISSING') throw options.missing();
    throw error;
  }
  closeWithConnection(request.raw.socket, stream);
  return reply.send(stream);
}

async function sendFile(request: FastifyRequest, reply: FastifyReply, path: string, options: DownloadOptions): Promise<FastifyReply> {
  // `send` takes a URL path under `root`: the file name, encoded, under its own folder.
  const result = await send(request.raw, `/${encodeURIComponent(basename(path))}`, {
    root: dirname(path),
    dotfiles: 'allow',
    index: false,
    contentType: false,
    cacheControl: false,
  });
  const { statusCode, headers, stream } = result;
  closeWithConnection(request.raw.socket, stream);
  if (result.type !== 'file') {
    stream.destroy();
    const cause = result.type === 'error' ? result.metadata.error : undefined;
    if (statusCode === 404 || result.type === 'directory') throw options.missing();
    if (statusCode === 416) {
      const contentRange = headers['Content-Range'] ?? 'bytes */0';
      reply.header('content-range', contentRange);
      throw new TtsError('E_RANGE_NOT_SATISFIABLE', `The file has ${contentRange.slice('bytes */'.length)} bytes; ask for a range inside it.`);
    }
    if (statusCode === 412) throw new TtsError('E_PRECONDITION_FAILED', 'The file does not match If-Match or If-Unmodified-Since: it changed, or the validator is wrong.');
    throw new TtsError('E_INTERNAL', `The file could not be read (status ${statusCode}).`, { cause });
  }
  reply.code(statusCode).headers(headers).header('cache-control', CACHE_CONTROL);
  if (statusCode === 304) {
    stream.destroy();
    return reply.send();
  }
  reply.header('content-type', options.contentType).header('content-disposition', `attachment; filename="${options.fileName}"`);
  if (request.method === 'HEAD') return reply.send(stream); // an empty stream: `send` opens no file for HEAD
  // Open before answering, so that a file deleted since `stat`, or no descriptor left, is a typed error and not a broken 200.
  try {
    await opened(stream);
  } catch (error) {
    stream.destroy();
    if (error instanceof TtsError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw options.missing();
    if (isResourceExhaustion(code)) throw new TtsError('E_RESOURCES_EXHAUSTED', `The service is out of file descriptors or memory (${code}); try again shortly.`, { cause: error });
    throw new TtsError('E_INTERNAL', `The file could not be opened (${code ?? 'unknown error'}).`, { cause: error });
  }
  return reply.send(stream);
}

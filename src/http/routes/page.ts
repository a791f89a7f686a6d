/**
 * The web page (web/, built by Vite into dist/web): `/` is its index.html, `/assets/*` the
 * files Vite names by their content hash. Both are open routes (src/http/access.ts): the page
 * needs no key, its API calls do where keys exist. A service built with tsc only has no page
 * and says so at `/`, typed, instead of failing.
 */

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { ErrorBody } from '../schemas.js';
import { TtsError } from '../../errors.js';

/** Where `npm run build` writes the page: dist/web, beside dist/src. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../../web/', import.meta.url));

/** Hashed names change with their content, so a browser may keep them for a year. */
const ASSET_MAX_AGE_MS = 365 * 24 * 3600 * 1000;
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}$/u;

export async function pageRoutes(app: FastifyInstance, webRoot: string = DEFAULT_WEB_ROOT): Promise<void> {
  // Only the reply.sendFile decorator: the two routes below decide what is served. The folder may be built after start.
  await app.register(fastifyStatic, { root: webRoot, serve: false, suppressWarning: true });

  app.get('/', { schema: { summary: 'The web page (no key needed to load it; its API calls send one)', hide: true, response: { '4xx': ErrorBody, 503: ErrorBody } } }, async (_request, reply) => {
    const index = join(webRoot, 'index.html');
    if (!(await stat(index).catch(() => undefined))?.isFile()) {
      throw new TtsError('E_PAGE_NOT_BUILT', 'The web page is not built (dist/web/index.html is missing): run `npm run build` (tsc and vite build), then reload.');
    }
    // The page names its assets by hash: it is checked again on every load, so a new build shows at once.
    return reply.header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false });
  });

  app.get('/assets/*', { schema: { hide: true } }, async (request, reply) => {
    const name = (request.params as { '*': string })['*'];
    // Vite writes plain names (index-<hash>.js) straight into assets/: anything else (a folder, `..`, a dot file) is no asset.
    // A file that is not there falls through to the not-found handler too (E_ROUTE_NOT_FOUND).
    if (!ASSET_NAME.test(name)) return reply.callNotFound();
    return reply.sendFile(`assets/${name}`, { immutable: true, maxAge: ASSET_MAX_AGE_MS, dotfiles: 'deny' });
  });
}

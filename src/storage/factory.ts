/** The blob store the configuration names: one place decides, so no caller knows which it has. */

import type { ServiceConfig } from '../config/config.js';
import type { BlobStore } from './blob-store.js';
import { LocalBlobStore } from './local/local-blob-store.js';
import { S3BlobStore } from './s3/s3-blob-store.js';

export function createBlobStore(config: Pick<ServiceConfig, 'blobStore' | 'blobDir' | 's3'>): BlobStore {
  if (config.blobStore === 's3') return new S3BlobStore({ ...config.s3, cacheDir: config.blobDir });
  return new LocalBlobStore(config.blobDir);
}

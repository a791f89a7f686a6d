import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBlobStore } from './local/local-blob-store.js';
import { blobStoreContract } from './testing/blob-store-contract.js';

// Two nodes mounting one shared folder.
blobStoreContract('local folder', async () => {
  const root = await mkdtemp(join(tmpdir(), 'tts-blobs-'));
  return { first: new LocalBlobStore(root), second: new LocalBlobStore(root), close: () => rm(root, { recursive: true, force: true }) };
});

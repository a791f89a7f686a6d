/**
 * GLM-TTS's real code for tests: a checkout named by GLMTTS_REPO, run on the CPU with tiny
 * random weights made at test time (python/testing/make_tiny_glmtts_ckpt.py) in the venv of
 * `npm run glmtts:venv`. Nothing is written into the user's checkout: the tests run in an
 * overlay, a scratch folder of symbolic links to the checkout's entries, with real folders
 * for what is generated (ckpt/, frontend/campplus.onnx) or written (examples/, outputs/).
 */

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const GENERATOR = join(ROOT, 'python', 'testing', 'make_tiny_glmtts_ckpt.py');
/** Folders made real in an overlay: generated into, or written by GLM-TTS's own script. */
const REAL_FOLDERS = new Set(['ckpt', 'frontend', 'examples', 'outputs']);
const TINY_SEED = 0;

/** Why the real-code tests skip, or false when GLMTTS_REPO names a checkout. */
export const REAL_GLMTTS_SKIP: string | false = process.env.GLMTTS_REPO
  ? false
  : "GLM-TTS's real code is not tested: run `GLMTTS_REPO=/path/to/GLM-TTS npm run test:glmtts-real` (a checkout of zai-org/GLM-TTS)";

export interface RealGlmtts {
  /** The user's checkout (read only). */
  checkout: string;
  /** The overlay with the tiny ckpt: GLMTTS_REPO for the hosts. */
  repo: string;
  /** An overlay without ckpt/, for `--check` to find it missing. */
  bareRepo: string;
  /** The venv's interpreter. */
  python: string;
  /** Environment for a host on the real code in CPU mode. */
  env: NodeJS.ProcessEnv;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The venv's python: GLMTTS_PYTHON, else the one `npm run glmtts:venv` builds. */
async function venvPython(): Promise<string> {
  const python = process.env.GLMTTS_PYTHON ?? join(ROOT, '.venv-glmtts', 'bin', 'python');
  if (!(await exists(python))) throw new Error(`no GLM-TTS venv at ${python}: run \`npm run glmtts:venv\` (or set GLMTTS_PYTHON)`);
  return python;
}

/** Links each entry of the checkout into `overlay`; REAL_FOLDERS become folders of links. */
async function buildOverlay(checkout: string, overlay: string): Promise<void> {
  await mkdir(overlay, { recursive: true });
  for (const entry of await readdir(checkout, { withFileTypes: true })) {
    if (entry.name === 'ckpt') continue;
    const target = join(checkout, entry.name);
    if (!REAL_FOLDERS.has(entry.name) || !entry.isDirectory()) {
      await symlink(target, join(overlay, entry.name));
      continue;
    }
    await mkdir(join(overlay, entry.name));
    for (const child of await readdir(target)) {
      // A snapshot may lack the large binaries (frontend/campplus.onnx): the fixture makes its own.
      if (entry.name === 'frontend' && child === 'campplus.onnx') continue;
      await symlink(join(target, child), join(overlay, entry.name, child));
    }
  }
  for (const name of REAL_FOLDERS) await mkdir(join(overlay, name), { recursive: true });
  await rm(join(overlay, 'ckpt'), { recursive: true, force: true });
}

/**
 * The overlays for GLMTTS_REPO, made once per checkout, generator and seed, and kept in the
 * system's temporary folder for the next run (generating the weights takes a while).
 */
export async function prepareRealGlmtts(): Promise<RealGlmtts> {
  const checkout = resolve(process.env.GLMTTS_REPO ?? '');
  if (!(await exists(join(checkout, 'glmtts_inference.py')))) throw new Error(`GLMTTS_REPO=${checkout} is not a GLM-TTS checkout (no glmtts_inference.py)`);
  const python = await venvPython();
  const key = createHash('sha256')
    .update(`${checkout}\n${python}\n${TINY_SEED}\n`)
    .update(await readFile(GENERATOR))
    .digest('hex')
    .slice(0, 16);
  const base = join(tmpdir(), `ttsq-glmtts-real-${key}`);
  const repo = join(base, 'with-ckpt');
  const bareRepo = join(base, 'without-ckpt');
  if (!(await exists(join(base, 'complete')))) {
    // Built aside and renamed into place, so that test files starting together share one.
    const building = await mkdtemp(`${base}.building-`);
    await buildOverlay(checkout, join(building, 'with-ckpt'));
    await buildOverlay(checkout, join(building, 'without-ckpt'));
    await run(python, [GENERATOR, '--repo', checkout, '--out', join(building, 'with-ckpt'), '--seed', String(TINY_SEED)], {
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
      maxBuffer: 16 * 1024 * 1024,
    });
    await writeFile(join(building, 'complete'), '');
    await rename(building, base).catch(async (error: NodeJS.ErrnoException) => {
      await rm(building, { recursive: true, force: true });
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
  }
  return {
    checkout,
    repo,
    bareRepo,
    python,
    env: {
      GLMTTS_REPO: repo,
      GLMTTS_PYTHON: python,
      GLMTTS_DEVICE: 'cpu',
      // Built by the first host of a run and read by the others (glmtts_tn_cache.py).
      GLMTTS_TN_CACHE: join(base, 'tn-cache'),
      // Nothing is written into the checkout through the overlay's links, nothing is fetched.
      PYTHONDONTWRITEBYTECODE: '1',
      HF_HUB_OFFLINE: '1',
      TRANSFORMERS_OFFLINE: '1',
    },
  };
}

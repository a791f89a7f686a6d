/**
 * Where ffmpeg and ffprobe live: FFMPEG_PATH / FFPROBE_PATH when set (a system build),
 * otherwise the binaries that `npm ci` brought with @ffmpeg-installer and @ffprobe-installer.
 */

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function installerPath(packageName: string): string {
  const installer = require(packageName) as { path: string };
  return installer.path;
}

export function ffmpegPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.FFMPEG_PATH || installerPath('@ffmpeg-installer/ffmpeg');
}

export function ffprobePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.FFPROBE_PATH || installerPath('@ffprobe-installer/ffprobe');
}

#!/usr/bin/env node
// Before `npm test`: the web page's test (src/page/page.test.ts) drives Debian's Chromium, so
// a machine without it gets it from apt (the tests run as root, as CI does). It never skips:
// when Chromium cannot be installed, this fails and says why.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

const CHROMIUM = process.env.TEST_CHROMIUM_PATH ?? '/usr/bin/chromium';

function runnable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function run(command, args) {
  console.error(`ensure-chromium: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (result.error !== undefined) fail(`${command} could not be run (${result.error.message})`);
  if (result.status !== 0) fail(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
}

function fail(why) {
  console.error(
    `ensure-chromium: ${why}.\nThe web page's test needs Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium) as root, or set TEST_CHROMIUM_PATH to a Chromium binary.`,
  );
  process.exit(1);
}

if (!runnable(CHROMIUM)) {
  if (process.env.TEST_CHROMIUM_PATH !== undefined) fail(`TEST_CHROMIUM_PATH=${CHROMIUM} is not an executable file`);
  if (process.platform !== 'linux' || !runnable('/usr/bin/apt-get')) fail('it is missing, and this machine has no apt-get to install it with');
  if (typeof process.getuid === 'function' && process.getuid() !== 0) fail('it is missing, and installing it with apt-get needs root');
  run('apt-get', ['update', '-qq']);
  run('apt-get', ['install', '-y', '-qq', 'chromium']);
  if (!runnable(CHROMIUM)) fail(`apt-get installed chromium, but ${CHROMIUM} is still missing`);
}
console.error(`ensure-chromium: ${CHROMIUM} is there.`);

/**
 * The deployment files (deploy/) cannot be run here: nothing can pull an image. What can be
 * checked is checked: every YAML file parses, and the fields that must agree with the code do
 * (images, ports, probes, commands, environment variable names, the metric KEDA reads).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { SEGMENTS_QUEUED_METRIC } from '../metrics/metrics.js';
import { shutdownDeadlineMs } from '../cli/serve.js';
import { ENVIRONMENT_VARIABLES, loadConfig } from '../config/config.js';

/** This file runs from dist/src/deploy/. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

const API_PORT = 3000;
const METRICS_PORT = 9464;
/** The gauge the KEDA query must name; it must be the one the service exports. */
const QUEUED_METRIC = 'ttsq_segments_queued';
/** The roles issue 9 defines; `serve` is today's, `api` and `worker` arrive with it. */
const ROLES = ['serve', 'api', 'worker'] as const;
const HEALTHCHECK_SCRIPT = '/app/dist/src/deploy/healthcheck.js';

function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && keep(entry.name))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)))
    .sort();
}

const YAML_FILES = filesUnder(DEPLOY, (name) => /\.ya?ml$/u.test(name));
const DOCKERFILES = filesUnder(DEPLOY, (name) => /^Dockerfile/u.test(name));

/** Every document of every YAML file, merge keys (`<<: *anchor`) resolved as Compose does. */
const DOCUMENTS = new Map<string, any[]>(
  YAML_FILES.map((file) => {
    const documents = parseAllDocuments(read(file), { merge: true, prettyErrors: true });
    const parsed = (Array.isArray(documents) ? documents : [documents]).map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.map((e) => e.message).join('; ')}`);
      return document.toJS({ maxAliasCount: 100 });
    });
    return [file, parsed.filter((document) => document !== null && document !== undefined)];
  }),
);

const K8S = [...DOCUMENTS.entries()].filter(([file]) => file.startsWith('deploy/k8s/')).flatMap(([file, documents]) => documents.map((document) => ({ file, ...document })));
const COMPOSE: any = DOCUMENTS.get('deploy/compose.yaml')?.[0];
const ofKind = (kind: string): any[] => K8S.filter((document) => document.kind === kind);
const WORKLOADS = [...ofKind('Deployment'), ...ofKind('StatefulSet')];

/** The variables the GLM-TTS hosts read (docs/glm-tts.md, Settings): they are theirs, not the service config's. */
const GLMTTS_VARIABLES = new Set(
  filesUnder(join(ROOT, 'python/hosts'), (name) => name.endsWith('.py'))
    .concat(['src/engines/registry.ts'])
    .flatMap((file) => [...read(file).matchAll(/\b(GLMTTS_[A-Z0-9_]+)/gu)].map((match) => match[1]!)),
);
const KNOWN_VARIABLES = new Set<string>([...ENVIRONMENT_VARIABLES, ...GLMTTS_VARIABLES]);

/** The commands src/cli/main.ts dispatches, from its `case '…':` labels and its usage lines. */
function cliCommands(): Set<string> {
  const source = read('src/cli/main.ts');
  const cases = [...source.matchAll(/case '([a-z][a-z-]*)':/gu)].map((match) => match[1]!);
  const usage = [...source.matchAll(/^ {2}([a-z][a-z-]*) {2,}\S/gmu)].map((match) => match[1]!);
  return new Set([...cases, ...usage]);
}

/** The role a container runs: the command after the entry point. */
const roleOf = (args: unknown): string | undefined => (Array.isArray(args) ? String(args[0]) : typeof args === 'string' ? args.split(/\s+/u)[0] : undefined);
const portOfRole = (role: string | undefined): number => (role === 'worker' ? METRICS_PORT : API_PORT);
const isTtsQueueImage = (image: unknown): boolean => typeof image === 'string' && /(^|\/)tts-queue(-gpu)?(:|$)/u.test(image);

/** Compose `environment:` as a mapping or as a list of NAME=value. */
function composeEnvironment(service: any): Record<string, string> {
  const environment = service.environment ?? {};
  if (!Array.isArray(environment)) return Object.fromEntries(Object.entries(environment).map(([name, value]) => [name, String(value)]));
  return Object.fromEntries(environment.map((item: string) => [item.split('=')[0], item.slice(item.indexOf('=') + 1)]));
}

/** Where a Compose short-syntax volume (`source:target[:ro]`) is mounted; the source may hold `${VAR:-default}`. */
function mountTarget(volume: string): string {
  const parts = volume.split(':');
  if (['ro', 'rw'].includes(parts.at(-1)!)) parts.pop();
  return parts.at(-1)!;
}

/** Names in commented-out settings (`# S3_BUCKET: …`): documented alternatives must be spelled right too. */
const commentedNames = (text: string): string[] => [...text.matchAll(/^\s*#\s*([A-Z][A-Z0-9_]*[A-Z0-9]):\s/gmu)].map((match) => match[1]!);

const configMap = (name: string): Record<string, string> => {
  const found = ofKind('ConfigMap').find((document) => document.metadata?.name === name);
  assert.ok(found, `ConfigMap ${name} is referenced but not defined under deploy/k8s/`);
  return found.data ?? {};
};

/** A container's environment as Kubernetes would give it: envFrom ConfigMaps, then env. */
function containerEnvironment(container: any): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const source of container.envFrom ?? []) if (source.configMapRef) Object.assign(environment, configMap(source.configMapRef.name));
  for (const variable of container.env ?? []) environment[variable.name] = variable.value ?? '(from a reference)';
  return environment;
}

const podOf = (workload: any): any => workload.spec.template.spec;
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean => Object.entries(selector).every(([key, value]) => labels?.[key] === value);

/** A probe's or Service's port, numbers and container port names alike. */
function resolvePort(port: number | string, container: any): number | undefined {
  if (typeof port === 'number') return port;
  return container.ports?.find((candidate: any) => candidate.name === port)?.containerPort;
}

const ttsQueueContainers = WORKLOADS.flatMap((workload) =>
  podOf(workload)
    .containers.filter((container: any) => isTtsQueueImage(container.image))
    .map((container: any) => ({ workload, container, role: roleOf(container.args ?? container.command) })),
);

test('every YAML file under deploy/ parses, and the expected files are there', () => {
  assert.ok(YAML_FILES.includes('deploy/compose.yaml'), 'deploy/compose.yaml');
  assert.ok(
    YAML_FILES.some((file) => file.startsWith('deploy/k8s/')),
    'deploy/k8s/*.yaml',
  );
  for (const [file, documents] of DOCUMENTS) assert.ok(documents.length > 0, `${file} holds no document`);
  for (const document of K8S) {
    if (document.file.endsWith('kustomization.yaml')) continue;
    assert.ok(document.apiVersion && document.kind && document.metadata?.name, `${document.file}: a manifest needs apiVersion, kind and metadata.name`);
    assert.equal(document.metadata.namespace, undefined, `${document.file}: ${document.kind}/${document.metadata.name} names a namespace; the manifests go into the one applied to`);
  }
});

test('kustomization.yaml lists exactly the manifests under deploy/k8s/', () => {
  const kustomization = DOCUMENTS.get('deploy/k8s/kustomization.yaml')?.[0];
  assert.ok(kustomization, 'deploy/k8s/kustomization.yaml');
  const listed = [...kustomization.resources].sort();
  const present = YAML_FILES.filter((file) => file.startsWith('deploy/k8s/') && !file.endsWith('kustomization.yaml')).map((file) => file.slice('deploy/k8s/'.length));
  assert.deepEqual(listed, present);
});

test('every environment variable named in compose, Kubernetes and the Dockerfiles is one the service or the GLM-TTS hosts read', () => {
  const used = new Map<string, string>();
  const note = (names: Iterable<string>, where: string): void => {
    for (const name of names) if (!used.has(name)) used.set(name, where);
  };
  assert.ok(COMPOSE, 'deploy/compose.yaml');
  for (const [name, service] of Object.entries<any>(COMPOSE.services)) note(Object.keys(composeEnvironment(service)), `compose service ${name}`);
  for (const document of ofKind('ConfigMap')) note(Object.keys(document.data ?? {}), `${document.file}: ConfigMap ${document.metadata.name}`);
  for (const { workload, container } of ttsQueueContainers)
    note(
      (container.env ?? []).map((variable: any) => variable.name),
      `${workload.kind} ${workload.metadata.name}`,
    );
  for (const file of [...YAML_FILES.filter((f) => f === 'deploy/compose.yaml' || f.endsWith('configmap.yaml'))]) note(commentedNames(read(file)), `${file} (commented)`);
  for (const file of DOCKERFILES) note(dockerfileEnvironment(file).keys(), file);
  assert.ok(used.size > 5, 'found the variables');
  const unknown = [...used].filter(([name]) => !KNOWN_VARIABLES.has(name)).map(([name, where]) => `${name} (${where})`);
  assert.deepEqual(unknown, [], 'not in ENVIRONMENT_VARIABLES (src/config/config.ts) nor read by python/hosts');
});

test('compose: Redis with AOF, an API on 3000, workers with their health listener on 9464, a shared blob volume', () => {
  const services = COMPOSE.services;
  for (const name of ['redis', 'api', 'worker', 'gpu-worker']) assert.ok(services[name], `service ${name}`);
  for (const [name, service] of Object.entries<any>(services)) {
    assert.ok(typeof service.image === 'string' && service.image.length > 0, `${name}: image`);
    assert.ok(['always', 'unless-stopped', 'on-failure'].includes(service.restart), `${name}: restart policy`);
    assert.ok(service.healthcheck?.test, `${name}: healthcheck`);
  }

  const redisCommand = services.redis.command.join(' ');
  assert.match(services.redis.image, /^redis:7/u);
  assert.match(redisCommand, /--appendonly yes/u);
  assert.match(redisCommand, /--appendfsync (everysec|always)/u);
  assert.match(read('deploy/compose.yaml'), /always.*zero-loss|zero-loss.*always/su, 'the zero-loss choice is named');

  const roles = Object.entries<any>(services).filter(([, service]) => isTtsQueueImage(service.image));
  assert.deepEqual(roles.map(([name]) => name).sort(), ['api', 'gpu-worker', 'worker']);
  const blobVolumes = new Set<string>();
  for (const [name, service] of roles) {
    const environment = composeEnvironment(service);
    const role = roleOf(service.command);
    assert.equal(environment.BACKEND, 'redis', `${name}: BACKEND`);
    assert.match(environment.REDIS_URL ?? '', /^redis:\/\/redis:6379/u, `${name}: REDIS_URL names the redis service`);
    assert.equal(Number(environment.PORT ?? API_PORT), API_PORT, `${name}: PORT`);
    assert.equal(Number(environment.METRICS_PORT ?? METRICS_PORT), METRICS_PORT, `${name}: METRICS_PORT`);
    assert.equal(environment.HOST, '0.0.0.0', `${name}: listens beyond the container's loopback`);
    assert.deepEqual(service.healthcheck.test, ['CMD', 'node', HEALTHCHECK_SCRIPT], `${name}: the image's health check`);
    assert.ok(service.depends_on?.redis, `${name}: waits for redis`);
    if (role === 'worker') assert.match(environment.ENGINE ?? '', /./u, `${name}: ENGINE`);
    // BLOB_STORE=local: one named volume at BLOB_DIR in every role, declared at the top level.
    assert.equal(environment.BLOB_STORE, 'local');
    const mount = (service.volumes ?? []).map(String).find((volume: string) => mountTarget(volume) === environment.BLOB_DIR);
    assert.ok(mount, `${name}: a volume at BLOB_DIR (${environment.BLOB_DIR})`);
    blobVolumes.add(mount.split(':')[0]);
  }
  assert.equal(blobVolumes.size, 1, 'every role mounts the same blob volume');
  assert.ok(Object.hasOwn(COMPOSE.volumes ?? {}, [...blobVolumes][0]!), 'a named volume');

  assert.equal(roleOf(services.api.command), 'api');
  assert.ok(
    services.api.ports.some((port: string) => String(port).endsWith(`:${API_PORT}`)),
    'the API publishes 3000',
  );
  assert.equal(roleOf(services.worker.command), 'worker');
  assert.equal(composeEnvironment(services.worker).ENGINE?.split(':')[0], 'espeak', 'the CPU worker runs espeak');

  const gpu = services['gpu-worker'];
  assert.equal(roleOf(gpu.command), 'worker');
  assert.deepEqual(gpu.profiles, ['gpu'], 'optional, under the gpu profile');
  assert.match(composeEnvironment(gpu).ENGINE ?? '', /^glm-tts:\d+$/u);
  const devices = gpu.deploy?.resources?.reservations?.devices ?? [];
  assert.ok(
    devices.some((device: any) => device.driver === 'nvidia' && device.capabilities.includes('gpu')),
    'an NVIDIA GPU reservation',
  );
  assert.ok(
    gpu.volumes.some((volume: string) => mountTarget(String(volume)) === `${composeEnvironment(gpu).GLMTTS_REPO}/ckpt`),
    'the weights are mounted at GLMTTS_REPO/ckpt',
  );
});

test('Kubernetes: images, selectors, ports, and probes on /readyz and /healthz at the role’s port', () => {
  assert.ok(ttsQueueContainers.length >= 2, 'an API and a worker');
  for (const workload of WORKLOADS) {
    assert.ok(matches(workload.spec.selector.matchLabels, workload.spec.template.metadata.labels), `${workload.metadata.name}: its selector matches its pods`);
    for (const container of podOf(workload).containers) assert.match(container.image ?? '', /^[\w./-]+(:[\w.-]+)?$/u, `${workload.metadata.name}/${container.name}: image`);
  }
  for (const { workload, container, role } of ttsQueueContainers) {
    const where = `${workload.metadata.name}/${container.name}`;
    assert.ok(ROLES.includes(role as (typeof ROLES)[number]), `${where}: runs one of ${ROLES.join(', ')}, got ${role}`);
    const environment = containerEnvironment(container);
    assert.equal(environment.BACKEND, 'redis', `${where}: BACKEND`);
    assert.equal(environment.HOST, '0.0.0.0', `${where}: listens beyond the pod's loopback`);
    assert.equal(Number(environment.PORT), API_PORT, `${where}: PORT`);
    assert.equal(Number(environment.METRICS_PORT), METRICS_PORT, `${where}: METRICS_PORT`);
    const port = portOfRole(role);
    assert.ok(
      container.ports?.some((candidate: any) => candidate.containerPort === port),
      `${where}: declares port ${port}`,
    );
    for (const [probe, path] of [
      ['readinessProbe', '/readyz'],
      ['livenessProbe', '/healthz'],
    ] as const) {
      const httpGet = container[probe]?.httpGet;
      assert.equal(httpGet?.path, path, `${where}: ${probe} path`);
      assert.equal(resolvePort(httpGet.port, container), port, `${where}: ${probe} port`);
    }
    const scrape = workload.spec.template.metadata.annotations?.['prometheus.io/port'];
    if (scrape !== undefined) assert.equal(Number(scrape), port, `${where}: Prometheus scrapes /metrics on the role's port`);
    if (environment.BLOB_STORE === 'local') {
      const mount = container.volumeMounts?.find((candidate: any) => candidate.mountPath === environment.BLOB_DIR);
      assert.ok(mount, `${where}: a volume at BLOB_DIR`);
      const volume = podOf(workload).volumes.find((candidate: any) => candidate.name === mount.name);
      const claim = ofKind('PersistentVolumeClaim').find((candidate) => candidate.metadata.name === volume?.persistentVolumeClaim?.claimName);
      assert.ok(claim?.spec.accessModes.includes('ReadWriteMany'), `${where}: BLOB_DIR is a ReadWriteMany claim, shared by every node`);
    }
  }
});

test('Kubernetes: the API has a Service on 3000, a CPU HPA, a PDB, and a preStop sleep within its grace period', () => {
  const api = ttsQueueContainers.filter(({ role }) => role === 'api');
  assert.equal(api.length, 1, 'one API Deployment');
  const { workload, container } = api[0]!;
  const labels = workload.spec.template.metadata.labels;

  const service = ofKind('Service').find((candidate) => matches(candidate.spec.selector, labels));
  assert.ok(service, 'a Service selects the API pods');
  for (const port of service.spec.ports) assert.equal(resolvePort(port.targetPort ?? port.port, container), API_PORT, 'the Service reaches port 3000');

  const hpa = ofKind('HorizontalPodAutoscaler').find((candidate) => candidate.spec.scaleTargetRef.name === workload.metadata.name);
  assert.ok(hpa, 'an HPA scales the API');
  assert.equal(hpa.apiVersion, 'autoscaling/v2');
  assert.ok(hpa.spec.metrics.some((metric: any) => metric.type === 'Resource' && metric.resource.name === 'cpu'));
  assert.equal(workload.spec.replicas, undefined, 'the HPA, not the Deployment, sets the replicas');

  const sleep = container.lifecycle?.preStop?.exec?.command;
  assert.equal(sleep?.[0], 'sleep', 'preStop sleeps so the endpoint is removed before the drain');
  assert.ok(podOf(workload).terminationGracePeriodSeconds >= Number(sleep[1]) + processDrainSeconds(container), 'the grace period covers the preStop sleep and the process drain');
});

test('Kubernetes: GPU workers request nvidia.com/gpu, every tts-queue Deployment has a PDB and a grace period that covers the drain', () => {
  const gpu = ttsQueueContainers.filter(({ container }) => container.resources?.limits?.['nvidia.com/gpu'] !== undefined);
  assert.equal(gpu.length, 1, 'one GPU worker Deployment');
  const { workload, container, role } = gpu[0]!;
  assert.equal(role, 'worker');
  assert.equal(Number(container.resources.limits['nvidia.com/gpu']), 1, 'one GPU per pod');
  const environment = containerEnvironment(container);
  assert.equal(environment.ENGINE, 'glm-tts:1', 'one GLM-TTS host for its one GPU');
  const weights = container.volumeMounts.find((mount: any) => mount.mountPath === `${environment.GLMTTS_REPO}/ckpt`);
  assert.ok(weights?.readOnly, 'the weights are mounted read-only at GLMTTS_REPO/ckpt');
  assert.ok(podOf(workload).terminationGracePeriodSeconds >= 120, 'a GLM-TTS segment (up to ~2 minutes) can finish');

  assert.ok(processDrainSeconds(container) >= 120, 'the GPU worker lets a GLM-TTS segment finish (SHUTDOWN_GRACE_SECONDS)');
  for (const { workload: deployment, container: each } of ttsQueueContainers) {
    const labels = deployment.spec.template.metadata.labels;
    assert.ok(
      ofKind('PodDisruptionBudget').some((pdb) => matches(pdb.spec.selector.matchLabels, labels)),
      `${deployment.metadata.name}: a PodDisruptionBudget`,
    );
    assert.ok(podOf(deployment).terminationGracePeriodSeconds >= processDrainSeconds(each), `${deployment.metadata.name}: grace period covers the process's drain`);
  }
});

test(`Kubernetes: KEDA scales the GPU workers on ${QUEUED_METRIC} through Prometheus`, () => {
  const scaled = ofKind('ScaledObject');
  assert.equal(scaled.length, 1);
  const [object] = scaled;
  assert.equal(object.apiVersion, 'keda.sh/v1alpha1');
  const target = WORKLOADS.find((workload) => workload.metadata.name === object.spec.scaleTargetRef.name);
  assert.ok(target, 'it targets a Deployment defined here');
  assert.ok(
    podOf(target).containers.some((container: any) => container.resources?.limits?.['nvidia.com/gpu']),
    'the GPU worker',
  );
  assert.equal(target.spec.replicas, undefined, 'KEDA, not the Deployment, sets the replicas');
  const [trigger] = object.spec.triggers;
  assert.equal(trigger.type, 'prometheus');
  assert.match(trigger.metadata.serverAddress, /^https?:\/\//u);
  assert.ok(Number(trigger.metadata.threshold) > 0, 'threshold');
  const query: string = trigger.metadata.query;
  const metrics = [...query.matchAll(/\b([a-z_:][a-z0-9_:]*)\s*\{/gu)].map((match) => match[1]);
  assert.deepEqual(metrics, [QUEUED_METRIC]);
  assert.match(query, /engine="glm-tts"/u);
});

test(`the service exports ${QUEUED_METRIC}, the metric KEDA reads`, () => {
  assert.equal(SEGMENTS_QUEUED_METRIC, QUEUED_METRIC);
});

test('the commands the images, compose and Kubernetes run are commands of src/cli/main.ts', (t) => {
  const used = new Set<string>();
  for (const file of DOCKERFILES) used.add(dockerfileInstruction(file, 'CMD')[0]!);
  for (const service of Object.values<any>(COMPOSE.services)) if (isTtsQueueImage(service.image)) used.add(roleOf(service.command)!);
  for (const { role } of ttsQueueContainers) used.add(role!);
  for (const command of used) assert.ok(ROLES.includes(command as (typeof ROLES)[number]), `${command} is a role (${ROLES.join(', ')})`);
  const known = cliCommands();
  assert.ok(known.has('serve'), 'main.ts parsed');
  const missing = [...used].filter((command) => !known.has(command));
  if (missing.length > 0) {
    t.skip(`src/cli/main.ts has no ${missing.join(', ')} command yet (issue 9, roles): once it has, this test requires every command used to exist`);
    return;
  }
});

/** One Dockerfile's instructions, continuation lines joined, comments dropped; of its last stage when `lastStage`. */
function dockerfileInstructions(file: string, lastStage = false): Array<{ keyword: string; rest: string }> {
  const lines = read(file)
    .replace(/\\\n/gu, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/u);
      return { keyword: keyword.toUpperCase(), rest: rest.join(' ') };
    });
  if (!lastStage) return lines;
  const lastFrom = lines.map((line) => line.keyword).lastIndexOf('FROM');
  return lines.slice(lastFrom);
}

/** The exec (JSON) form of an instruction of the final image, e.g. CMD ["serve"]. */
function dockerfileInstruction(file: string, keyword: 'CMD' | 'ENTRYPOINT'): string[] {
  const found = dockerfileInstructions(file, true).filter((line) => line.keyword === keyword);
  assert.equal(found.length, 1, `${file}: one ${keyword} in the final stage`);
  return JSON.parse(found[0]!.rest) as string[];
}

/** ENV names and values of the final stage (ENV A=1 B=2 form). */
function dockerfileEnvironment(file: string): Map<string, string> {
  const environment = new Map<string, string>();
  for (const line of dockerfileInstructions(file, true).filter((candidate) => candidate.keyword === 'ENV')) {
    for (const pair of line.rest.split(/\s+/u)) {
      const [name = '', value = ''] = pair.split('=');
      environment.set(name, value);
    }
  }
  return environment;
}

/** When the process in this container exits at the latest on SIGTERM (its drain, then closing), in seconds. */
function processDrainSeconds(container: any): number {
  const environment = Object.fromEntries(Object.entries(containerEnvironment(container)).filter(([name]) => (ENVIRONMENT_VARIABLES as readonly string[]).includes(name)));
  return shutdownDeadlineMs(loadConfig(environment)) / 1000;
}

test('Dockerfiles: Node 20, production dependencies, non-root, a HEALTHCHECK, ports 3000 and 9464, the tts-queue entry point', () => {
  assert.deepEqual(DOCKERFILES, ['deploy/Dockerfile', 'deploy/Dockerfile.gpu']);
  for (const file of DOCKERFILES) {
    const text = read(file);
    const final = dockerfileInstructions(file, true);
    const user = final.filter((line) => line.keyword === 'USER').at(-1)?.rest;
    assert.ok(user !== undefined && !['root', '0', '0:0'].includes(user), `${file}: USER is not root`);
    const healthcheck = final.find((line) => line.keyword === 'HEALTHCHECK');
    assert.ok(healthcheck?.rest.includes(`CMD ["node", "${HEALTHCHECK_SCRIPT}"]`), `${file}: HEALTHCHECK with node, not curl`);
    const exposed = final.filter((line) => line.keyword === 'EXPOSE').flatMap((line) => line.rest.split(/\s+/u).map(Number));
    assert.deepEqual(exposed.sort(), [API_PORT, METRICS_PORT], `${file}: EXPOSE`);
    const entrypoint = dockerfileInstruction(file, 'ENTRYPOINT');
    assert.equal(entrypoint.at(-1), '/app/dist/src/cli/main.js', `${file}: ENTRYPOINT runs the tts-queue command`);
    assert.ok(entrypoint.includes('node'));
    assert.match(text, /npm ci --omit=dev/u, `${file}: production dependencies only`);
    assert.match(text, /FROM node:20-bookworm-slim/u, `${file}: Node 20`);
    const environment = dockerfileEnvironment(file);
    assert.equal(environment.get('HOST'), '0.0.0.0', `${file}: listens beyond the container's loopback`);
    assert.equal(Number(environment.get('PORT')), API_PORT);
    assert.equal(Number(environment.get('METRICS_PORT')), METRICS_PORT);
  }
  // The files the images name exist in the sources they are built from.
  assert.ok(existsSync(join(ROOT, 'src/cli/main.ts')) && existsSync(join(ROOT, 'src/deploy/healthcheck.ts')));

  assert.deepEqual(dockerfileInstruction('deploy/Dockerfile', 'CMD'), ['serve'], 'the API/CPU image serves by default');

  const gpu = 'deploy/Dockerfile.gpu';
  assert.deepEqual(dockerfileInstruction(gpu, 'CMD'), ['worker']);
  const environment = dockerfileEnvironment(gpu);
  assert.equal(environment.get('ENGINE'), 'glm-tts:1');
  assert.equal(environment.get('BACKEND'), 'redis');
  assert.ok(environment.get('GLMTTS_REPO') && environment.get('GLMTTS_PYTHON'), 'GLMTTS_REPO and GLMTTS_PYTHON point at the checkout and its venv');
  const pinned = /\*\*`([0-9a-f]{40})`\*\*/u.exec(read('docs/glm-tts.md'))?.[1];
  assert.ok(pinned, 'docs/glm-tts.md names the pinned commit');
  assert.match(read(gpu), new RegExp(`ARG GLMTTS_COMMIT=${pinned}`, 'u'), 'the GPU image clones the commit docs/glm-tts.md pins');
  assert.doesNotMatch(read(gpu), /^(COPY|ADD)\s.*ckpt/mu, 'the weights are mounted, never copied into the image');
});

test('.dockerignore keeps local state out of the build context', () => {
  const ignored = read('.dockerignore')
    .split('\n')
    .map((line) => line.trim());
  for (const entry of ['.git', 'node_modules', 'dist', 'data']) assert.ok(ignored.includes(entry), entry);
});

test('docs/scaling-out.md walks through the files here and names the metric', () => {
  const doc = read('docs/scaling-out.md');
  for (const needle of ['docker compose -f deploy/compose.yaml', '--profile gpu', 'kubectl apply -k deploy/k8s', QUEUED_METRIC, 'appendfsync']) assert.ok(doc.includes(needle), needle);
});

async function listen(status: number): Promise<Server> {
  const server = createServer((request, response) => {
    response.statusCode = request.url === '/healthz' ? status : 404;
    response.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

async function closedPort(): Promise<number> {
  const server = await listen(200);
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function healthcheck(env: { PORT: number; METRICS_PORT: number }): Promise<number | null> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./healthcheck.js', import.meta.url))], {
    env: { ...process.env, PORT: String(env.PORT), METRICS_PORT: String(env.METRICS_PORT) },
    stdio: 'ignore',
  });
  const [code] = await once(child, 'exit');
  return code as number | null;
}

test('the images’ health check passes when /healthz answers 200 on PORT (serve, api) or METRICS_PORT (worker), and fails otherwise', async () => {
  const healthy = await listen(200);
  const unhealthy = await listen(503);
  const up = (healthy.address() as AddressInfo).port;
  const failing = (unhealthy.address() as AddressInfo).port;
  const down = await closedPort();
  try {
    assert.equal(await healthcheck({ PORT: up, METRICS_PORT: down }), 0, 'the API role');
    assert.equal(await healthcheck({ PORT: down, METRICS_PORT: up }), 0, 'the worker role');
    assert.equal(await healthcheck({ PORT: down, METRICS_PORT: down }), 1, 'nothing listening');
    assert.equal(await healthcheck({ PORT: failing, METRICS_PORT: down }), 1, 'not 200');
  } finally {
    healthy.close();
    unhealthy.close();
  }
});

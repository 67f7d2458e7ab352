// docker-compose.yml and the Dockerfile cannot run here (no Docker engine): this reads them and checks
// that the services, their order of start and the settings they pass to Lifeboat hold together.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

interface Service {
  image?: string;
  ports?: string[];
  profiles?: string[];
  volumes?: string[];
  build?: string | { context: string };
  command?: string[] | string;
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  healthcheck?: unknown;
}

const composeText = readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
const compose = parse(composeText, { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const envSource = readFileSync(path.join(root, 'config', 'env.ts'), 'utf8');

describe('docker-compose.yml', () => {
  it('has the services of a production-like deployment', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'catalog-db',
        'lifeboat-api',
        'lifeboat-worker',
        'minio',
        'minio-bucket',
        'temporal',
        'temporal-db',
        'temporal-schema',
        'temporal-setup',
        'temporal-ui',
      ].sort(),
    );
  });

  it('depends only on services that exist, waits only on health it can see, and has no cycle', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(services[dependency], `${name} → ${dependency}`).toBeDefined();
        if (condition === 'service_healthy')
          expect(services[dependency]?.healthcheck, `${dependency} healthcheck`).toBeDefined();
      }
    }
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (name: string): void => {
      if (done.has(name)) return;
      expect(visiting.has(name), `cycle through ${name}`).toBe(false);
      visiting.add(name);
      for (const dependency of Object.keys(services[name]?.depends_on ?? {})) visit(dependency);
      visiting.delete(name);
      done.add(name);
    };
    for (const name of Object.keys(services)) visit(name);
  });

  it('starts Temporal only after its schema job has succeeded, without the deprecated auto-setup image', () => {
    expect(services.temporal?.depends_on?.['temporal-schema']?.condition).toBe(
      'service_completed_successfully',
    );
    expect(services['temporal-schema']?.depends_on?.['temporal-db']?.condition).toBe('service_healthy');
    for (const service of Object.values(services)) expect(service.image ?? '').not.toContain('auto-setup');
    expect(services.temporal?.image).toMatch(/^temporalio\/server:/);
    expect(services['temporal-schema']?.image).toMatch(/^temporalio\/admin-tools:/);
    expect(services['temporal-ui']?.image).toMatch(/^temporalio\/ui:/);
    const schemaScript = String(services['temporal-schema']?.command);
    for (const db of ['temporal', 'temporal_visibility']) {
      expect(schemaScript).toContain(`--db ${db} setup-schema`);
      expect(schemaScript).toContain(`--db ${db} update-schema`);
    }
  });

  it('registers exactly the search attributes Lifeboat uses', () => {
    const script = String(services['temporal-setup']?.command);
    const defined = readFileSync(path.join(root, 'domain', 'search-attributes.ts'), 'utf8');
    const keywords = [...defined.matchAll(/^\s+(Lifeboat\w+): 'Keyword',$/gm)].map((m) => m[1]);
    expect(keywords).toEqual(['LifeboatTarget', 'LifeboatTrigger', 'LifeboatStatus']);
    expect(script).toContain(`for name in ${keywords.join(' ')}; do`);
    expect(script).toContain('--type Keyword');
  });

  it('builds worker and API from the one Dockerfile and starts them after the catalog and Temporal setup', () => {
    for (const name of ['lifeboat-worker', 'lifeboat-api']) {
      const service = services[name]!;
      expect(service.build).toBe('.');
      expect(service.depends_on?.['catalog-db']?.condition).toBe('service_healthy');
      expect(service.depends_on?.['temporal-setup']?.condition).toBe('service_completed_successfully');
    }
    expect(services['lifeboat-worker']?.command).toEqual(['node', 'worker/main.ts']);
    expect(services['lifeboat-api']?.command).toEqual(['node', 'api/main.ts']);
  });

  it('pins every image to a version', () => {
    for (const [name, service] of Object.entries(services)) {
      if (!service.image) continue;
      const tag = service.image.split(':')[1];
      expect(tag, name).toBeTruthy();
      expect(tag, name).not.toBe('latest');
    }
  });

  it('passes Lifeboat only variables that config/env.ts knows or its storage URL names, and requires the secret key', () => {
    for (const name of ['lifeboat-worker', 'lifeboat-api']) {
      const environment = services[name]?.environment ?? {};
      const storageUrl = new URL(String(environment.LIFEBOAT_STORAGE_URL));
      const named = [...storageUrl.searchParams]
        .filter(([key]) => key.endsWith('Env'))
        .map(([, value]) => value);
      expect(storageUrl.protocol).toBe('s3:');
      for (const variable of Object.keys(environment)) {
        if (named.includes(variable)) continue;
        expect(envSource, `${name}: ${variable}`).toContain(variable);
      }
      for (const variable of named)
        expect(Object.keys(environment), `${name}: ${variable}`).toContain(variable);
    }
    expect(composeText).toMatch(/LIFEBOAT_SECRET_KEY: \$\{LIFEBOAT_SECRET_KEY:\?/);
    for (const match of composeText.matchAll(/(?<!\$)\$\{([A-Z_]+)(:?[-?])?[^}]*\}/g)) {
      expect(match[2], `\${${match[1]}} has a default or is required`).toBeDefined();
    }
  });
});

describe('a deployment closed by default', () => {
  it('publishes only the API, and the Temporal Web UI only behind an opt-in profile', () => {
    const published = Object.entries(services)
      .filter(([, service]) => (service.ports ?? []).length > 0 && !service.profiles?.length)
      .map(([name]) => name);
    expect(published).toEqual(['lifeboat-api']);
    for (const name of ['temporal', 'minio', 'catalog-db', 'temporal-db']) {
      expect(services[name]?.ports, `${name} publishes no port`).toBeUndefined();
    }
    expect(services['temporal-ui']?.profiles).toEqual(['ui']);
    for (const port of services['temporal-ui']?.ports ?? []) expect(String(port)).toMatch(/^127\.0\.0\.1:/);
  });

  it('requires the MinIO credentials instead of defaulting them', () => {
    for (const variable of ['MINIO_ROOT_USER', 'MINIO_ROOT_PASSWORD']) {
      const uses = [...composeText.matchAll(new RegExp(`(?<!\\$)\\$\\{${variable}([^}]*)\\}`, 'g'))];
      expect(uses.length, variable).toBeGreaterThan(0);
      for (const [use, rest] of uses) expect(rest, use).toMatch(/^:\?/);
    }
    expect(composeText).not.toContain('lifeboat-secret');
  });

  it('gives the API an upload directory the image creates for its user, and the admin token file a volume', () => {
    const api = services['lifeboat-api']!;
    expect(api.environment?.LIFEBOAT_UPLOAD_DIR).toBe('/var/lib/lifeboat/uploads');
    expect(api.volumes).toEqual(expect.arrayContaining(['uploads:/var/lib/lifeboat/uploads']));
    expect(dockerfile).toMatch(/mkdir -p [^\n]*\/var\/lib\/lifeboat\/uploads/);
    expect(dockerfile).toContain('chown -R lifeboat:lifeboat /var/lib/lifeboat');
    expect(dockerfile).toContain('LIFEBOAT_UPLOAD_DIR=/var/lib/lifeboat/uploads');
    expect(dockerfile).toContain('LIFEBOAT_ADMIN_TOKEN_FILE=/var/lib/lifeboat/admin/admin-token');
  });
});

describe('Dockerfile', () => {
  it('uses a glibc Node 24 base and installs pg clients 13 to 18', () => {
    expect(dockerfile).toMatch(/^FROM node:24-bookworm/m);
    const bases = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(bases).toEqual(['node:24-bookworm-slim']);
    for (const major of [13, 14, 15, 16, 17, 18]) expect(dockerfile).toContain(`postgresql-client-${major}`);
    for (const major of [13, 14, 15, 16, 17, 18])
      expect(dockerfile).toContain(`/usr/lib/postgresql/${major}/bin`);
  });

  it('installs production dependencies from the lock file and runs as a non-root user', () => {
    expect(dockerfile).toContain('npm ci --omit=dev');
    expect(dockerfile).toMatch(/^USER lifeboat$/m);
  });
});

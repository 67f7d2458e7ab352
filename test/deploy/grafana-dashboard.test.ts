// deploy/grafana/lifeboat-dashboard.json: valid JSON in Grafana's dashboard shape, every query of a panel or
// variable reading a metric that /metrics exports.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { metricNamesIn, renderFullSnapshot, sampleNames } from '../support/metrics-snapshot.ts';

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { refId: string; expr: string }[];
}

const file = path.resolve(import.meta.dirname, '../../deploy/grafana/lifeboat-dashboard.json');
const dashboard = JSON.parse(readFileSync(file, 'utf8')) as {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
};

describe('the Grafana dashboard', () => {
  it('is a dashboard with a uid, unique panel ids and panels that fit the 24-column grid', () => {
    expect(dashboard.uid).toBe('lifeboat-backups');
    expect(dashboard.schemaVersion).toBeGreaterThan(30);
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels)
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
  });

  it('queries only metrics that /metrics exports, in every panel and variable', async () => {
    const exported = sampleNames(await renderFullSnapshot());
    const expressions = [
      ...dashboard.panels.flatMap((panel) =>
        (panel.targets ?? []).map((target) => ({ where: panel.title, expr: target.expr })),
      ),
      ...dashboard.templating.list
        .filter((variable) => variable.type === 'query')
        .map((variable) => ({
          where: `$${variable.name}`,
          expr: typeof variable.query === 'string' ? variable.query : variable.query.query,
        })),
    ];
    expect(expressions.length).toBeGreaterThan(15);
    const read = new Set<string>();
    for (const { where, expr } of expressions) {
      const names = metricNamesIn(expr);
      expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        expect(exported.has(name), `${where}: ${name}`).toBe(true);
        read.add(name);
      }
    }
    // Every Lifeboat metric with a target or destination is on the dashboard somewhere.
    for (const name of exported) {
      if (name.startsWith('lifeboat_') && name !== 'lifeboat_build_info') expect(read, name).toContain(name);
    }
  });
});

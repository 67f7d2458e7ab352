// deploy/prometheus/lifeboat-alerts.yml: promtool accepts it, its own unit tests (the 26-hour rule fires)
// pass, and every rule reads a metric that /metrics exports.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { metricNamesIn, renderFullSnapshot, sampleNames } from '../support/metrics-snapshot.ts';

const dir = path.resolve(import.meta.dirname, '../../deploy/prometheus');
const rulesFile = path.join(dir, 'lifeboat-alerts.yml');

/** promtool's output; a failing check throws with it. */
function promtool(...args: string[]): string {
  return execFileSync('promtool', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

interface Rule {
  alert: string;
  expr: string;
  labels: { severity: string };
  annotations: { summary: string; description: string };
}

const rules = (parse(readFileSync(rulesFile, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap(
  (group) => group.rules,
);

describe('the alert rules', () => {
  it('pass promtool check rules', () => {
    expect(promtool('check', 'rules', rulesFile)).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('pass their promtool unit tests, which prove that the 26-hour rule fires', () => {
    const tests = readFileSync(path.join(dir, 'lifeboat-alerts.test.yml'), 'utf8');
    expect(tests).toContain('alertname: LifeboatNoRecentBackup');
    expect(promtool('test', 'rules', 'lifeboat-alerts.test.yml')).toContain('SUCCESS');
  });

  it('cover the missing backup, failures in a row, missing copies, drills and notifications', () => {
    expect(rules.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining([
        'LifeboatNoRecentBackup',
        'LifeboatBackupsFailing',
        'LifeboatBackupCopyMissing',
        'LifeboatDrillNotPassing',
        'LifeboatNotificationsFailing',
      ]),
    );
    for (const rule of rules) {
      expect(['warning', 'critical']).toContain(rule.labels.severity);
      expect(rule.annotations.summary.length).toBeGreaterThan(0);
    }
  });

  it('read only metrics that /metrics exports, the drill metrics among them', async () => {
    const exported = sampleNames(await renderFullSnapshot());
    expect(exported.has('lifeboat_drill_last_success_timestamp_seconds')).toBe(true);
    for (const rule of rules) {
      const names = metricNamesIn(rule.expr);
      expect(names.length, rule.alert).toBeGreaterThan(0);
      for (const name of names) expect(exported.has(name), `${rule.alert}: ${name}`).toBe(true);
    }
  });
});

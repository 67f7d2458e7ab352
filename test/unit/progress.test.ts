// Progress percent: steps in order, never past the next step's start, always within 0–100.
import { describe, expect, it } from 'vitest';
import { backupSteps, progressPercent } from '../../domain/progress.ts';

describe('progressPercent', () => {
  it('rises through the steps and stays within each step', () => {
    const starts = backupSteps.map((step) => progressPercent(step, 0));
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    expect(progressPercent('dump', 1)).toBe(progressPercent('archive', 0));
    expect(progressPercent('done', 0)).toBe(100);
  });

  it('clamps odd fractions', () => {
    expect(progressPercent('dump', 5)).toBe(progressPercent('archive', 0));
    expect(progressPercent('dump', -1)).toBe(progressPercent('dump', 0));
    expect(progressPercent('dump', Number.NaN)).toBe(progressPercent('dump', 0));
  });
});

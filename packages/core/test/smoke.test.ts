import { describe, expect, it } from 'vitest';
import { VERSION } from '../src/index.js';
describe('core', () => {
  it('exports', () => {
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

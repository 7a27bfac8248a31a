import { readdirSync, readFileSync } from 'node:fs';
import { pluginConformance } from '@prmem/core/testing';
import { describe, it } from 'vitest';
import { archOf, backend, PLUGINS, pluginOf } from '../src/index.js';

// The architecture's own sources: everything outside src/mech/.
const SRC = new URL('../src/', import.meta.url);
const sources = readdirSync(SRC)
  .filter((file) => file.endsWith('.ts'))
  .map((file) => ({ file, text: readFileSync(new URL(file, SRC), 'utf8') }));

pluginConformance({ backend, plugins: PLUGINS, pluginOf, archOf, sources }, { describe, it });

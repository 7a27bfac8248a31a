import { describe, it } from 'vitest';
import { backendConformance, toyBackend } from '../src/testing/index.js';

backendConformance(toyBackend(), { describe, it });

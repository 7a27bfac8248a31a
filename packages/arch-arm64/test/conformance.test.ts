import { backendConformance } from '@prmem/core/testing';
import { describe, it } from 'vitest';
import { backend } from '../src/index.js';

backendConformance(backend, { describe, it });

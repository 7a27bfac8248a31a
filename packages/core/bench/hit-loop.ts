/**
 * The access benchmark's TLB-hit loop (and its plain `Uint32Array` twin), run a given
 * number of times and nothing else, so that `bench/instructions.mjs` can count the
 * instructions of one load under cachegrind: `hit-loop.ts <calls> <sim|plain>`.
 */
import { createMachine, PAGE_SIZE } from '../src/index.js';
import { toyBackend } from '../src/testing/index.js';

const calls = Number(process.argv[2] ?? 1000);
const plain = process.argv[3] === 'plain';
const N = 1024;
const m = await createMachine({ arch: toyBackend(), cpus: 1, memoryMiB: 16, tlbEntries: 1024 });
const cpu = m.cpu(0);
const area = m.vmalloc(4 * PAGE_SIZE);
cpu.write32(area.start, 1);
const base = area.start;
const u32 = m.phys.u32;
const pa0 = m.translate(base);

function simLoop(): number {
  let s = 0;
  for (let i = 0; i < N; i++) s += cpu.read32(base + ((i * 4) & 0xfff));
  return s;
}
function plainLoop(): number {
  let s = 0;
  for (let i = 0; i < N; i++) s += u32[(pa0 + ((i * 4) & 0xfff)) >>> 2];
  return s;
}

const loop = plain ? plainLoop : simLoop;
let sum = 0;
for (let c = 0; c < calls; c++) sum += loop();
// The loads must have happened: every call reads the word written above once per 1024.
if (sum !== calls * (N / 1024)) throw new Error(`hit loop read ${sum}, expected ${calls}`);
console.log(
  `${plain ? 'plain' : 'sim'} loads: ${calls * N}, memAccess ${m.stats().events.memAccess}`,
);

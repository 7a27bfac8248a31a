/**
 * The fuzzer's operations as plain data, and their fast-check arbitraries. Pools and
 * allocations are named by a pick (an integer reduced modulo the number that exist when the
 * op runs), so one generated program means the same thing on every backend.
 */
import fc from 'fast-check';

export type PoolModeName = 'ro' | 'wr' | 'auto-ro' | 'auto-wr' | 'start-wr';
export const POOL_MODES: readonly PoolModeName[] = ['ro', 'wr', 'auto-ro', 'auto-wr', 'start-wr'];

/** One write-rare write inside a batch (or alone). */
export type WrPart =
  | {
      readonly k: 'assign';
      readonly alloc: number;
      readonly off: number;
      readonly size: 1 | 2 | 4 | 8;
      readonly value: bigint;
    }
  | {
      readonly k: 'memcpy';
      readonly alloc: number;
      readonly off: number;
      readonly data: Uint8Array;
    }
  | {
      readonly k: 'memset';
      readonly alloc: number;
      readonly off: number;
      readonly byte: number;
      readonly len: number;
    };

export type Op =
  /** Which CPU acts from now on. */
  | { readonly k: 'cpu'; readonly cpu: number }
  /** Context switch of the acting CPU to the user mm or back to init_mm. */
  | { readonly k: 'mm'; readonly user: boolean }
  | {
      readonly k: 'create';
      readonly mode: PoolModeName;
      /** Write-rare modes only: allow makeReadOnly() later. */
      readonly limitRo: boolean;
      readonly refillPages: number;
      readonly alignLog2: number;
    }
  | {
      readonly k: 'alloc';
      readonly pool: number;
      readonly how: 'alloc' | 'zalloc' | 'strdup';
      readonly size: number;
      readonly text: string;
    }
  | { readonly k: 'protect'; readonly pool: number }
  | { readonly k: 'makeReadOnly'; readonly pool: number }
  | { readonly k: 'destroy'; readonly pool: number; readonly reclaim: boolean }
  | { readonly k: 'wr'; readonly part: WrPart }
  | { readonly k: 'batch'; readonly parts: readonly WrPart[] }
  | { readonly k: 'write'; readonly alloc: number; readonly off: number; readonly data: Uint8Array }
  | { readonly k: 'read'; readonly alloc: number }
  /** INVLPG-style local flush of one allocation's page, or a kernel-range shootdown. */
  | { readonly k: 'flush'; readonly alloc: number; readonly global: boolean }
  /**
   * An attacker's call below the pool API (threat model A2/A3): core's protect or vfree
   * without the owner's handle, the mechanism driven directly at memory that is not
   * write-rare, write-rare or plain stores to pool metadata. Every one must be refused
   * and leave the machine exactly as it was.
   */
  | {
      readonly k: 'lower';
      readonly what: LowerCall;
      readonly pool: number;
      readonly alloc: number;
      readonly level: 'wr' | 'ro';
    }
  /** A write-rare session stepped `steps` times, then abandoned (return()) mid-way. */
  | {
      readonly k: 'abandon';
      readonly alloc: number;
      readonly steps: number;
      readonly value: number;
    };

export const LOWER_CALLS = [
  'protect',
  'protect-part',
  'protect-direct-map',
  'vfree',
  'mechanism',
  'meta-fixed',
  'meta-slot',
] as const;
export type LowerCall = (typeof LOWER_CALLS)[number];

const pick = fc.nat({ max: 1 << 20 });
const bytes = (max: number) => fc.uint8Array({ minLength: 1, maxLength: max });

export const wrPartArb: fc.Arbitrary<WrPart> = fc.oneof(
  fc.record({
    k: fc.constant('assign' as const),
    alloc: pick,
    off: pick,
    size: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
    value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  }),
  fc.record({ k: fc.constant('memcpy' as const), alloc: pick, off: pick, data: bytes(96) }),
  fc.record({
    k: fc.constant('memset' as const),
    alloc: pick,
    off: pick,
    byte: fc.integer({ min: 0, max: 255 }),
    len: fc.integer({ min: 1, max: 300 }),
  }),
);

const createArb = fc.record({
  k: fc.constant('create' as const),
  mode: fc.constantFrom(...POOL_MODES),
  limitRo: fc.boolean(),
  refillPages: fc.integer({ min: 1, max: 3 }),
  alignLog2: fc.integer({ min: 0, max: 6 }),
});

const allocArb = fc.record({
  k: fc.constant('alloc' as const),
  pool: pick,
  how: fc.constantFrom('alloc' as const, 'zalloc' as const, 'strdup' as const),
  size: fc.oneof(fc.integer({ min: 1, max: 256 }), fc.integer({ min: 1, max: 9000 })),
  text: fc.string({ maxLength: 40, unit: 'grapheme' }),
});

/**
 * A prelude run before the commands: one to three pools with an allocation each, so that
 * generated commands have something to act on from the first one.
 */
export const preludeArb: fc.Arbitrary<Op[]> = fc
  .array(fc.tuple(createArb, allocArb), { minLength: 1, maxLength: 3 })
  .map((pairs) => pairs.flatMap(([c, a], i) => [c, { ...a, pool: i }]));

/**
 * The arbitrary of one op; `cpus` bounds the acting-CPU choice; `userMm` allows mm
 * switches; `abandon` allows sessions abandoned after N steps (whose effect depends on
 * how many steps a mechanism takes before its write, so not for differential runs).
 */
export function opArb(cpus: number, userMm = true, abandon = true): fc.Arbitrary<Op> {
  return fc.oneof(
    {
      weight: 1,
      arbitrary: fc.record({ k: fc.constant('cpu' as const), cpu: fc.nat({ max: cpus - 1 }) }),
    },
    {
      weight: userMm ? 1 : 0,
      arbitrary: fc.record({ k: fc.constant('mm' as const), user: fc.boolean() }),
    },
    {
      weight: 2,
      arbitrary: createArb,
    },
    {
      weight: 5,
      arbitrary: allocArb,
    },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('protect' as const), pool: pick }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('makeReadOnly' as const), pool: pick }) },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant('destroy' as const),
        pool: pick,
        reclaim: fc.boolean(),
      }),
    },
    { weight: 5, arbitrary: fc.record({ k: fc.constant('wr' as const), part: wrPartArb }) },
    {
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant('batch' as const),
        parts: fc.array(wrPartArb, { minLength: 1, maxLength: 4 }),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        k: fc.constant('write' as const),
        alloc: pick,
        off: pick,
        data: bytes(64),
      }),
    },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('read' as const), alloc: pick }) },
    {
      weight: 1,
      arbitrary: fc.record({ k: fc.constant('flush' as const), alloc: pick, global: fc.boolean() }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant('lower' as const),
        what: fc.constantFrom(...LOWER_CALLS),
        pool: pick,
        alloc: pick,
        level: fc.constantFrom('wr' as const, 'ro' as const),
      }),
    },
    {
      weight: abandon ? 1 : 0,
      arbitrary: fc.record({
        k: fc.constant('abandon' as const),
        alloc: pick,
        steps: fc.integer({ min: 1, max: 10 }),
        value: fc.integer({ min: 0, max: 255 }),
      }),
    },
  );
}

const hex = (b: Uint8Array) =>
  b.length <= 8
    ? Buffer.from(b).toString('hex')
    : `${Buffer.from(b.subarray(0, 8)).toString('hex')}…(${b.length}B)`;

export function describePart(p: WrPart): string {
  switch (p.k) {
    case 'assign':
      return `assign(a${p.alloc}+${p.off}, 0x${p.value.toString(16)}, ${p.size})`;
    case 'memcpy':
      return `memcpy(a${p.alloc}+${p.off}, ${hex(p.data)})`;
    case 'memset':
      return `memset(a${p.alloc}+${p.off}, ${p.byte}, ${p.len})`;
  }
}

/** A readable one-liner (picks as generated; the run resolves them). */
export function describeOp(op: Op): string {
  switch (op.k) {
    case 'cpu':
      return `cpu(${op.cpu})`;
    case 'mm':
      return `switchMm(${op.user ? 'user' : 'init_mm'})`;
    case 'create':
      return `createPool(${op.mode}${op.limitRo ? ', limit ro' : ''}, refill ${op.refillPages}p, align ${2 ** op.alignLog2})`;
    case 'alloc':
      return op.how === 'strdup'
        ? `p${op.pool}.strdup(${JSON.stringify(op.text)})`
        : `p${op.pool}.${op.how}(${op.size})`;
    case 'protect':
    case 'makeReadOnly':
      return `p${op.pool}.${op.k}()`;
    case 'destroy':
      return `p${op.pool}.destroy(${op.reclaim ? 'reclaim' : 'quarantine'})`;
    case 'wr':
      return `wr ${describePart(op.part)}`;
    case 'batch':
      return `wrBatch[${op.parts.map(describePart).join('; ')}]`;
    case 'write':
      return `write(a${op.alloc}+${op.off}, ${hex(op.data)})`;
    case 'read':
      return `read(a${op.alloc})`;
    case 'flush':
      return `flush(a${op.alloc}, ${op.global ? 'kernel range' : 'local page'})`;
    case 'lower':
      return `lower ${op.what}(p${op.pool}, a${op.alloc}, ${op.level})`;
    case 'abandon':
      return `wrAssign(a${op.alloc}, ${op.value}) abandoned after ${op.steps} steps`;
  }
}

/**
 * Checks a Chrome Trace Event document against the rules Perfetto's JSON importer
 * applies, so a trace that passes is drawn whole: timestamps become integer nanoseconds
 * (`trunc(ts × 1000)`) and events are imported in time order (file order for equal
 * times); a `B` opens a slice on its thread, an `E` closes the innermost one (by name,
 * when it has one); a flow start (`s`) binds to the slice open on its thread and is
 * dropped without one; a flow end (`f`, `bp: "e"`) binds to the slice open on its
 * thread, and needs a start with the same id, category and name before it (Perfetto
 * keys flows by id, category and name — not by process — so ids must be unique across
 * merged runs); every process and thread carries a name.
 */

export interface TraceProblem {
  readonly index: number;
  readonly rule: string;
  readonly detail: string;
}

export interface TraceSummary {
  readonly problems: readonly TraceProblem[];
  readonly slices: number;
  readonly flows: number;
  readonly instants: number;
  readonly maxDepth: number;
  /** Slice names per process name. */
  readonly namesByProcess: ReadonlyMap<string, ReadonlySet<string>>;
}

interface Ev {
  readonly ph?: unknown;
  readonly name?: unknown;
  readonly cat?: unknown;
  readonly ts?: unknown;
  readonly pid?: unknown;
  readonly tid?: unknown;
  readonly id?: unknown;
  readonly bp?: unknown;
  readonly args?: { readonly name?: unknown };
}

const toNs = (ts: number) => Math.trunc(ts * 1000);

export function checkTrace(doc: unknown, limit = 50): TraceSummary {
  const problems: TraceProblem[] = [];
  const problem = (index: number, rule: string, detail: string) => {
    if (problems.length < limit) problems.push({ index, rule, detail });
  };
  const events: Ev[] =
    typeof doc === 'object' &&
    doc !== null &&
    Array.isArray((doc as { traceEvents?: unknown }).traceEvents)
      ? (doc as { traceEvents: Ev[] }).traceEvents
      : [];
  if (events.length === 0) problem(-1, 'document', 'no traceEvents array, or it is empty');

  const processNames = new Map<number, string>();
  const threadNames = new Set<string>();
  const used = new Map<string, number>();
  const order: { e: Ev; i: number; ns: number }[] = [];
  for (const [i, e] of events.entries()) {
    if (typeof e.pid !== 'number' || typeof e.tid !== 'number') {
      problem(i, 'ids', 'pid and tid must be numbers');
      continue;
    }
    if (e.ph === 'M') {
      const name = e.args?.name;
      if (typeof name !== 'string' || name.length === 0)
        problem(i, 'metadata', `${String(e.name)} without a name`);
      else if (e.name === 'process_name') processNames.set(e.pid, name);
      else if (e.name === 'thread_name') threadNames.add(`${e.pid}/${e.tid}`);
      continue;
    }
    if (typeof e.ts !== 'number' || !Number.isFinite(e.ts) || e.ts < 0) {
      problem(i, 'ts', `bad timestamp ${String(e.ts)}`);
      continue;
    }
    used.set(`${e.pid}/${e.tid}`, i);
    order.push({ e, i, ns: toNs(e.ts) });
  }
  for (const [track, i] of used) {
    if (!threadNames.has(track)) problem(i, 'metadata', `thread ${track} has no thread_name`);
    const pid = Number(track.split('/')[0]);
    if (!processNames.has(pid)) problem(i, 'metadata', `process ${pid} has no process_name`);
  }
  order.sort((a, b) => a.ns - b.ns || a.i - b.i);

  const stacks = new Map<string, { name: string; i: number }[]>();
  const starts = new Map<string, number>();
  const ended = new Set<string>();
  const namesByProcess = new Map<string, Set<string>>();
  let slices = 0;
  let flows = 0;
  let instants = 0;
  let maxDepth = 0;
  for (const { e, i } of order) {
    const track = `${e.pid}/${e.tid}`;
    let stack = stacks.get(track);
    if (!stack) {
      stack = [];
      stacks.set(track, stack);
    }
    const name = typeof e.name === 'string' ? e.name : '';
    const key = `${String(e.id)}\u0000${String(e.cat)}\u0000${name}`;
    switch (e.ph) {
      case 'B': {
        stack.push({ name, i });
        maxDepth = Math.max(maxDepth, stack.length);
        slices++;
        const proc = processNames.get(e.pid as number) ?? String(e.pid);
        let names = namesByProcess.get(proc);
        if (!names) {
          names = new Set();
          namesByProcess.set(proc, names);
        }
        names.add(name);
        break;
      }
      case 'E': {
        const open = stack.pop();
        if (!open) problem(i, 'balanced', `E "${name}" on ${track} with no open slice`);
        else if (name && open.name !== name)
          problem(i, 'balanced', `E "${name}" closes "${open.name}" (event ${open.i}) on ${track}`);
        break;
      }
      case 'i':
      case 'I':
        instants++;
        break;
      case 's':
        if (typeof e.id !== 'number' && typeof e.id !== 'string')
          problem(i, 'flow', 'flow start without an id');
        if (stack.length === 0)
          problem(
            i,
            'flow enclosed',
            `flow start "${name}" id ${String(e.id)} outside any slice on ${track}`,
          );
        if (starts.has(key))
          problem(
            i,
            'flow id',
            `flow id ${String(e.id)} (${name}) starts twice (events ${starts.get(key)} and ${i})`,
          );
        starts.set(key, i);
        flows++;
        break;
      case 'f':
        if (!starts.has(key))
          problem(i, 'flow', `flow end "${name}" id ${String(e.id)} with no start before it`);
        if (ended.has(key)) problem(i, 'flow id', `flow id ${String(e.id)} (${name}) ends twice`);
        ended.add(key);
        if (e.bp !== 'e')
          problem(i, 'flow enclosed', 'flow end without bp "e" binds to a later slice');
        else if (stack.length === 0)
          problem(
            i,
            'flow enclosed',
            `flow end "${name}" id ${String(e.id)} outside any slice on ${track}`,
          );
        break;
      case 'X':
        problem(i, 'phase', 'complete (X) events are not used: slices are B/E pairs');
        break;
      default:
        problem(i, 'phase', `unknown phase ${String(e.ph)}`);
    }
  }
  for (const [track, stack] of stacks)
    for (const open of stack)
      problem(open.i, 'balanced', `slice "${open.name}" on ${track} is never closed`);
  for (const [key, i] of starts)
    if (!ended.has(key)) problem(i, 'flow', `flow ${key.split('\u0000')[0]} never ends`);
  return { problems, slices, flows, instants, maxDepth, namesByProcess };
}

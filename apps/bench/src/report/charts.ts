/** Vega-Lite specs rendered to SVG in Node (no browser, no canvas). */
import * as vega from 'vega';
import * as vl from 'vega-lite';

export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

export interface BarDatum {
  readonly variant: string;
  readonly arch: string;
  readonly cycles: number;
}

/** Horizontal bars: cycles per operation per mechanism. */
export function barSpec(title: string, data: readonly BarDatum[]): vl.TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 560,
    height: { step: 18 },
    data: { values: data.map((d) => ({ ...d })) },
    mark: { type: 'bar', tooltip: true },
    encoding: {
      y: { field: 'variant', type: 'nominal', sort: null, title: null },
      x: { field: 'cycles', type: 'quantitative', title: 'modeled cycles per operation' },
      color: { field: 'arch', type: 'nominal', title: 'backend' },
    },
  };
}

export interface LineDatum {
  readonly variant: string;
  readonly cpus: number;
  readonly cycles: number;
}

/** Cost against CPU count, both axes log scale (the curves span orders of magnitude). */
export function sweepSpec(title: string, data: readonly LineDatum[]): vl.TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 560,
    height: 280,
    data: { values: data.map((d) => ({ ...d })) },
    mark: { type: 'line', point: true, tooltip: true },
    encoding: {
      x: { field: 'cpus', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'CPUs' },
      y: {
        field: 'cycles',
        type: 'quantitative',
        scale: { type: 'log' },
        title: 'modeled cycles per operation (calling CPU)',
      },
      color: { field: 'variant', type: 'nominal', sort: null, title: 'mechanism' },
    },
  };
}

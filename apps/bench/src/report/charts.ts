/**
 * Vega-Lite specs rendered to SVG in Node (no browser, no canvas). Every mark carries a
 * description that becomes its SVG `<title>` (the hover text of a static SVG); series are
 * told apart by colour *and* shape or dash, so a print without colour still reads.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';

/** Widest chart a 1400 px page holds next to its margins. */
export const MAX_WIDTH = 1200;

/**
 * The SVG of a spec, with a `<title>` in every mark that has an accessible label (vega
 * writes the mark's description as `aria-label`; browsers show `<title>` on hover).
 */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return withTitles(svg);
}

/** Adds `<title>` to self-closing graphics symbols with an aria-label (already escaped by vega). */
export function withTitles(svg: string): string {
  return svg.replace(
    /<(path|circle|rect|line|text)([^<>]*?\srole="graphics-symbol"[^<>]*?)\/>/g,
    (whole, tag: string, attrs: string) => {
      const label = /\saria-label="([^"]*)"/.exec(attrs)?.[1];
      return label ? `<${tag}${attrs}><title>${label}</title></${tag}>` : whole;
    },
  );
}

const AXIS = { labelLimit: 0, titleLimit: 0 } as const;
const LEGEND = { labelLimit: 0, titleLimit: 0, orient: 'right' } as const;

export interface BarDatum {
  readonly variant: string;
  readonly arch: string;
  readonly cycles: number;
}

/** Horizontal bars: cycles per operation per mechanism, coloured by backend. */
export function barSpec(title: string, data: readonly BarDatum[]): vl.TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    // The figure's caption is the title: none inside the SVG.
    description: title,
    width: 640,
    height: { step: 18 },
    data: { values: data.map((d) => ({ ...d })) },
    transform: [
      {
        calculate: "datum.variant + ': ' + format(datum.cycles, ',.0f') + ' cycles per operation'",
        as: 'label',
      },
    ],
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          color: {
            field: 'arch',
            type: 'nominal',
            title: 'backend',
            scale: { scheme: 'tableau10' },
            legend: LEGEND,
          },
          description: { field: 'label' },
        },
      },
      {
        // The value at the end of each bar: readable in print, no hover needed.
        mark: { type: 'text', align: 'left', dx: 3, fontSize: 10 },
        encoding: { text: { field: 'cycles', type: 'quantitative', format: ',.0f' } },
      },
    ],
    encoding: {
      y: { field: 'variant', type: 'nominal', sort: null, title: null, axis: AXIS },
      x: {
        field: 'cycles',
        type: 'quantitative',
        title: 'modeled cycles per operation',
        axis: AXIS,
      },
    },
  };
}

export interface LineDatum {
  readonly variant: string;
  /** The backend (with its profile): one facet each. */
  readonly backend: string;
  readonly mechanism: string;
  readonly cpus: number;
  readonly cycles: number;
}

/**
 * Cost against CPU count, log–log, one facet per backend (at most five mechanisms each,
 * told apart by colour and dash: one legend), all facets on one shared y scale.
 */
export function sweepSpec(title: string, data: readonly LineDatum[]): vl.TopLevelSpec {
  const backends = [...new Set(data.map((d) => d.backend))];
  const width = Math.max(
    160,
    Math.min(260, Math.floor((MAX_WIDTH - 240) / Math.max(1, backends.length)) - 20),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    // The figure's caption is the title: none inside the SVG.
    description: title,
    data: { values: data.map((d) => ({ ...d })) },
    transform: [
      {
        calculate:
          "datum.variant + ' at ' + datum.cpus + ' CPUs: ' + format(datum.cycles, ',.0f') + ' cycles'",
        as: 'label',
      },
    ],
    facet: {
      column: {
        field: 'backend',
        type: 'nominal',
        sort: backends,
        title: null,
        header: { labelLimit: 0 },
      },
    },
    spec: {
      width,
      height: 200,
      mark: { type: 'line', point: { size: 40, filled: true } },
      encoding: {
        x: {
          field: 'cpus',
          type: 'quantitative',
          scale: { type: 'log', base: 2 },
          title: 'CPUs',
          axis: AXIS,
        },
        y: {
          field: 'cycles',
          type: 'quantitative',
          scale: { type: 'log' },
          title: 'cycles per operation (calling CPU)',
          axis: AXIS,
        },
        color: {
          field: 'mechanism',
          type: 'nominal',
          title: 'mechanism',
          scale: { scheme: 'tableau10' },
          legend: LEGEND,
        },
        strokeDash: { field: 'mechanism', type: 'nominal', title: 'mechanism', legend: LEGEND },
        description: { field: 'label' },
      },
    },
    resolve: { scale: { y: 'shared' } },
  };
}

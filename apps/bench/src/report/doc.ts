/**
 * A small document model, rendered to Markdown and to self-contained HTML, so both
 * reports say exactly the same thing. Inline text is Markdown (code spans, bold, links);
 * the HTML side renders it with markdown-it, which also does all the escaping.
 */
import MarkdownIt from 'markdown-it';

export type Tone = 'good' | 'bad' | 'warn' | 'neutral' | 'unmeasured';

/** A table cell: plain inline Markdown, or a coloured cell that may link to its evidence. */
export type Cell =
  | string
  | {
      readonly text: string;
      readonly tone?: Tone;
      /** An anchor or URL the cell links to (its evidence). */
      readonly href?: string;
      /** Where the cell links in report.md (Markdown tables carry no cell anchors). */
      readonly mdHref?: string;
      /** An id other cells link to. */
      readonly id?: string;
      /** Shown on hover (HTML `title`). */
      readonly title?: string;
    };

export type Block =
  | {
      readonly kind: 'heading';
      readonly level: 1 | 2 | 3;
      readonly text: string;
      readonly id?: string;
    }
  | { readonly kind: 'para'; readonly text: string }
  | { readonly kind: 'list'; readonly items: readonly string[] }
  | {
      readonly kind: 'table';
      readonly headers: readonly Cell[];
      readonly rows: readonly (readonly Cell[])[];
      /** Columns aligned right (numbers). */
      readonly numeric?: readonly number[];
      /** A grid of short coloured cells (the attack matrix): compact, centred. */
      readonly grid?: boolean;
    }
  | { readonly kind: 'chart'; readonly title: string; readonly svg: string }
  /** The table of contents: every level-2 heading after it. */
  | { readonly kind: 'toc' };

/** GitHub-style anchor of a heading text (what report.md's links point to). */
export function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .trim()
    .replace(/\s/g, '-');
}

export const headingId = (b: { text: string; id?: string }) => b.id ?? slug(b.text);

/** Marks that keep a tone readable without colour (print, colour-blind readers). */
const TONE_MARK: Record<Tone, string> = {
  good: '✓',
  bad: '✗',
  warn: '!',
  neutral: '',
  unmeasured: '?',
};

const cellText = (c: Cell) => (typeof c === 'string' ? c : c.text);

function mdCell(c: Cell): string {
  let s = cellText(c);
  if (typeof c !== 'string') {
    const mark = c.tone ? TONE_MARK[c.tone] : '';
    if (mark) s = `${s} ${mark}`;
    const href = c.mdHref ?? c.href;
    if (href) s = `[${s}](${href})`;
  }
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function tocEntries(blocks: readonly Block[]): { text: string; id: string }[] {
  const at = blocks.findIndex((b) => b.kind === 'toc');
  return blocks
    .slice(at + 1)
    .filter((b): b is Extract<Block, { kind: 'heading' }> => b.kind === 'heading' && b.level === 2)
    .map((b) => ({ text: b.text, id: headingId(b) }));
}

export function toMarkdown(blocks: readonly Block[]): string {
  const out: string[] = [];
  for (const b of blocks) {
    switch (b.kind) {
      case 'heading':
        out.push(`${'#'.repeat(b.level)} ${b.text}`);
        break;
      case 'para':
        out.push(b.text);
        break;
      case 'list':
        out.push(b.items.map((i) => `- ${i}`).join('\n'));
        break;
      case 'toc':
        out.push(
          tocEntries(blocks)
            .map((e) => `- [${e.text}](#${e.id})`)
            .join('\n'),
        );
        break;
      case 'table': {
        const num = new Set(b.numeric ?? []);
        out.push(
          [
            `| ${b.headers.map(mdCell).join(' | ')} |`,
            `| ${b.headers.map((_, i) => (num.has(i) ? '---:' : '---')).join(' | ')} |`,
            ...b.rows.map((r) => `| ${r.map(mdCell).join(' | ')} |`),
          ].join('\n'),
        );
        break;
      }
      case 'chart':
        // Markdown has no inline SVG worth relying on: the charts are in report.html.
        out.push(`_Chart: ${b.title} — see report.html._`);
        break;
    }
  }
  return `${out.join('\n\n')}\n`;
}

const md = new MarkdownIt({ html: false, linkify: false, typographer: false });
const esc = (s: string) => md.utils.escapeHtml(s);
const inline = (s: string) => md.renderInline(s);

function htmlCell(c: Cell, tag: 'td' | 'th', numeric: boolean): string {
  const classes: string[] = [];
  if (numeric) classes.push('n');
  let body = inline(cellText(c));
  let attrs = '';
  if (typeof c !== 'string') {
    if (c.tone) {
      classes.push(`t-${c.tone}`);
      const mark = TONE_MARK[c.tone];
      if (mark) body += ` <span class="mark" aria-hidden="true">${mark}</span>`;
    }
    if (c.id) attrs += ` id="${esc(c.id)}"`;
    if (c.title) attrs += ` title="${esc(c.title)}"`;
    if (c.href) body = `<a href="${esc(c.href)}">${body}</a>`;
  }
  if (classes.length > 0) attrs += ` class="${classes.join(' ')}"`;
  return `<${tag}${attrs}>${body}</${tag}>`;
}

const STYLE = `
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:1.5rem auto;max-width:1360px;padding:0 1rem;color:#1b1b1b}
h1,h2,h3{line-height:1.2}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.wrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:12.5px}
th,td{border:1px solid #d6d6d6;padding:3px 7px;vertical-align:top}th{background:#f3f3f3;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}code{background:#f3f3f3;padding:0 3px;border-radius:3px}
table.grid{font-size:11.5px}table.grid td{text-align:center;white-space:nowrap;padding:2px 4px}
table.grid th{writing-mode:vertical-rl;transform:rotate(180deg);text-align:left;vertical-align:bottom;white-space:nowrap}
table.grid th:first-child{writing-mode:horizontal-tb;transform:none;vertical-align:bottom}
table.grid td:first-child{text-align:left}
td.t-good{background:#d9f2dd}td.t-bad{background:#f8d3d0}td.t-warn{background:#fbe9c3}
td.t-neutral{background:#eeeeee;color:#555}td.t-unmeasured{background:#fff;color:#777;font-style:italic}
td a{color:inherit}.mark{font-weight:700}
nav.toc ol{columns:2;margin:.4rem 0 1rem}
figure{margin:1rem 0;overflow-x:auto;max-width:100%}figcaption{font-weight:600;margin-bottom:.3rem}
@media print{body{max-width:none;margin:0}h2{break-before:auto}figure,table{break-inside:avoid}
td.t-good,td.t-bad,td.t-warn,td.t-neutral{background:none}}
`;

export function toHtml(title: string, blocks: readonly Block[]): string {
  const body: string[] = [];
  for (const b of blocks) {
    switch (b.kind) {
      case 'heading':
        body.push(`<h${b.level} id="${esc(headingId(b))}">${inline(b.text)}</h${b.level}>`);
        break;
      case 'para':
        body.push(`<p>${inline(b.text)}</p>`);
        break;
      case 'list':
        body.push(`<ul>${b.items.map((i) => `<li>${inline(i)}</li>`).join('')}</ul>`);
        break;
      case 'toc':
        body.push(
          `<nav class="toc" aria-label="Contents"><strong>Contents</strong><ol>${tocEntries(blocks)
            .map((e) => `<li><a href="#${esc(e.id)}">${inline(e.text)}</a></li>`)
            .join('')}</ol></nav>`,
        );
        break;
      case 'table': {
        const num = new Set(b.numeric ?? []);
        const head = b.headers.map((h) => htmlCell(h, 'th', false)).join('');
        const rows = b.rows
          .map((r) => `<tr>${r.map((c, i) => htmlCell(c, 'td', num.has(i))).join('')}</tr>`)
          .join('\n');
        body.push(
          `<div class="wrap"><table${b.grid ? ' class="grid"' : ''}><thead><tr>${head}</tr></thead><tbody>\n${rows}\n</tbody></table></div>`,
        );
        break;
      }
      case 'chart':
        body.push(`<figure><figcaption>${esc(b.title)}</figcaption>${b.svg}</figure>`);
        break;
    }
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${STYLE}</style></head>
<body>
${body.join('\n')}
</body></html>
`;
}

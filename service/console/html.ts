/**
 * HTML for the operator console, built so that nothing reaches a page unescaped: `html` is a
 * tagged template whose every interpolation is escaped (text and attribute contexts alike: & < >
 * " ' are replaced) unless it is itself `html` output; lists are joined. Charts are inline SVG
 * drawn here (no script, no CDN), each with a text alternative.
 */

export class Html {
  constructor(readonly s: string) {}
  toString() {
    return this.s;
  }
}

export const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

const render = (v: unknown): string =>
  v instanceof Html ? v.s : Array.isArray(v) ? v.map(render).join("") : v === null || v === undefined || v === false ? "" : esc(String(v));

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0];
  values.forEach((v, i) => (out += render(v) + strings[i + 1]));
  return new Html(out);
}

/** A path segment for a URL (tenant ids are slugs already; encoded anyway). */
export const seg = (s: string | number) => encodeURIComponent(String(s));

export const usd = (n: number | null | undefined) =>
  n === null || n === undefined ? "—" : `${n < 0 ? "−" : ""}$${Math.abs(n).toFixed(2)}`;

/**
 * Colours chosen for WCAG AA contrast on white (4.5:1 for text): text #1b1b1b (17:1), links
 * #0b4f9c (8.3:1), muted #555 (7.5:1), alert #a4161a (7.6:1), ok #1e6b34 (6.6:1); focus is a
 * 3 px outline, never removed.
 */
const STYLE = `
body{font:15px/1.5 system-ui,sans-serif;color:#1b1b1b;background:#fff;margin:0}
header{background:#1b1b1b;color:#fff;padding:.5rem 1rem;display:flex;gap:1rem;align-items:center}
header a,header button{color:#fff}
main{padding:1rem;max-width:1100px}
a{color:#0b4f9c}
a:focus,button:focus,input:focus{outline:3px solid #e8a200;outline-offset:2px}
table{border-collapse:collapse;margin:.5rem 0 1rem}
th,td{border-bottom:1px solid #ccc;padding:.25rem .6rem;text-align:left;vertical-align:top}
.muted{color:#555}.alert{color:#a4161a;font-weight:600}.ok{color:#1e6b34}
.figures{display:flex;gap:1.5rem;flex-wrap:wrap}.figures div{border:1px solid #ccc;padding:.5rem .8rem}
button{font:inherit;padding:.3rem .8rem;background:#0b4f9c;color:#fff;border:0;border-radius:3px;cursor:pointer}
header button{background:#444}
form.inline{display:inline}
`;

export function page(title: string, body: Html, o: { caller?: string; csrf?: string } = {}): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>${title} · penguinmails console</title>
        <style>
          ${new Html(STYLE)}
        </style>
      </head>
      <body>
        <header>
          <strong>penguinmails</strong>
          <nav><a href="/console/fleet">Fleet</a></nav>
          ${
            o.caller
              ? html`<span class="muted" style="color:#ddd">signed in as ${o.caller}</span>
                  <form class="inline" method="post" action="/console/logout">
                    <input type="hidden" name="csrf" value="${o.csrf ?? ""}" /><button type="submit">Sign out</button>
                  </form>`
              : ""
          }
        </header>
        <main id="main">${body}</main>
      </body>
    </html>`.s;
}

/** A bar chart (inline SVG) of values by label, with a table-like text alternative. */
export function barChart(title: string, bars: Array<{ label: string; value: number }>, unit = (n: number) => usd(n)): Html {
  const w = 40;
  const h = 120;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const alt = bars.map((b) => `${b.label}: ${unit(b.value)}`).join(", ");
  return html`<figure>
    <svg
      role="img"
      aria-label="${title}: ${alt}"
      width="${bars.length * (w + 10) + 10}"
      height="${h + 40}"
      xmlns="http://www.w3.org/2000/svg"
    >
      <title>${title}</title>
      ${bars.map((b, i) => {
        const bh = Math.round((b.value / max) * h);
        return html`<g>
          <rect x="${10 + i * (w + 10)}" y="${h - bh + 5}" width="${w}" height="${bh}" fill="#0b4f9c"
            ><title>${b.label}: ${unit(b.value)}</title></rect
          >
          <text x="${10 + i * (w + 10) + w / 2}" y="${h + 20}" font-size="10" text-anchor="middle" fill="#1b1b1b">${b.label}</text>
          <text x="${10 + i * (w + 10) + w / 2}" y="${h + 34}" font-size="10" text-anchor="middle" fill="#1b1b1b">${unit(b.value)}</text>
        </g>`;
      })}
    </svg>
    <figcaption>${title}</figcaption>
  </figure>`;
}

/** A line (inline SVG) of a warm-up plan with today's day marked. */
export function warmupCurve(ip: string, plan: Array<{ day: number; maxMessages: number }>, today: number | null): Html {
  if (!plan.length) return html`<span class="muted">no warm-up plan</span>`;
  const w = 160;
  const h = 40;
  const maxDay = plan[plan.length - 1].day;
  const max = Math.max(1, ...plan.map((p) => p.maxMessages));
  const x = (d: number) => Math.round((Math.min(d, maxDay) / maxDay) * (w - 4)) + 2;
  const y = (m: number) => h - 2 - Math.round((m / max) * (h - 4));
  const points = plan.map((p) => `${x(p.day)},${y(p.maxMessages)}`).join(" ");
  return html`<svg
    role="img"
    aria-label="warm-up of ${ip}: day ${today ?? "?"} of ${maxDay}, up to ${max} messages a day"
    width="${w}"
    height="${h}"
    xmlns="http://www.w3.org/2000/svg"
  >
    <polyline points="${points}" fill="none" stroke="#0b4f9c" stroke-width="2" />
    ${today !== null ? html`<line x1="${x(today)}" x2="${x(today)}" y1="0" y2="${h}" stroke="#a4161a" stroke-width="1.5" />` : ""}
  </svg>`;
}

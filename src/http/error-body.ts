/**
 * Glance's three error body shapes, chosen by the request's Accept header the way WebOb does it
 * (reference §1.4): offers are text/html then application/json; no match means text/plain.
 * `*\/*` therefore gets HTML, as curl users see from Glance.
 */

export interface ErrorBody {
  readonly contentType: string;
  readonly body: string;
}

export interface ErrorText {
  readonly status: number;
  readonly title: string;
  readonly explanation: string;
  readonly detail: string;
}

interface AcceptEntry {
  readonly type: string;
  readonly q: number;
}

function parseAccept(header: string): AcceptEntry[] {
  return header
    .split(',')
    .map((part) => {
      const [type = '', ...params] = part.trim().split(';');
      const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      const q = qParam === undefined ? 1 : Number(qParam.slice(2));
      return { type: type.trim().toLowerCase(), q: Number.isFinite(q) ? q : 0 };
    })
    .filter((entry) => entry.type !== '' && entry.q > 0);
}

function quality(entries: readonly AcceptEntry[], offer: string): number {
  const [major] = offer.split('/');
  let best = 0;
  for (const { type, q } of entries) {
    if (type === offer || type === '*/*' || type === `${major ?? ''}/*`) best = Math.max(best, q);
  }
  return best;
}

export function chooseErrorFormat(accept: string | undefined): 'html' | 'json' | 'plain' {
  if (accept === undefined || accept.trim() === '') return 'plain';
  const entries = parseAccept(accept);
  const html = quality(entries, 'text/html');
  const json = quality(entries, 'application/json');
  if (html === 0 && json === 0) return 'plain';
  return html >= json ? 'html' : 'json';
}

function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

export function renderErrorBody(text: ErrorText, accept: string | undefined): ErrorBody {
  const statusLine = `${text.status} ${text.title}`;
  switch (chooseErrorFormat(accept)) {
    case 'json':
      return {
        contentType: 'application/json',
        body: JSON.stringify({ message: `${text.explanation}<br /><br />\n${text.detail}\n\n`, code: statusLine, title: text.title }),
      };
    case 'html':
      return {
        contentType: 'text/html; charset=UTF-8',
        body: `<html>\n <head>\n  <title>${statusLine}</title>\n </head>\n <body>\n  <h1>${statusLine}</h1>\n  ${escapeHtml(text.explanation)}<br /><br />\n${escapeHtml(text.detail)}\n\n\n </body>\n</html>`,
      };
    case 'plain':
      return { contentType: 'text/plain; charset=UTF-8', body: `${statusLine}\n\n${text.explanation}\n\n ${text.detail}  ` };
  }
}

/** Barbican's error document (`code`, `title`, `description`), which barbicanclient prints. */
export function barbicanErrorBody(text: ErrorText): { contentType: string; body: string } {
  return { contentType: 'application/json', body: JSON.stringify({ code: text.status, title: text.title, description: text.explanation }) };
}

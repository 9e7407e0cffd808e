/**
 * Per-call templates: a profile's instructions and greeting may name the contact's fields as
 * `{{contactName}}`, with a default after a pipe (`{{contactName|there}}`). Filling is one pass over
 * the template, so a value is never read as a template itself; `\{{` writes a literal `{{`.
 *
 * Escaping: a value comes from a CRM or a CSV file, not from us, and lands in the model's
 * instructions. It is made one line (control characters and line breaks become spaces, runs of
 * spaces one), loses every brace, `<`, `>` and backtick (no fake tags, fences or placeholders),
 * and is cut to MAX_VALUE_CHARS. An empty value takes the default, else the empty string.
 */

export const MAX_VALUE_CHARS = 200;
export const MAX_VARIABLES = 30;
export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,39}$/;

const PLACEHOLDER = /\\\{\{|\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,39})\s*(?:\|([^{}]{0,200}?))?\s*\}\}/g;

export type TemplateValues = Readonly<Record<string, string | number | boolean | null | undefined>>;

/** A value made safe to place in instructions (see the file's comment). */
export function escapeValue(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  return (
    String(value)
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ')
      .replace(/[{}<>`]/g, '')
      .replace(/\s+/g, ' ')
      .trim()
      .slice(0, MAX_VALUE_CHARS)
      .trim()
  );
}

/** The names a template refers to (for validation and the dashboard). */
export function templateNames(template: string): string[] {
  const names = new Set<string>();
  for (const m of template.matchAll(PLACEHOLDER)) if (m[1]) names.add(m[1]);
  return [...names];
}

/** Fills every `{{name}}` / `{{name|default}}`; unknown names take their default (else nothing). */
export function renderTemplate(template: string, values: TemplateValues): string {
  return template.replace(PLACEHOLDER, (match, name: string | undefined, fallback: string | undefined) => {
    if (name === undefined) return '{{';
    const own = Object.prototype.hasOwnProperty.call(values, name) ? escapeValue(values[name]) : '';
    return own !== '' ? own : escapeValue(fallback ?? '');
  });
}

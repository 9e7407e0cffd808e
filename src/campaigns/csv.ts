/**
 * CSV in and out (csv-parse / csv-stringify). Import: a header row naming `phone` (required),
 * `name`, `timeZone`, and any other column as a per-row template variable; at most MAX_CONTACTS
 * rows; the first bad row is reported by its line number. Export: one row per contact with its
 * progress and outcome; cells that a spreadsheet would run as a formula are prefixed with '.
 */
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { CampaignInputError, MAX_CONTACTS, parseContact, type ContactInput } from './model';

export const MAX_CSV_BYTES = 2 * 1024 * 1024;

export function parseContactsCsv(csv: string): ContactInput[] {
  let records: Record<string, string>[];
  try {
    records = parse(csv, {
      columns: (header: string[]) => header.map((h) => h.trim()),
      skip_empty_lines: true,
      trim: true,
      bom: true,
      max_record_size: 16 * 1024,
      to_line: MAX_CONTACTS + 2,
    }) as Record<string, string>[];
  } catch (err) {
    throw new CampaignInputError('csv', `is not valid CSV (${(err as Error).message.slice(0, 200)})`);
  }
  if (records.length === 0) throw new CampaignInputError('csv', 'has no contact rows');
  if (records.length > MAX_CONTACTS) throw new CampaignInputError('csv', `must have at most ${MAX_CONTACTS} rows`);
  if (!Object.prototype.hasOwnProperty.call(records[0], 'phone')) {
    throw new CampaignInputError('csv', 'must have a header row with a "phone" column');
  }
  return records.map((row, i) => {
    const { phone, name, timeZone, ...variables } = row;
    const cleaned = Object.fromEntries(Object.entries(variables).filter(([, v]) => v !== ''));
    return parseContact({ phone, name, timeZone, variables: cleaned }, `csv line ${i + 2}`);
  });
}

const FORMULA = /^[=+\-@\t\r]/;

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const s = value instanceof Date ? value.toISOString() : String(value);
  return FORMULA.test(s) && !/^\+\d+$/.test(s) ? `'${s}` : s;
}

export interface ContactResultRow {
  row: number;
  phone: string;
  name: string | null;
  timeZone: string | null;
  state: string;
  outcome: string | null;
  disposition: string | null;
  attempts: number;
  lastDialAt: Date | null;
  nextAttemptAt: Date | null;
  lastCallId: string | null;
}

export const RESULT_COLUMNS = [
  'row',
  'phone',
  'name',
  'timeZone',
  'state',
  'outcome',
  'disposition',
  'attempts',
  'lastDialAt',
  'nextAttemptAt',
  'lastCallId',
] as const;

export function resultsCsv(rows: readonly ContactResultRow[]): string {
  return stringify(
    rows.map((r) => RESULT_COLUMNS.map((c) => cell(r[c]))),
    { header: true, columns: [...RESULT_COLUMNS] },
  );
}

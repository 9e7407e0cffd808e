/**
 * A conversation's language hint ('auto' or an ISO 639 code with an optional region: 'en', 'pt-BR')
 * and what the engines make of it: the transcription language (ISO-639-1, as OpenAI's Realtime and
 * transcription sessions take it), a BCP-47 tag (Deepgram) and a line of the agent's instructions.
 * 'auto' (or no hint) changes nothing: the providers detect the language themselves.
 */

/** Same rule as the profiles file and the API's `language` filter. */
export const LANGUAGE_HINT_PATTERN = /^(auto|[a-z]{2,3}(-[A-Za-z0-9]{2,8})?)$/;

/** The hint when `value` is a well-formed one (at most 16 characters), else undefined. */
export function parseLanguageHint(value: unknown): string | undefined {
  return typeof value === 'string' && value.length <= 16 && LANGUAGE_HINT_PATTERN.test(value) ? value : undefined;
}

/** The hint as a language (not 'auto', not malformed), or undefined. */
function specific(hint: string | null | undefined): string | undefined {
  const parsed = parseLanguageHint(hint);
  return parsed && parsed !== 'auto' ? parsed : undefined;
}

/** ISO-639-1 code for a transcription session ('pt-BR' → 'pt'); undefined for 'auto' or a 3-letter code. */
export function transcriptionLanguage(hint: string | null | undefined): string | undefined {
  const primary = specific(hint)?.split('-')[0];
  return primary && primary.length === 2 ? primary : undefined;
}

/** The hint as a BCP-47 tag ('pt-BR'), for providers that take one; undefined for 'auto'. */
export function bcp47Language(hint: string | null | undefined): string | undefined {
  return specific(hint);
}

/** The language's English name ('de' → 'German', 'pt-BR' → 'Brazilian Portuguese'), the code itself when unknown. */
export function languageName(hint: string): string {
  try {
    const name = new Intl.DisplayNames(['en'], { type: 'language', fallback: 'code' }).of(hint);
    return name && name !== hint ? name : hint;
  } catch {
    return hint;
  }
}

/** The agent's instructions with the language line appended (unchanged for 'auto' or no hint). */
export function instructionsWithLanguage(instructions: string, hint: string | null | undefined): string {
  const language = specific(hint);
  if (!language) return instructions;
  return `${instructions}\n\nThe caller speaks ${languageName(language)}; answer in it.`;
}

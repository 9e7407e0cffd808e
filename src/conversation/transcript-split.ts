/**
 * Splits an agent turn's text into what the caller heard and what a barge-in cut off. The Realtime
 * API gives no word timings over WebSocket, so the split is proportional to the audio heard
 * (heardMs of totalMs), moved back to a word boundary so no word is claimed half-heard.
 */
export function splitHeardText(text: string, heardMs: number, totalMs: number): { heard: string; unheard: string } {
  const clean = text.trim();
  if (!clean) return { heard: '', unheard: '' };
  if (totalMs <= 0 || heardMs <= 0) return { heard: '', unheard: clean };
  if (heardMs >= totalMs) return { heard: clean, unheard: '' };
  let cut = Math.floor((clean.length * heardMs) / totalMs);
  while (cut > 0 && !/\s/.test(clean[cut - 1]) && !/\s/.test(clean[cut] ?? ' ')) cut--;
  return { heard: clean.slice(0, cut).trim(), unheard: clean.slice(cut).trim() };
}

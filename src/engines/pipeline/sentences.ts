/**
 * Cuts a stream of model tokens into sentences, so each sentence can go to speech as soon as it is
 * complete. A sentence ends at . ! ? or a line break followed by whitespace (or the end of the
 * stream); decimals ("3.5"), initials and common abbreviations ("J.", "Dr.", "e.g.") and a very short
 * first piece do not end one. A sentence longer than `maxChars` is cut at the last comma or space.
 */
const END = /[.!?…]+["')\]]*\s|\n+/g;
const ABBREVIATION = /(?:^|\s)(?:[A-Z]|[a-z]\.[a-z]|Mr|Mrs|Ms|Dr|St|vs|etc|No)\.$/;

export class SentenceSplitter {
  private buffer = '';

  constructor(
    private readonly minChars = 8,
    private readonly maxChars = 250,
  ) {}

  /** Adds a token delta; returns the sentences it completed (trimmed, non-empty). */
  push(delta: string): string[] {
    this.buffer += delta;
    const out: string[] = [];
    let start = 0;
    END.lastIndex = 0;
    for (let m = END.exec(this.buffer); m; m = END.exec(this.buffer)) {
      const end = m.index + m[0].length;
      const candidate = this.buffer.slice(start, end).trim();
      const head = this.buffer.slice(start, m.index + m[0].trimEnd().length).trim();
      if (candidate.length < this.minChars || (m[0][0] === '.' && ABBREVIATION.test(head))) continue;
      out.push(candidate);
      start = end;
    }
    this.buffer = this.buffer.slice(start);
    while (this.buffer.length > this.maxChars) {
      const window = this.buffer.slice(0, this.maxChars);
      let cut = Math.max(window.lastIndexOf(', '), window.lastIndexOf('; '));
      if (cut < this.minChars) cut = window.lastIndexOf(' ');
      if (cut < this.minChars) cut = this.maxChars - 1;
      out.push(this.buffer.slice(0, cut + 1).trim());
      this.buffer = this.buffer.slice(cut + 1);
    }
    return out;
  }

  /** The rest of the stream (the last sentence), if any. */
  flush(): string | undefined {
    const rest = this.buffer.trim();
    this.buffer = '';
    return rest || undefined;
  }
}

/** Reads a `text/event-stream` response body and yields each event's `data` field. */
export async function* readSseData(body: ReadableStream<Uint8Array>, maxEventBytes = 1 << 20): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    if (buffer.length > maxEventBytes) throw new Error('event stream: event too large');
    let nl = buffer.indexOf('\n');
    while (nl >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      if (line === '') {
        if (data.length) yield data.join('\n');
        data = [];
      } else if (line.startsWith('data:')) {
        data.push(line.slice(5).replace(/^ /, ''));
      }
      nl = buffer.indexOf('\n');
    }
  }
  if (data.length) yield data.join('\n');
}

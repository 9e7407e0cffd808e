/**
 * Fake streaming speech-to-text over real WebSockets, both wire protocols the pipeline speaks:
 * - Deepgram-compatible (`/v1/listen?encoding=mulaw&sample_rate=8000…`, `Authorization: Token K`):
 *   binary audio in; `Results` out (interim every ~0.5 s of audio, `is_final` + `from_finalize` after
 *   a `{"type":"Finalize"}`), `{"type":"CloseStream"}` ends it.
 * - OpenAI Realtime transcription (`/v1/realtime?intent=transcription`, `Authorization: Bearer K`):
 *   `session.update` (type transcription), `input_audio_buffer.append` / `.commit` in;
 *   `input_audio_buffer.committed`, `conversation.item.input_audio_transcription.delta` /
 *   `.completed` out.
 * The fake cannot understand speech: each finished utterance is given the next of `transcripts`
 * (in order; '' when they run out), after `asrDelayMs`.
 */
import type WebSocket from 'ws';

export interface SttFakeOptions {
  transcripts?: string[];
  asrDelayMs?: number;
  /** Close the socket (code 1011) instead of answering the Nth finalize/commit (1-based). */
  failOnFinalize?: number;
  /** Never answer the Nth finalize/commit. */
  hangOnFinalize?: number;
}

export interface SttFakeState {
  utterances: number;
  audioBytes: number;
  /** Query parameters of each Deepgram connection. */
  connections: Record<string, string>[];
}

function nextTranscript(options: SttFakeOptions, state: SttFakeState): string | null | 'hang' {
  state.utterances++;
  if (options.failOnFinalize === state.utterances) return null;
  if (options.hangOnFinalize === state.utterances) return 'hang';
  return options.transcripts?.[state.utterances - 1] ?? '';
}

export function serveDeepgram(ws: WebSocket, options: SttFakeOptions, state: SttFakeState): void {
  let sinceInterim = 0;
  const results = (transcript: string, extra: Record<string, unknown>): string =>
    JSON.stringify({
      type: 'Results',
      channel_index: [0, 1],
      duration: 0,
      start: 0,
      channel: { alternatives: [{ transcript, confidence: 0.9, words: [] }] },
      ...extra,
    });
  ws.send(JSON.stringify({ type: 'Metadata', request_id: 'fake' }));
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      const bytes = (data as Buffer).length;
      state.audioBytes += bytes;
      sinceInterim += bytes;
      if (sinceInterim >= 4000) {
        sinceInterim = 0;
        const next = options.transcripts?.[state.utterances];
        if (next) ws.send(results(next.split(' ')[0], { is_final: false, speech_final: false }));
      }
      return;
    }
    let msg: { type?: string };
    try {
      msg = JSON.parse(data.toString()) as { type?: string };
    } catch {
      return;
    }
    if (msg.type === 'CloseStream') ws.close(1000);
    if (msg.type !== 'Finalize') return;
    const text = nextTranscript(options, state);
    if (text === null) return ws.close(1011, 'injected fault');
    if (text === 'hang') return;
    setTimeout(() => {
      if (ws.readyState === ws.OPEN)
        ws.send(results(text, { is_final: true, speech_final: true, from_finalize: true }));
    }, options.asrDelayMs ?? 0);
  });
}

export function serveOpenAiTranscription(ws: WebSocket, options: SttFakeOptions, state: SttFakeState): void {
  let appended = 0;
  let items = 0;
  ws.send(JSON.stringify({ type: 'session.created', session: { type: 'transcription' } }));
  ws.on('message', (data) => {
    let ev: { type?: string; audio?: string; session?: unknown };
    try {
      ev = JSON.parse(data.toString()) as typeof ev;
    } catch {
      return;
    }
    if (ev.type === 'session.update') ws.send(JSON.stringify({ type: 'session.updated', session: ev.session }));
    if (ev.type === 'input_audio_buffer.append' && typeof ev.audio === 'string') {
      const n = Buffer.from(ev.audio, 'base64').length;
      appended += n;
      state.audioBytes += n;
    }
    if (ev.type !== 'input_audio_buffer.commit') return;
    if (appended === 0) {
      ws.send(
        JSON.stringify({
          type: 'error',
          error: {
            type: 'invalid_request_error',
            code: 'input_audio_buffer_commit_empty',
            message: 'buffer too small',
          },
        }),
      );
      return;
    }
    appended = 0;
    const itemId = `item_fake_${++items}`;
    ws.send(JSON.stringify({ type: 'input_audio_buffer.committed', item_id: itemId, previous_item_id: null }));
    const text = nextTranscript(options, state);
    if (text === null) return ws.close(1011, 'injected fault');
    if (text === 'hang') return;
    setTimeout(() => {
      if (ws.readyState !== ws.OPEN) return;
      if (text)
        ws.send(
          JSON.stringify({
            type: 'conversation.item.input_audio_transcription.delta',
            item_id: itemId,
            content_index: 0,
            delta: text.split(' ')[0],
          }),
        );
      ws.send(
        JSON.stringify({
          type: 'conversation.item.input_audio_transcription.completed',
          item_id: itemId,
          content_index: 0,
          transcript: text,
        }),
      );
    }, options.asrDelayMs ?? 0);
  });
}

import {
  appendAudioBytes,
  appendAudioMessage,
  base64AudioDurationMs,
  buildSessionUpdate,
  isKnownServerEvent,
  parseServerEvent,
  type SessionOptions,
} from '../../src/engines/realtime/protocol';
import { backoffDelayMs } from '../../src/engines/realtime/realtime-client';

const BASE: SessionOptions = {
  model: 'gpt-realtime',
  instructions: 'Be brief.',
  voice: 'marin',
  audioFormat: 'pcmu',
  vad: { type: 'server_vad', threshold: 0.6, silenceMs: 400, prefixPaddingMs: 250 },
  transcriptionModel: 'gpt-4o-transcribe',
};

describe('parseServerEvent', () => {
  it('parses a GA event unchanged', () => {
    const raw = JSON.stringify({ type: 'response.output_audio.delta', response_id: 'r', item_id: 'i', delta: 'AAA=' });
    expect(parseServerEvent(raw)).toEqual({ ok: true, event: JSON.parse(raw) });
  });

  it.each([
    ['response.audio.delta', 'response.output_audio.delta', { response_id: 'r', item_id: 'i', delta: 'AA==' }],
    ['response.audio.done', 'response.output_audio.done', { response_id: 'r', item_id: 'i' }],
    [
      'response.audio_transcript.delta',
      'response.output_audio_transcript.delta',
      { response_id: 'r', item_id: 'i', delta: 'Hi' },
    ],
    [
      'response.audio_transcript.done',
      'response.output_audio_transcript.done',
      { response_id: 'r', item_id: 'i', transcript: 'Hi' },
    ],
    ['response.text.delta', 'response.output_text.delta', { delta: 'x' }],
  ])('normalises the beta name %s to %s', (beta, ga, fields) => {
    const result = parseServerEvent(JSON.stringify({ type: beta, ...fields }));
    expect(result).toEqual({ ok: true, event: { type: ga, ...fields } });
  });

  it('keeps conversation.item.created as is', () => {
    const result = parseServerEvent(JSON.stringify({ type: 'conversation.item.created', item: { id: 'x' } }));
    expect(result.ok && result.event.type).toBe('conversation.item.created');
  });

  it('passes unknown event types through', () => {
    const result = parseServerEvent('{"type":"output_audio_buffer.started","response_id":"r"}');
    expect(result).toEqual({ ok: true, event: { type: 'output_audio_buffer.started', response_id: 'r' } });
    expect(result.ok && isKnownServerEvent(result.event)).toBe(false);
  });

  it.each([
    ['', 'invalid JSON'],
    ['{"type":', 'invalid JSON'],
    ['[1,2]', 'event is not a JSON object'],
    ['null', 'event is not a JSON object'],
    ['"text"', 'event is not a JSON object'],
    ['{"type":42}', 'event has no string "type"'],
    ['{"no":"type"}', 'event has no string "type"'],
    ['{"type":"response.done"}', 'response.done: "response" must be a object'],
    [
      '{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":7}',
      'response.output_audio.delta: "delta" must be a string',
    ],
    [
      '{"type":"input_audio_buffer.speech_started","item_id":"i","audio_start_ms":"5"}',
      'input_audio_buffer.speech_started: "audio_start_ms" must be a number',
    ],
    ['{"type":"error","error":null}', 'error: "error" must be a object'],
    [
      '{"type":"response.function_call_arguments.done","call_id":"c","name":"f"}',
      'response.function_call_arguments.done: "arguments" must be a string',
    ],
  ])('rejects %s without throwing', (raw, reason) => {
    expect(parseServerEvent(raw)).toEqual({ ok: false, reason });
  });

  it('narrows known events for a switch', () => {
    const result = parseServerEvent('{"type":"response.done","response":{"id":"r","status":"cancelled"}}');
    if (!result.ok || !isKnownServerEvent(result.event)) throw new Error('expected a known event');
    const event = result.event;
    expect(event.type === 'response.done' && event.response.status).toBe('cancelled');
  });
});

describe('buildSessionUpdate', () => {
  it('builds the GA shape for G.711 mu-law passthrough with server VAD', () => {
    expect(buildSessionUpdate(BASE)).toEqual({
      type: 'session.update',
      session: {
        type: 'realtime',
        model: 'gpt-realtime',
        instructions: 'Be brief.',
        output_modalities: ['audio'],
        audio: {
          input: {
            format: { type: 'audio/pcmu' },
            turn_detection: {
              type: 'server_vad',
              threshold: 0.6,
              prefix_padding_ms: 250,
              silence_duration_ms: 400,
              create_response: true,
              interrupt_response: false,
            },
            transcription: { model: 'gpt-4o-transcribe' },
          },
          output: { format: { type: 'audio/pcmu' }, voice: 'marin' },
        },
      },
    });
  });

  it('uses audio/pcm at 24 kHz, semantic VAD and tools when asked', () => {
    const event = buildSessionUpdate({
      ...BASE,
      audioFormat: 'pcm16',
      vad: { type: 'semantic_vad', eagerness: 'high' },
      transcriptionModel: undefined,
      interruptResponse: true,
      tools: [{ type: 'function', name: 'transfer', parameters: { type: 'object' } }],
    });
    const audio = event.session.audio!;
    expect(audio.input!.format).toEqual({ type: 'audio/pcm', rate: 24000 });
    expect(audio.output!.format).toEqual({ type: 'audio/pcm', rate: 24000 });
    expect(audio.input!.turn_detection).toEqual({
      type: 'semantic_vad',
      eagerness: 'high',
      create_response: true,
      interrupt_response: true,
    });
    expect(audio.input).not.toHaveProperty('transcription');
    expect(event.session.tools).toHaveLength(1);
    expect(event.session.tool_choice).toBe('auto');
  });

  it('never mentions the beta fields', () => {
    const text = JSON.stringify(buildSessionUpdate(BASE));
    expect(text).not.toMatch(/input_audio_format|g711_ulaw|modalities":\["text"/);
  });
});

describe('appendAudioMessage', () => {
  it('is the same JSON as serializing the event object', () => {
    const audio = Buffer.from([0xff, 0x7f, 0x00, 0x80, 0x12]).toString('base64');
    const text = appendAudioMessage(audio);
    expect(JSON.parse(text)).toEqual({ type: 'input_audio_buffer.append', audio });
    expect(text).toBe(JSON.stringify({ type: 'input_audio_buffer.append', audio }));
  });

  it('as bytes (appendAudioBytes) is the same text in UTF-8, whatever the length', () => {
    for (const n of [0, 1, 2, 3, 160, 161, 8000]) {
      const audio = Buffer.alloc(n, n & 0xff).toString('base64');
      const bytes = appendAudioBytes(audio);
      expect(bytes.equals(Buffer.from(appendAudioMessage(audio), 'utf8'))).toBe(true);
    }
  });
});

describe('base64AudioDurationMs', () => {
  it('measures 20 ms of mu-law and 20 ms of PCM16 24 kHz, padding included', () => {
    expect(base64AudioDurationMs(Buffer.alloc(160).toString('base64'), 'pcmu')).toBe(20);
    expect(base64AudioDurationMs(Buffer.alloc(960).toString('base64'), 'pcm16')).toBe(20);
    expect(base64AudioDurationMs(Buffer.alloc(161).toString('base64'), 'pcmu')).toBe(20.125);
    expect(base64AudioDurationMs('', 'pcmu')).toBe(0);
  });
});

describe('backoffDelayMs', () => {
  it('doubles the ceiling per attempt, capped at maxMs, scaled by the jitter draw', () => {
    const top = (): number => 0.9999;
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelayMs(a, 250, 5000, top))).toEqual([249, 499, 999, 1999, 3999, 4999]);
    expect(backoffDelayMs(3, 250, 5000, () => 0)).toBe(0);
    expect(backoffDelayMs(3, 250, 5000, () => 0.5)).toBe(500);
  });

  it('stays within [0, maxMs] for random draws', () => {
    for (let attempt = 1; attempt <= 20; attempt++) {
      const d = backoffDelayMs(attempt, 100, 3000);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(3000);
    }
  });
});

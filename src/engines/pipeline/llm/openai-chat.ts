/**
 * Any OpenAI-compatible chat-completions endpoint (OpenAI, or a self-hosted server), streaming
 * (`stream: true`, server-sent events ending with `data: [DONE]`), with the profile's skills as
 * tools. Tool-call arguments arrive in pieces under `choices[0].delta.tool_calls[i]` (id and name
 * in the first piece, by `index`); they are handed on whole when the stream ends.
 */
import { StageError, type LlmProvider, type LlmRequest, type LlmResult, type LlmSink } from '../providers';
import { readSseData } from './sse';

/** Longest reply read (characters of text and tool arguments): a model that never stops is cut here (minutes of speech). */
const MAX_REPLY_CHARS = 4000;

export interface OpenAiChatOptions {
  /** Base URL, e.g. https://api.openai.com/v1 (POST {url}/chat/completions). */
  url: string;
  apiKey: string;
  model: string;
}

interface ChunkChoice {
  delta?: {
    content?: string | null;
    tool_calls?: { index?: number; id?: string; function?: { name?: string; arguments?: string } }[];
  };
  finish_reason?: string | null;
}

interface Chunk {
  choices?: ChunkChoice[];
  usage?: { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } };
  error?: { message?: string };
}

export class OpenAiChatLlm implements LlmProvider {
  readonly name = 'openai-chat';
  readonly supportsTools = true;

  constructor(private readonly options: OpenAiChatOptions) {}

  async respond(request: LlmRequest, sink: LlmSink): Promise<LlmResult> {
    const body: Record<string, unknown> = {
      model: this.options.model,
      messages: request.messages,
      stream: true,
      stream_options: { include_usage: true },
    };
    if (request.tools.length) {
      body.tools = request.tools.map((t) => ({
        type: 'function',
        function: { name: t.name, description: t.description, parameters: t.parameters },
      }));
    }
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    const res = await fetch(`${this.options.url}/chat/completions`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal: request.signal,
    });
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      throw new StageError('llm', this.name, `HTTP ${res.status}`);
    }
    const calls = new Map<number, { id: string; name: string; arguments: string }>();
    let result: LlmResult = {};
    let chars = 0;
    for await (const data of readSseData(res.body)) {
      if (data === '[DONE]') break;
      let chunk: Chunk;
      try {
        chunk = JSON.parse(data) as Chunk;
      } catch {
        throw new StageError('llm', this.name, 'malformed stream event');
      }
      if (chunk.error) throw new StageError('llm', this.name, chunk.error.message ?? 'error event');
      if (chunk.usage) {
        result = {
          usage: {
            inputTokens: chunk.usage.prompt_tokens ?? 0,
            outputTokens: chunk.usage.completion_tokens ?? 0,
            cachedTokens: chunk.usage.prompt_tokens_details?.cached_tokens ?? 0,
          },
        };
      }
      const delta = chunk.choices?.[0]?.delta;
      if (!delta) continue;
      chars += (delta.content?.length ?? 0) + (delta.tool_calls?.[0]?.function?.arguments?.length ?? 0);
      if (chars > MAX_REPLY_CHARS) break; // leaving the loop cancels the body
      if (typeof delta.content === 'string' && delta.content) sink.onText(delta.content);
      for (const piece of delta.tool_calls ?? []) {
        const index = piece.index ?? 0;
        let call = calls.get(index);
        if (!call) {
          call = { id: piece.id ?? `call_${index}`, name: '', arguments: '' };
          calls.set(index, call);
        }
        if (piece.id) call.id = piece.id;
        if (piece.function?.name) call.name += piece.function.name;
        if (piece.function?.arguments) call.arguments += piece.function.arguments;
      }
    }
    for (const call of calls.values()) {
      if (call.name) sink.onToolCall({ id: call.id, name: call.name, arguments: call.arguments || '{}' });
    }
    return result;
  }
}

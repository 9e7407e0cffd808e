/**
 * Fake OpenAI-compatible chat completions: POST …/chat/completions with `stream: true` answers
 * server-sent events (`chat.completion.chunk` objects, then `data: [DONE]`), one word per chunk,
 * tool calls as `delta.tool_calls` pieces (id and name first, arguments in two parts), and a last
 * chunk with `usage` when `stream_options.include_usage` is set.
 */
import type http from 'node:http';
import { delay, sendError, type Fault } from './http-util';

export interface ChatReply {
  text?: string;
  toolCalls?: { name: string; arguments: string }[];
}

export interface ChatRequestBody {
  model?: string;
  messages?: { role: string; content?: string; tool_call_id?: string; tool_calls?: unknown[] }[];
  tools?: { type: string; function: { name: string } }[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
}

export interface ChatFakeOptions {
  /** What to answer; default: repeats the last user message. */
  reply?: (body: ChatRequestBody) => ChatReply;
  firstTokenDelayMs?: number;
  tokenIntervalMs?: number;
  /** Fault of the next requests (consumed in order). */
  faults?: Fault[];
}

export function defaultChatReply(body: ChatRequestBody): ChatReply {
  const last = [...(body.messages ?? [])].reverse().find((m) => m.role === 'user');
  return { text: last?.content ? `You said ${last.content}. Anything else?` : 'Hello, how can I help you today?' };
}

export async function handleChat(
  body: ChatRequestBody,
  res: http.ServerResponse,
  options: ChatFakeOptions,
  fault: Fault | undefined,
): Promise<void> {
  if (fault?.hang) return;
  if (fault?.status) return sendError(res, fault.status, 'injected fault');
  if (!Array.isArray(body.messages)) return sendError(res, 400, "Missing required parameter: 'messages'.");
  const reply = (options.reply ?? defaultChatReply)(body);
  const id = `chatcmpl-${Math.random().toString(36).slice(2, 10)}`;
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta: Record<string, unknown>, finish: string | null = null): string =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model ?? 'fake', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id,
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: reply.text ?? '' }, finish_reason: 'stop' }],
      }),
    );
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  await delay(options.firstTokenDelayMs ?? 0);
  const pieces: string[] = [];
  pieces.push(chunk({ role: 'assistant', content: '' }));
  const words = (reply.text ?? '').split(/(?<= )/).filter(Boolean);
  for (const w of words) pieces.push(chunk({ content: w }));
  (reply.toolCalls ?? []).forEach((call, index) => {
    const half = Math.ceil(call.arguments.length / 2);
    pieces.push(
      chunk({
        tool_calls: [
          {
            index,
            id: `call_${index}_${id.slice(-4)}`,
            type: 'function',
            function: { name: call.name, arguments: call.arguments.slice(0, half) },
          },
        ],
      }),
    );
    pieces.push(chunk({ tool_calls: [{ index, function: { arguments: call.arguments.slice(half) } }] }));
  });
  pieces.push(chunk({}, reply.toolCalls?.length ? 'tool_calls' : 'stop'));
  if (body.stream_options?.include_usage) {
    pieces.push(
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, choices: [], usage: { prompt_tokens: 50, completion_tokens: words.length, total_tokens: 50 + words.length } })}\n\n`,
    );
  }
  pieces.push('data: [DONE]\n\n');
  for (let i = 0; i < pieces.length; i++) {
    if (res.destroyed) return;
    if (fault?.dropAfter !== undefined && i >= fault.dropAfter) {
      res.destroy();
      return;
    }
    res.write(pieces[i]);
    if (i > 0 && i < words.length) await delay(options.tokenIntervalMs ?? 0);
  }
  res.end();
}

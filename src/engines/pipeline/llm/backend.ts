/**
 * A conversation backend: the call center's own dialogue service. The first utterance of a call
 * starts a conversation, the next ones continue it:
 *   POST {base}/conversation/start   {"callId", "message"}            -> {"conversationId", "reply"}
 *   POST {base}/conversation/message {"conversationId", "message"}    -> {"reply"}
 * (`Authorization: Bearer BACKEND_API_KEY` when set.) The reply text is spoken; each request may
 * take at most BACKEND_API_TIMEOUT_MS.
 */
import { StageError, type LlmProvider, type LlmRequest, type LlmResult, type LlmSink } from '../providers';
import { postJson } from './post-json';

export interface BackendOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
}

export class ConversationBackendLlm implements LlmProvider {
  readonly name = 'backend';
  readonly supportsTools = false;
  private conversationId: string | undefined;

  constructor(private readonly options: BackendOptions) {}

  async respond(request: LlmRequest, sink: LlmSink): Promise<LlmResult> {
    if (!request.userText) return {};
    const starting = this.conversationId === undefined;
    const path = starting ? '/conversation/start' : '/conversation/message';
    const payload = starting
      ? { callId: request.callId, message: request.userText }
      : { conversationId: this.conversationId, message: request.userText };
    const body = await postJson(this.name, `${this.options.baseUrl}${path}`, payload, {
      apiKey: this.options.apiKey,
      timeoutMs: this.options.timeoutMs,
      signal: request.signal,
    });
    if (starting) {
      if (typeof body.conversationId !== 'string' || !body.conversationId) {
        throw new StageError('llm', this.name, 'start answered without a conversationId');
      }
      this.conversationId = body.conversationId;
    }
    if (typeof body.reply === 'string' && body.reply) sink.onText(body.reply);
    return {};
  }
}

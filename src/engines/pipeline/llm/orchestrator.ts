/**
 * An orchestrator: one endpoint that routes each utterance and answers with a reply and an intent.
 * (`Authorization: Bearer BACKEND_API_KEY` when set; BACKEND_API_TIMEOUT_MS per request.)
 *   POST {ORCHESTRATOR_URL} {"callId", "message", "history": [{role, content}]} -> {"reply", "intent"?}
 */
import type { LlmProvider, LlmRequest, LlmResult, LlmSink } from '../providers';
import { postJson } from './post-json';

export class OrchestratorLlm implements LlmProvider {
  readonly name = 'orchestrator';
  readonly supportsTools = false;

  constructor(private readonly options: { url: string; apiKey: string; timeoutMs: number }) {}

  async respond(request: LlmRequest, sink: LlmSink): Promise<LlmResult> {
    if (!request.userText) return {};
    const history = request.messages
      .filter((m) => m.role === 'user' || m.role === 'assistant')
      .map((m) => ({ role: m.role, content: m.content }));
    const body = await postJson(
      this.name,
      this.options.url,
      { callId: request.callId, message: request.userText, history },
      { apiKey: this.options.apiKey, timeoutMs: this.options.timeoutMs, signal: request.signal },
    );
    if (typeof body.reply === 'string' && body.reply) sink.onText(body.reply);
    return typeof body.intent === 'string' ? { intent: body.intent.slice(0, 100) } : {};
  }
}

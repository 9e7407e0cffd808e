/**
 * The local stand-in for a language model (no keys, no network): it answers by saying what it
 * heard, so an offline call shows the whole cascade working. Greets with a fixed sentence.
 */
import type { LlmProvider, LlmRequest, LlmResult, LlmSink } from '../providers';

export class LocalLlm implements LlmProvider {
  readonly name = 'local';
  readonly supportsTools = false;

  respond(request: LlmRequest, sink: LlmSink): Promise<LlmResult> {
    if (request.userText === undefined) sink.onText('Hello, thanks for calling. How can I help you today?');
    else sink.onText(`You said: ${request.userText}. How else can I help?`);
    return Promise.resolve({});
  }
}

/**
 * Fake conversation backend and orchestrator:
 *   POST /conversation/start {"callId", "message"} → {"conversationId", "reply"}
 *   POST /conversation/message {"conversationId", "message"} → {"reply"} (404 for an unknown id)
 *   POST /orchestrate {"callId", "message", "history"} → {"reply", "intent"}
 */
import type http from 'node:http';
import { delay, sendError, sendJson, type Fault } from './http-util';

export interface BackendFakeOptions {
  reply?: (message: string, turn: number) => string;
  intent?: (message: string) => string;
  delayMs?: number;
  faults?: Fault[];
}

export interface BackendFakeState {
  conversations: Map<string, { callId: string; messages: string[] }>;
  orchestrated: { callId: string; message: string; history: unknown[] }[];
}

const defaultReply = (message: string, turn: number): string => `Backend turn ${turn}: you said ${message}.`;

export async function handleBackend(
  path: string,
  body: Record<string, unknown>,
  res: http.ServerResponse,
  options: BackendFakeOptions,
  state: BackendFakeState,
  fault: Fault | undefined,
): Promise<void> {
  if (fault?.hang) return;
  await delay(options.delayMs ?? 0);
  if (fault?.status) return sendError(res, fault.status, 'injected fault');
  const message = typeof body.message === 'string' ? body.message : '';
  if (!message) return sendError(res, 400, 'message is required');
  const reply = options.reply ?? defaultReply;
  if (path === '/conversation/start') {
    if (typeof body.callId !== 'string' || !body.callId) return sendError(res, 400, 'callId is required');
    const conversationId = `conv_${state.conversations.size + 1}`;
    state.conversations.set(conversationId, { callId: body.callId, messages: [message] });
    return sendJson(res, 200, { conversationId, reply: reply(message, 1) });
  }
  if (path === '/conversation/message') {
    const conversation =
      typeof body.conversationId === 'string' ? state.conversations.get(body.conversationId) : undefined;
    if (!conversation) return sendError(res, 404, 'unknown conversationId');
    conversation.messages.push(message);
    return sendJson(res, 200, { reply: reply(message, conversation.messages.length) });
  }
  // /orchestrate
  state.orchestrated.push({
    callId: String(body.callId ?? ''),
    message,
    history: Array.isArray(body.history) ? body.history : [],
  });
  const intent = options.intent?.(message) ?? (/bill|balance|account/i.test(message) ? 'billing' : 'general');
  return sendJson(res, 200, { reply: reply(message, state.orchestrated.length), intent });
}

/**
 * Client-event validation of the local Realtime server: what the real API refuses, it refuses with
 * the same error codes and messages (thrown as ClientInputError, answered as an `error` event).
 */
import { randomBytes } from 'node:crypto';
import type {
  AudioFormatName,
  ConversationItem,
  RealtimeAudioFormat,
  TurnDetection,
} from '../../engines/realtime/protocol';

export const BYTES_PER_MS: Record<AudioFormatName, number> = { pcmu: 8, pcm16: 48 };
export const SAMPLE_RATE: Record<AudioFormatName, number> = { pcmu: 8000, pcm16: 24000 };

export class ClientInputError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(9).toString('base64url')}`;
}

export function formatOf(name: AudioFormatName): RealtimeAudioFormat {
  return name === 'pcmu' ? { type: 'audio/pcmu' } : { type: 'audio/pcm', rate: 24000 };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function parseFormat(raw: unknown, field: string): AudioFormatName | undefined {
  if (raw === undefined || raw === null) return undefined;
  const type = isObject(raw) ? raw.type : raw;
  if (type === 'audio/pcmu' || type === 'g711_ulaw') return 'pcmu';
  if (type === 'audio/pcm' || type === 'pcm16') {
    const rate = isObject(raw) ? raw.rate : undefined;
    if (rate !== undefined && rate !== 24000) {
      throw new ClientInputError('invalid_value', `Invalid value for '${field}.rate': only 24000 is supported.`);
    }
    return 'pcm16';
  }
  throw new ClientInputError(
    'invalid_value',
    `Invalid value for '${field}': ${JSON.stringify(type)?.slice(0, 60)}. Supported here: 'audio/pcmu', 'audio/pcm'.`,
  );
}

export function parseTurnDetection(raw: unknown): TurnDetection | null {
  if (raw === null) return null;
  if (!isObject(raw)) throw new ClientInputError('invalid_type', "Invalid type for 'turn_detection'.");
  const bool = (v: unknown, name: string): boolean | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean')
      throw new ClientInputError('invalid_type', `Invalid type for 'turn_detection.${name}'.`);
    return v;
  };
  if (raw.type === 'server_vad') {
    const num = (v: unknown, name: string, min: number, max: number): number | undefined => {
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !(v >= min && v <= max)) {
        throw new ClientInputError('invalid_value', `Invalid value for 'turn_detection.${name}'.`);
      }
      return v;
    };
    return {
      type: 'server_vad',
      threshold: num(raw.threshold, 'threshold', 0, 1) ?? 0.5,
      prefix_padding_ms: num(raw.prefix_padding_ms, 'prefix_padding_ms', 0, 10_000) ?? 300,
      silence_duration_ms: num(raw.silence_duration_ms, 'silence_duration_ms', 10, 10_000) ?? 500,
      create_response: bool(raw.create_response, 'create_response') ?? true,
      interrupt_response: bool(raw.interrupt_response, 'interrupt_response') ?? false,
    };
  }
  if (raw.type === 'semantic_vad') {
    const eagerness = raw.eagerness ?? 'auto';
    if (eagerness !== 'low' && eagerness !== 'medium' && eagerness !== 'high' && eagerness !== 'auto') {
      throw new ClientInputError('invalid_value', "Invalid value for 'turn_detection.eagerness'.");
    }
    return {
      type: 'semantic_vad',
      eagerness,
      create_response: bool(raw.create_response, 'create_response') ?? true,
      interrupt_response: bool(raw.interrupt_response, 'interrupt_response') ?? false,
    };
  }
  throw new ClientInputError(
    'invalid_value',
    "Invalid value for 'turn_detection.type'. Supported values are: 'server_vad' and 'semantic_vad'.",
  );
}

export function validateItem(raw: unknown): ConversationItem {
  if (!isObject(raw)) throw new ClientInputError('missing_required_parameter', "Missing required parameter: 'item'.");
  if (raw.id !== undefined && (typeof raw.id !== 'string' || raw.id.length === 0 || raw.id.length > 64)) {
    throw new ClientInputError('invalid_value', "Invalid 'item.id'.");
  }
  const str = (field: string): string => {
    const v = raw[field];
    if (typeof v !== 'string')
      throw new ClientInputError('missing_required_parameter', `Missing required parameter: 'item.${field}'.`);
    return v;
  };
  switch (raw.type) {
    case 'message': {
      const role = raw.role;
      if (role !== 'user' && role !== 'assistant' && role !== 'system') {
        throw new ClientInputError(
          'invalid_value',
          "Invalid value for 'item.role'. Supported values are: 'user', 'assistant', 'system'.",
        );
      }
      if (!Array.isArray(raw.content) || raw.content.length === 0) {
        throw new ClientInputError('missing_required_parameter', "Missing required parameter: 'item.content'.");
      }
      const allowed = role === 'assistant' ? ['output_text', 'output_audio'] : ['input_text', 'input_audio'];
      for (const part of raw.content as unknown[]) {
        if (!isObject(part) || typeof part.type !== 'string' || !allowed.includes(part.type)) {
          throw new ClientInputError(
            'invalid_value',
            `Invalid content part for a ${role} message. Supported types: ${allowed.map((a) => `'${a}'`).join(', ')}.`,
          );
        }
        if ((part.type === 'input_text' || part.type === 'output_text') && typeof part.text !== 'string') {
          throw new ClientInputError(
            'missing_required_parameter',
            "Missing required parameter: 'item.content[].text'.",
          );
        }
      }
      return raw as unknown as ConversationItem;
    }
    case 'function_call_output':
      str('call_id');
      str('output');
      return raw as unknown as ConversationItem;
    case 'function_call':
      str('call_id');
      str('name');
      str('arguments');
      return raw as unknown as ConversationItem;
    default:
      throw new ClientInputError(
        'invalid_value',
        "Invalid value for 'item.type'. Supported values are: 'message', 'function_call', 'function_call_output'.",
      );
  }
}

export function isOutOfBandText(event: Record<string, unknown>): boolean {
  const response = event.response as { conversation?: unknown; output_modalities?: unknown } | undefined;
  return (
    response?.conversation === 'none' &&
    Array.isArray(response.output_modalities) &&
    response.output_modalities.length === 1 &&
    response.output_modalities[0] === 'text'
  );
}

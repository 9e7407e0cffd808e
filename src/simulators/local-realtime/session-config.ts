/** session.update as the local Realtime server reads it (validated whole before anything changes), and the session object it reports. */
import type {
  AudioFormatName,
  RealtimeSessionConfig,
  ToolDefinition,
  TurnDetection,
} from '../../engines/realtime/protocol';
import { ClientInputError, formatOf, isObject, parseFormat, parseTurnDetection } from './client-input';
import type { SessionInfo } from './types';

/** A validated session.update: undefined fields were absent and change nothing. */
export interface SessionUpdate {
  raw: Record<string, unknown>;
  inputFormat?: AudioFormatName;
  outputFormat?: AudioFormatName;
  turnDetection?: TurnDetection | null;
  /** null: transcription off; undefined: unchanged. */
  transcription?: { model: string } | null;
  instructions?: string;
  voice?: string;
  tools?: ToolDefinition[];
}

export function parseSessionUpdate(event: Record<string, unknown>): SessionUpdate {
  const session = event.session;
  if (!isObject(session)) {
    throw new ClientInputError('missing_required_parameter', "Missing required parameter: 'session'.");
  }
  if (session.type !== undefined && session.type !== 'realtime') {
    throw new ClientInputError('invalid_value', "Invalid value: 'session.type'. Supported values are: 'realtime'.");
  }
  const audio = isObject(session.audio) ? session.audio : {};
  const input = isObject(audio.input) ? audio.input : {};
  const output = isObject(audio.output) ? audio.output : {};
  const inputFormat = parseFormat(input.format ?? session.input_audio_format, 'audio.input.format');
  const outputFormat = parseFormat(output.format ?? session.output_audio_format, 'audio.output.format');
  const hasTurnDetection = 'turn_detection' in input || 'turn_detection' in session;
  const turnDetection = hasTurnDetection
    ? parseTurnDetection('turn_detection' in input ? input.turn_detection : session.turn_detection)
    : undefined;
  const transcriptionRaw = 'transcription' in input ? input.transcription : session.input_audio_transcription;
  if (session.tools !== undefined && !Array.isArray(session.tools)) {
    throw new ClientInputError('invalid_type', "Invalid type for 'session.tools': expected an array.");
  }
  if (session.instructions !== undefined && typeof session.instructions !== 'string') {
    throw new ClientInputError('invalid_type', "Invalid type for 'session.instructions': expected a string.");
  }
  const voice = output.voice ?? session.voice;
  return {
    raw: session,
    inputFormat,
    outputFormat,
    turnDetection,
    transcription:
      transcriptionRaw === undefined
        ? undefined
        : isObject(transcriptionRaw) && typeof transcriptionRaw.model === 'string'
          ? { model: transcriptionRaw.model }
          : null,
    instructions: typeof session.instructions === 'string' ? session.instructions : undefined,
    voice: typeof voice === 'string' ? voice : undefined,
    tools: Array.isArray(session.tools) ? (session.tools as ToolDefinition[]) : undefined,
  };
}

export function describeSession(
  info: SessionInfo,
  transcription: { model: string } | null,
  tools: ToolDefinition[],
): RealtimeSessionConfig & { id: string; object: string } {
  return {
    id: info.id,
    object: 'realtime.session',
    type: 'realtime',
    model: info.model ?? 'gpt-realtime',
    output_modalities: ['audio'],
    instructions: info.instructions,
    audio: {
      input: {
        format: formatOf(info.inputFormat),
        transcription,
        noise_reduction: null,
        turn_detection: info.turnDetection,
      },
      output: { format: formatOf(info.outputFormat), voice: info.voice, speed: 1 },
    },
    tools,
    tool_choice: 'auto',
    max_output_tokens: 'inf',
  };
}

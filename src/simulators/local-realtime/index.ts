export { LocalRealtimeServer } from './server';
export { vadThresholdToRms } from './vad';
export type {
  AudioTap,
  LocalRealtimeServerOptions,
  LocalRealtimeStats,
  ReplyContext,
  ResponseInfo,
  SessionInfo,
  SpeechTurnInfo,
  ToolCallHook,
  ToolCallRequest,
  TruncateInfo,
} from './types';

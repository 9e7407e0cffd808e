/** The Realtime engine's registration (src/engines/index.ts): speech-to-speech over the Realtime API. */
import type { EngineFactory } from '../../conversation/engine';
import { RealtimeEngine } from './realtime-engine';

export { RealtimeEngine } from './realtime-engine';

export const createRealtimeEngine: EngineFactory = (ctx) => new RealtimeEngine(ctx);

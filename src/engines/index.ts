/**
 * The registry of agent engines: a profile's `engine` name → the factory that builds one engine per
 * call (src/conversation/engine.ts: AgentEngine, EngineContext). The conversation core asks this
 * registry through the CallBridge and never names an engine itself.
 *
 * Adding an engine: one folder src/engines/<name>/ exporting an EngineFactory, its name in
 * ENGINE_NAMES (src/agent/profiles.ts), and one line below.
 */
import type { EngineFactory } from '../conversation/engine';
import type { EngineName } from '../agent/profiles';
import { createRealtimeEngine } from './realtime';
import { createPipelineEngine } from './pipeline';
import { createEchoEngine } from './echo/echo-engine';

export const ENGINES: Partial<Record<EngineName, EngineFactory>> = {
  realtime: createRealtimeEngine,
  pipeline: createPipelineEngine,
  echo: createEchoEngine,
};

/** The factory of an engine name; undefined when this build does not offer it. */
export function engineFactory(name: string): EngineFactory | undefined {
  return Object.prototype.hasOwnProperty.call(ENGINES, name) ? ENGINES[name as EngineName] : undefined;
}

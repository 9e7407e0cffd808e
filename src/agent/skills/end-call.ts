/** end_call: the agent says goodbye and hangs up (the call ends once the goodbye has played). */
import { defineSkill } from './types';

export const endCallSkill = defineSkill<{ reason?: string }>({
  name: 'end_call',
  description:
    'Hang up the phone call. Use it when the conversation is finished or the caller asks to end the call. ' +
    'Say a short goodbye first; the line is closed once your goodbye has played.',
  parameters: {
    type: 'object',
    properties: {
      reason: { type: 'string', maxLength: 200, description: 'Why the call ends, in a few words' },
    },
    additionalProperties: false,
  },
  handler(args, ctx) {
    ctx.call.hangUp();
    // The model's own words about the caller: PII (masked in the logs unless LOG_PII=true).
    ctx.logger.info('agent ends the call', { endCallReason: args.reason ?? null });
    return { ok: true, message: 'The call will end after your goodbye.' };
  },
});

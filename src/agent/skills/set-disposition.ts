/**
 * set_disposition: the agent records how the call went (e.g. interested, callback, not-interested)
 * with an optional short note. Kept in the call's metadata (custom.disposition); on a campaign
 * call it is also the contact's disposition, and the contact's outcome becomes `completed`.
 */
import { defineSkill, SkillError } from './types';

export const DISPOSITIONS = [
  'interested',
  'not-interested',
  'callback',
  'sale',
  'wrong-number',
  'do-not-call',
  'voicemail',
  'other',
] as const;

export const setDispositionSkill = defineSkill<{ disposition: string; note?: string }>({
  name: 'set_disposition',
  description:
    'Record the outcome of this call once it is clear: interested, not-interested, callback, sale, wrong-number, ' +
    'do-not-call (the person asks never to be called again), voicemail or other. Call it once, before ending the call.',
  parameters: {
    type: 'object',
    properties: {
      disposition: { type: 'string', enum: [...DISPOSITIONS] },
      note: { type: 'string', maxLength: 200, description: 'A few words, e.g. when to call back' },
    },
    required: ['disposition'],
    additionalProperties: false,
  },
  async handler(args, ctx) {
    const store = ctx.services.dispositions;
    if (!store) throw new SkillError('unavailable', 'dispositions are not recorded on this server');
    await store.set(ctx.callId, args.disposition, args.note);
    ctx.logger.info('agent set the call disposition', { disposition: args.disposition });
    return { ok: true, disposition: args.disposition };
  },
});

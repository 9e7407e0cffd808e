/**
 * transfer_call: hands the caller to a human at a configured number, SIP address or queue. The model
 * only picks a destination by name (an enum built from the configuration): it can never dial an
 * arbitrary number. The stream then closes and Twilio's <Connect action> answers with <Dial>.
 */
import { defineSkill, SkillError } from './types';

export const transferCallSkill = defineSkill<{ destination?: string; reason?: string }>({
  name: 'transfer_call',
  description: (settings) => {
    const names = Object.entries(settings.transferTargets).map(([name, t]) =>
      t.description ? `${name} (${t.description})` : name,
    );
    return (
      'Transfer the caller to a human colleague. Tell the caller you are transferring them, then call this. ' +
      `Destinations: ${names.join(', ') || 'none configured'}.`
    );
  },
  parameters: (settings) => {
    const names = Object.keys(settings.transferTargets);
    return {
      type: 'object',
      properties: {
        destination: {
          type: 'string',
          enum: names.length ? names : ['default'],
          description: 'Which team or queue to transfer to',
        },
        reason: { type: 'string', maxLength: 200, description: 'What the caller needs, for the colleague' },
      },
      additionalProperties: false,
    };
  },
  checkConfig: (settings) =>
    Object.keys(settings.transferTargets).length === 0
      ? 'needs a transfer destination (TRANSFER_NUMBER or transferTargets in AGENT_PROFILES_FILE)'
      : undefined,
  handler(args, ctx) {
    const targets = ctx.services.settings.transferTargets;
    const name = args.destination ?? ctx.call.profile.defaultTransferTarget ?? Object.keys(targets)[0];
    const target = name ? targets[name] : undefined;
    if (!target) throw new SkillError('unknown_destination', `no transfer destination named ${String(name)}`);
    ctx.call.transfer(target);
    ctx.logger.info('agent transfers the call', { destination: name });
    return { ok: true, destination: name, message: 'The caller is transferred once your announcement has played.' };
  },
});

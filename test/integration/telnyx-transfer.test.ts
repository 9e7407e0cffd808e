/**
 * The dialled number choosing the agent profile, and the agent's transfer_call and end_call on Telnyx calls: the announcement plays, our side closes the
 * stream, and Telnyx's <Redirect> after <Connect> gets the <Dial> (or the <Hangup/>).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ToolCallRequest } from '../../src/simulators/local-realtime-server';
import { eventually } from '../../scripts/lib/bridge-harness';
import { startTelnyxHarness, type TelnyxHarness } from '../../scripts/lib/telnyx-harness';

const SUPPORT_NUMBER = '+15557770000';
const SALES_NUMBER = '+15558880000';

describe('agent endings on Telnyx calls', () => {
  let h: TelnyxHarness;
  let tmp: string;
  let scenario: { tool: ToolCallRequest; reply: string } | undefined;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'switchboard-telnyx-agent-'));
    const profilesFile = path.join(tmp, 'profiles.json');
    writeFileSync(
      profilesFile,
      JSON.stringify({
        profiles: {
          default: { tools: ['end_call', 'transfer_call'] },
          sales: { numbers: [SALES_NUMBER], instructions: 'You are the sales desk of Switchboard.' },
        },
        transferTargets: { support: { number: SUPPORT_NUMBER, announce: 'Connecting you now.' } },
      }),
    );
    h = await startTelnyxHarness(
      {
        ttsEngine: 'tone',
        toolCalls: (ctx) => (scenario && ctx.toolOutput === undefined && ctx.callerText ? scenario.tool : undefined),
        replies: () => scenario?.reply ?? 'Hello.',
      },
      { AGENT_GREETS_FIRST: 'false', AGENT_PROFILES_FILE: profilesFile },
    );
  });
  afterAll(async () => {
    await h.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  const endedCall = (callSid: string) =>
    eventually(() => h.t.sb.db.call.findFirst({ where: { callSid, endedAt: { not: null } } }));

  it('picks the agent profile by the dialled number', async () => {
    scenario = undefined;
    const handle = h.telnyxCall({ to: SALES_NUMBER, script: [{ silenceMs: 600 }], ttsEngine: 'tone' });
    const summary = await handle.done;
    expect(summary.errors).toEqual([]);
    expect(summary.parameters.agent).toBe('sales');
    const call = await endedCall(summary.callControlId);
    expect(call).toMatchObject({ agent: 'sales', to: SALES_NUMBER });
    expect(JSON.stringify(h.ai.sessions.at(-1)!.sessionUpdates[0])).toContain('You are the sales desk of Switchboard.');
  });

  it('transfer_call: the stream closes and the redirect dials the destination with the announcement', async () => {
    scenario = {
      tool: { name: 'transfer_call', arguments: { destination: 'support', reason: 'billing question' } },
      reply: 'I am transferring you to a colleague.',
    };
    const summary = await h.telnyxCall({
      script: [{ say: 'I need a human.' }, { silenceMs: 20000 }],
      ttsEngine: 'tone',
    }).done;
    expect(summary.errors).toEqual([]);
    expect(summary.closedBy).toBe('server');
    expect(summary.afterStreamTexml).toContain(
      `<Say>Connecting you now.</Say><Dial><Number>${SUPPORT_NUMBER}</Number></Dial>`,
    );
    expect((await endedCall(summary.callControlId)).endReason).toBe('transferred');
  });

  it('end_call: the stream closes and the redirect hangs up', async () => {
    scenario = { tool: { name: 'end_call', arguments: { reason: 'done' } }, reply: 'Goodbye, thanks for calling.' };
    const summary = await h.telnyxCall({ script: [{ say: 'That is all.' }, { silenceMs: 20000 }], ttsEngine: 'tone' })
      .done;
    expect(summary.errors).toEqual([]);
    expect(summary.closedBy).toBe('server');
    expect(summary.afterStreamTexml).toMatch(/<Response><Hangup\/><\/Response>$/);
    expect((await endedCall(summary.callControlId)).endReason).toBe('agent-hangup');
  });
});

/**
 * "Take the call here": a supervisor takes a live call over in this browser. The softphone's own
 * WebCall (softphone.js) opens the microphone and a peer connection, and sends its offer to
 * POST /api/calls/:id/take-over {"action":"softphone"} (a supervisor token); the answer comes back
 * with the AI's summary of the call so far. The agent tells the caller a colleague joins, then the
 * supervisor hears the caller and speaks to them. Levels of both directions are shown (and kept on
 * the box's dataset: callerPeak, micPeak, 0..1) so a test can measure them.
 */
import { postJson } from './api.js';
import { WebCall } from './softphone.js';
import { h } from './dom.js';

/** The controls of one live call: a button, then the summary, two level meters and a hang-up. */
export function softphoneTakeOver(callId, onSummary) {
  const status = h('span', { class: 'takeover-here-status muted', 'aria-live': 'polite' });
  const callerMeter = h('meter', { class: 'takeover-caller-level', min: 0, max: 0.3, value: 0, title: 'Caller' });
  const micMeter = h('meter', { class: 'takeover-mic-level', min: 0, max: 0.3, value: 0, title: 'You' });
  const audio = h('audio', { class: 'takeover-audio', autoplay: true });
  const hangUp = h('button', { type: 'button', class: 'takeover-hangup', hidden: true }, 'Hang up');
  const button = h('button', { type: 'button', class: 'takeover-here' }, 'Take the call here');
  const meters = h('span', { class: 'takeover-meters', hidden: true }, 'Caller ', callerMeter, ' You ', micMeter);
  const box = h('span', { class: 'takeover-softphone' }, button, hangUp, status, meters, audio);
  let call;

  button.addEventListener('click', async () => {
    button.disabled = true;
    status.textContent = 'Taking the call…';
    call = new WebCall({
      onState: (state) => {
        box.dataset.state = state;
        if (state === 'connected') status.textContent = 'You have the call (the agent hands it over)';
      },
      onLevels: (mic, caller) => {
        callerMeter.value = caller;
        micMeter.value = mic;
        box.dataset.callerPeak = String(Math.max(caller, Number(box.dataset.callerPeak ?? 0)));
        box.dataset.micPeak = String(Math.max(mic, Number(box.dataset.micPeak ?? 0)));
      },
      onEnded: () => {
        status.textContent = 'The call ended';
        hangUp.hidden = true;
      },
    });
    try {
      await call.start({
        audioElement: audio,
        offer: async (sdp) => {
          const res = await postJson(`/api/calls/${encodeURIComponent(callId)}/take-over`, {
            action: 'softphone',
            sdp,
          });
          onSummary(res.summary);
          return { callId: res.callId, sdp: res.sdp };
        },
      });
      hangUp.hidden = false;
      meters.hidden = false;
    } catch (err) {
      status.textContent = `Not done: ${err.message}`;
      call.finish('error');
      button.disabled = false;
    }
  });
  hangUp.addEventListener('click', () => call?.hangUp());
  return box;
}

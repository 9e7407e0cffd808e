/**
 * The Twilio channel runs the shared caller-channel contract over a real WebSocket, the test playing
 * Twilio's side of a Media Stream (start, media, mark echoes after playback, dtmf, stop).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { TwilioMediaStream } from '../../src/channels/twilio/media-stream';
import { TwilioChannel, twilioChannelStart } from '../../src/channels/twilio/twilio-channel';
import type { EndAction } from '../../src/conversation/channel';
import { twilioStartMessage } from '../../src/simulators/twilio-caller';
import { createLogger } from '../../src/logging/logger';
import { describeChannelContract, type ChannelUnderTest } from '../contract/channel-contract';

const logger = createLogger({ level: 'error', json: true, silent: true });
const SID = 'MZ00000000000000000000000000000042';

async function openTwilioChannel(): Promise<ChannelUnderTest> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let ending: EndAction | undefined;
  const ready = new Promise<{ channel: TwilioChannel; start: ReturnType<typeof twilioChannelStart> }>((resolve) => {
    wss.on('connection', (ws) => {
      const stream = new TwilioMediaStream(ws, { logger });
      stream.once('start', (s) => {
        resolve({ channel: new TwilioChannel(stream, (action) => (ending = action)), start: twilioChannelStart(s) });
      });
    });
  });
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/streams`);
  await new Promise((resolve, reject) => client.once('open', resolve).once('error', reject));
  const audio: Buffer[] = [];
  const marks: string[] = [];
  let clears = 0;
  let closedByServer = false;
  let droppedByUs = false;
  const send = (msg: unknown): void => {
    if (client.readyState === WebSocket.OPEN) client.send(JSON.stringify(msg));
  };
  const echo = (name: string): void => send({ event: 'mark', streamSid: SID, mark: { name } });
  client.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { event: string; media?: { payload: string }; mark?: { name: string } };
    if (msg.event === 'media') audio.push(Buffer.from(msg.media!.payload, 'base64'));
    if (msg.event === 'mark') marks.push(msg.mark!.name);
    if (msg.event === 'clear') {
      clears++;
      // Twilio echoes every pending mark when it clears.
      marks.splice(0).forEach(echo);
    }
  });
  client.on('close', () => {
    if (!droppedByUs) closedByServer = true;
  });
  client.send(
    twilioStartMessage({ streamSid: SID, callSid: 'CA42', accountSid: 'AC42', customParameters: { callId: 'c42' } }),
  );
  const { channel, start } = await ready;
  let seq = 1;
  return {
    channel,
    start,
    peer: {
      sendAudio(bytes, timestampMs) {
        seq++;
        client.send(
          `{"event":"media","sequenceNumber":"${seq}","streamSid":"${SID}","media":{"track":"inbound","chunk":"${seq}","timestamp":"${timestampMs}","payload":"${bytes.toString('base64')}"}}`,
        );
      },
      sendDtmf: (digit) => send({ event: 'dtmf', streamSid: SID, dtmf: { track: 'inbound_track', digit } }),
      hangUp() {
        send({ event: 'stop', streamSid: SID, stop: { accountSid: 'AC42', callSid: 'CA42' } });
        droppedByUs = true;
        client.close();
      },
      drop() {
        droppedByUs = true;
        client.terminate();
      },
      audio,
      get clears() {
        return clears;
      },
      get closedByServer() {
        return closedByServer;
      },
      playAll: () => marks.splice(0).forEach(echo),
    },
    endingAction: () => ending,
    async close() {
      client.terminate();
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describeChannelContract('twilio', openTwilioChannel);

/**
 * The Telnyx channel module: TeXML voice and status webhooks under /telnyx (Ed25519-signed), and
 * media streaming on /telnyx/stream. Telnyx does not sign the WebSocket upgrade, so the socket is
 * accepted and must then send its `start` in time (bridge.awaitStart: bounded, timed out) carrying
 * the call's single-use token (bridge.attach checks it before a frame reaches the engine), in PCMU
 * or PCMA 8 kHz mono.
 */
import type { WebSocket } from 'ws';
import type { ChannelModule, ChannelServices } from '../index';
import type { EndAction } from '../../conversation/channel';
import { TelnyxMediaStream } from './media-stream';
import { TelnyxChannel, channelStartOf } from './channel';
import { TelnyxWebhookVerifier } from './signature';
import { TELNYX_STREAM_PATH, createTelnyxWebhooks } from './routes';

/** How long the answer for a stream's <Redirect> is kept after our side ended it. */
const STREAM_ENDING_TTL_MS = 120_000;

export function createTelnyxChannelModule(services: ChannelServices): ChannelModule {
  const { config, logger, bridge } = services;
  const endings = new Map<string, EndAction>();
  const keepEnding = (callId: string, action: EndAction): void => {
    endings.set(callId, action);
    setTimeout(() => endings.delete(callId), STREAM_ENDING_TTL_MS).unref();
  };
  const takeStreamEnding = (callId: string): EndAction | undefined => {
    const action = endings.get(callId);
    endings.delete(callId);
    return action;
  };
  const { publicKey, signatureToleranceS, streamCodec } = config.telnyx;
  const verifier = publicKey ? new TelnyxWebhookVerifier(publicKey, { toleranceS: signatureToleranceS }) : undefined;

  const accept = (ws: WebSocket): void => {
    const stream = new TelnyxMediaStream(ws, { logger });
    // Counted with every channel's malformed frames (switchboard_protocol_errors_total).
    stream.on('protocol-error', ({ reason }) => bridge.countProtocolError(reason));
    const pending = bridge.awaitStart((code, reason) => stream.close(code, reason));
    stream.once('close', () => pending.settle());
    stream.once('start', (message) => {
      pending.settle();
      const start = channelStartOf(message);
      if (!start) {
        logger.warn('refused a telnyx stream in an unsupported format', {
          encoding: message.start.media_format.encoding,
        });
        stream.close(1008, 'unsupported media format');
        return;
      }
      let callId: string | undefined;
      const channel = new TelnyxChannel(stream, start, (action) => callId && keepEnding(callId, action));
      const attached = bridge.attach(channel, start, (id) => {
        callId = id;
        channel.setLogger(logger.child({ callId: id }));
      });
      void attached.then(
        (refusal) => refusal && stream.close(refusal.closeCode, refusal.closeReason),
        (err: unknown) => {
          logger.error('could not attach the telnyx stream', { error: (err as Error).message });
          stream.close(1011, 'internal error');
        },
      );
    });
  };

  return {
    name: 'telnyx',
    webhooks: createTelnyxWebhooks({
      ...services,
      verifier,
      refuseUnsigned: !verifier && config.env === 'production',
      codec: streamCodec,
      takeStreamEnding,
    }),
    upgradePaths: [TELNYX_STREAM_PATH],
    onSocket(ws) {
      accept(ws);
    },
  };
}

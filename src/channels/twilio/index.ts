/**
 * The Twilio channel module: Programmable Voice webhooks under /twilio, Media Streams on /streams
 * (the upgrade signed with X-Twilio-Signature, checked before the socket opens).
 */
import type { ChannelModule, ChannelServices } from '../index';
import { createTwilioRouter } from './routes';
import { STREAM_PATH, validateStreamHandshake } from './signature';

export function createTwilioChannelModule(services: ChannelServices): ChannelModule {
  const { config, bridge } = services;
  return {
    name: 'twilio',
    router: createTwilioRouter({ ...services, takeStreamEnding: (callId) => bridge.takeStreamEnding(callId) }),
    upgradePaths: [STREAM_PATH],
    checkUpgrade(req, path, pathAndQuery) {
      if (!config.twilio.validateSignatures) return undefined;
      // Signed over the stream URL as Twilio saw it: the configured public stream URL plus any query
      // (Twilio never adds one, so a query only passes when it was signed).
      const query = pathAndQuery.slice(path.length);
      if (validateStreamHandshake(config.twilio.authToken, config.publicUrl, req.headers, `${path}${query}`)) {
        return undefined;
      }
      return { status: 403, message: 'invalid Twilio signature' };
    },
    onSocket(ws) {
      bridge.attach(ws);
    },
  };
}

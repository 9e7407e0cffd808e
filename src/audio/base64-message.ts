/**
 * A text message whose middle is base64 audio (a Realtime append, a Twilio media message), written
 * straight into one Buffer: no concatenated string for the socket to flatten and encode again. Send
 * it as a text frame. `base64` must be base64 text: ASCII, one byte a character, never escaped.
 */
export function base64Message(prefix: Buffer, base64: string, suffix: Buffer): Buffer {
  const bytes = Buffer.allocUnsafe(prefix.length + base64.length + suffix.length);
  prefix.copy(bytes, 0);
  const written = bytes.write(base64, prefix.length, 'latin1');
  suffix.copy(bytes, prefix.length + written);
  return bytes;
}

/** ws send options for such a Buffer: a text frame (a Buffer is sent as binary by default). */
export const TEXT_FRAME = { binary: false } as const;

/**
 * OpenAI Realtime API wire protocol (GA shape): constants, one interface per event, the server-event
 * parser and the client-event builders. Pure translation: no sockets, no I/O.
 *
 * Beta event names that some servers still speak are normalised at the edge by parseServerEvent
 * (`response.audio.delta` → `response.output_audio.delta`, ...), so the rest of the code only knows
 * the GA names. Unknown event types pass through untouched; the parser never throws.
 */

export * from './protocol-common';
export * from './client-events';
export * from './server-events';

/**
 * Collision-resistant ids in the format Prisma's `@default(cuid())` generates (cuid v1: "c", the time
 * in base 36, a 4-character counter, a 4-character process fingerprint, 8 random characters), so
 * rows written by the writer thread's direct path have ids like every other row's.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';

const BASE = 36 ** 4;

function pad(text: string, size: number): string {
  const s = `000000000${text}`;
  return s.slice(s.length - size);
}

function hostname(): string {
  try {
    return os.hostname();
  } catch {
    return 'hostname';
  }
}

const host = hostname();
const FINGERPRINT =
  pad(process.pid.toString(36), 2) +
  pad(
    host
      .split('')
      .reduce((sum, ch) => sum + ch.charCodeAt(0), host.length + 36)
      .toString(36),
    2,
  );

let counter = 0;

function randomBlock(): string {
  return pad((randomBytes(4).readUInt32BE(0) % BASE).toString(36), 4);
}

export function cuid(): string {
  counter = counter < BASE ? counter : 0;
  const count = pad((counter++).toString(36), 4);
  return `c${Date.now().toString(36)}${count}${FINGERPRINT}${randomBlock()}${randomBlock()}`;
}

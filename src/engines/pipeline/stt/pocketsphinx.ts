/**
 * Local speech recognition with Debian's pocketsphinx (US-English model), no account, no network.
 * Per utterance: the audio the VAD marked as speech (plus 300 ms before) goes to
 * `pocketsphinx_continuous -infile /dev/stdin` as raw 16 kHz PCM; its stdout lines are the
 * transcript. With `words` (PIPELINE_LOCAL_STT_WORDS) the recognizer listens for those words only
 * (a JSGF grammar), which it needs on synthetic voices; with the full language model it is weak.
 * Recognizer processes run at most one per core at a time; the rest wait their turn.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PCM16_16K } from '../../../conversation/audio-format';
import { launcher, type LaunchResult } from '../../../runtime/launcher';
import { StageError, type SttCallbacks, type SttProvider, type SttStream } from '../providers';

const PREFIX_BYTES = 9600; // 300 ms at 16 kHz PCM16
const MAX_UTTERANCE_BYTES = 30 * 32000; // 30 s
const PROCESS_TIMEOUT_MS = 20_000;
const COMMAND = 'pocketsphinx_continuous';

let running = 0;
const queue: (() => void)[] = [];
const limit = Math.max(1, availableParallelism());

async function slot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= limit) await new Promise<void>((resolve) => queue.push(resolve));
  running++;
  try {
    return await work();
  } finally {
    running--;
    queue.shift()?.();
  }
}

/**
 * Runs the recognizer on raw 16 kHz PCM16 mono; resolves with the words it heard. Through the
 * launcher (src/runtime/launcher.ts): a process started from the server itself would be a fork of
 * the whole server on the event loop, at every utterance of every call.
 */
export function recognize(pcm: Buffer, grammarFile?: string): Promise<string> {
  return slot(async () => {
    // The audio arrives as a file on stdin (the launcher's), which pocketsphinx opens as /dev/stdin.
    const argv = [COMMAND, '-infile', '/dev/stdin', '-logfn', '/dev/null'];
    if (grammarFile) argv.push('-jsgf', grammarFile);
    let result: LaunchResult;
    try {
      result = await launcher().run(argv, { input: pcm, timeoutMs: PROCESS_TIMEOUT_MS });
    } catch (err) {
      throw new StageError('stt', 'pocketsphinx', `cannot run ${COMMAND}: ${(err as Error).message}`);
    }
    if (result.status !== 0) {
      const why =
        result.status === 127
          ? 'is not installed (apt-get install pocketsphinx pocketsphinx-en-us)'
          : result.status === 137
            ? `was stopped after ${PROCESS_TIMEOUT_MS / 1000} s`
            : `exited with ${result.status}`;
      throw new StageError('stt', 'pocketsphinx', `${COMMAND} ${why}`);
    }
    return result.stdout
      .toString('utf8', 0, Math.min(result.stdout.length, 10_000))
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .join(' ');
  });
}

/**
 * Whether the recognizer is installed: its command on PATH and its US-English model (checked once,
 * at start-up; synchronous file checks, never on a call's path).
 */
export function localRecognizerAvailable(
  pathVar = process.env.PATH ?? '',
  modelDir = '/usr/share/pocketsphinx/model/en-us',
): boolean {
  const canRun = (file: string): boolean => {
    try {
      accessSync(file, fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const exists = (file: string): boolean => {
    try {
      accessSync(file, fsConstants.R_OK);
      return true;
    } catch {
      return false;
    }
  };
  return pathVar.split(':').some((dir) => dir && canRun(join(dir, COMMAND))) && exists(modelDir);
}

/** A JSGF grammar accepting any sequence of `words`. */
export function grammarFor(words: readonly string[]): string {
  const clean = [...new Set(words.map((w) => w.toLowerCase().replace(/[^a-z']/g, '')).filter(Boolean))];
  return `#JSGF V1.0;\ngrammar words;\npublic <utterance> = ( ${clean.join(' | ')} )+ ;\n`;
}

const grammarFiles = new Map<string, Promise<string>>();

/** A grammar file for `words`, written once per word list per process (undefined for no words: the full language model). */
export function grammarFileFor(words: readonly string[]): Promise<string | undefined> {
  if (!words.length) return Promise.resolve(undefined);
  const key = words.join(',');
  let file = grammarFiles.get(key);
  if (!file) {
    file = mkdtemp(join(tmpdir(), 'switchboard-stt-')).then(async (dir) => {
      const path = join(dir, 'words.gram');
      await writeFile(path, grammarFor(words));
      return path;
    });
    grammarFiles.set(key, file);
  }
  return file;
}

export class PocketsphinxStt implements SttProvider {
  readonly name = 'pocketsphinx';
  readonly inputFormat = PCM16_16K;

  constructor(private readonly words: readonly string[] = []) {}

  async open(_callbacks: SttCallbacks): Promise<SttStream> {
    return new PocketsphinxStream(await grammarFileFor(this.words));
  }
}

class PocketsphinxStream implements SttStream {
  private readonly prefix = Buffer.alloc(PREFIX_BYTES);
  private prefixFill = 0;
  private chunks: Buffer[] = [];
  private bytes = 0;
  private speaking = false;

  /** Per-utterance processes: a failed one fails its turn only, so no callback reports it. */
  constructor(private readonly grammarFile: string | undefined) {}

  send(audio: Buffer): void {
    if (this.speaking) {
      if (this.bytes + audio.length <= MAX_UTTERANCE_BYTES) {
        this.chunks.push(Buffer.from(audio));
        this.bytes += audio.length;
      }
      return;
    }
    if (audio.length >= PREFIX_BYTES) {
      audio.copy(this.prefix, 0, audio.length - PREFIX_BYTES);
      this.prefixFill = PREFIX_BYTES;
      return;
    }
    const keep = Math.min(this.prefixFill, PREFIX_BYTES - audio.length);
    this.prefix.copy(this.prefix, 0, this.prefixFill - keep, this.prefixFill);
    audio.copy(this.prefix, keep);
    this.prefixFill = keep + audio.length;
  }

  speechStarted(): void {
    this.speaking = true;
    this.chunks = [Buffer.from(this.prefix.subarray(0, this.prefixFill))];
    this.bytes = this.prefixFill;
    this.prefixFill = 0;
  }

  finalize(): Promise<string> {
    this.speaking = false;
    const audio = Buffer.concat(this.chunks);
    this.chunks = [];
    this.bytes = 0;
    if (audio.length < 3200) return Promise.resolve('');
    // Trailing silence costs recognizer time and adds nothing: pocketsphinx segments on its own.
    return recognize(audio, this.grammarFile);
  }

  close(): void {
    this.chunks = [];
  }
}

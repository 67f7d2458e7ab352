// Reads a Lifeboat archive back: checks its sha256, refuses unsafe entries, extracts into a staging
// directory (joining a dump written as parts into one file) and checks every file against the manifest.
// Nothing outside the staging directory is touched.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import tarStream from 'tar-stream';
import { LifeboatError } from '../domain/errors.ts';
import { manifestSchema, type Manifest } from '../domain/manifest.ts';
import { parseDumpPartEntryName } from '../domain/naming.ts';

export interface ExtractLimits {
  maxEntries: number;
  maxTotalBytes: number;
  /** Bytes manifest.json may have: it is read into memory. */
  maxManifestBytes: number;
  /** Bytes an entry's path, and the records of a pax header, may have (long GNU and pax headers included). */
  maxHeaderBytes: number;
}

export const defaultExtractLimits: ExtractLimits = {
  maxEntries: 1_000_000,
  maxTotalBytes: 16 * 1024 ** 4,
  // A manifest lists every file with its sha256: about 200 bytes each, for up to maxEntries files.
  maxManifestBytes: 256 * 1024 ** 2,
  maxHeaderBytes: 64 * 1024,
};

/** The bytes of a pax header's records, as far as they can be counted from what the reader kept. */
function paxBytes(pax: Record<string, string> | undefined): number {
  if (!pax) return 0;
  return Object.entries(pax).reduce((sum, [key, value]) => sum + key.length + value.length, 0);
}

export interface ExtractedArchive {
  manifest: Manifest;
  sha256: string;
  sizeBytes: number;
  /**
   * Absolute paths of the extracted files, by their path in the archive; a dump written as parts appears
   * once, joined, under the path the manifest gives it (`database/<db>.dump`), and its parts do not.
   */
  files: Map<string, string>;
}

/** A relative, normalised path without `..`, absolute parts or odd characters; else undefined. */
export function safeEntryPath(name: string): string | undefined {
  if (!name || name.includes('\0') || name.includes('\\')) return undefined;
  const trimmed = name.replace(/\/+$/, '');
  if (trimmed.startsWith('/') || /^[A-Za-z]:/.test(trimmed)) return undefined;
  const parts = trimmed.split('/');
  if (parts.some((part) => part === '' || part === '.' || part === '..')) return undefined;
  return parts.join('/');
}

/** The decompressor for an archive file, chosen by its first bytes: zstd, gzip, or a plain tar. */
const streamChunkBytes = 1024 * 1024;

async function decompressorFor(file: string): Promise<Transform> {
  const handle = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(4), 0, 4, 0);
    const magic = buffer.subarray(0, bytesRead).toString('hex');
    // 1 MiB output chunks: zlib's default 16 KiB makes decompression 2.5 times slower through Node.
    if (magic === '28b52ffd') return createZstdDecompress({ chunkSize: streamChunkBytes });
    if (magic.startsWith('1f8b')) return createGunzip({ chunkSize: streamChunkBytes });
    return new PassThrough();
  } finally {
    await handle.close();
  }
}

/** sha256 and size of a file. */
export async function fileDigest(file: string): Promise<{ sha256: string; sizeBytes: number }> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    sizeBytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), sizeBytes };
}

function corrupt(detail: string): LifeboatError {
  return new LifeboatError(
    'CHECKSUM_MISMATCH',
    `The archive is damaged or not a Lifeboat archive: ${detail}`,
  );
}

/**
 * A dump that came as parts must be the one the manifest describes: the same parts in the same order (each
 * already checked against its sha256), joined into the path and size it gives. A manifest that describes
 * parts the archive lacks is refused as well.
 */
function checkDumpParts(
  manifest: Manifest,
  joined: { path: string; parts: string[]; sizeBytes: number } | undefined,
): void {
  const described = manifest.dumpParts;
  if (!joined && !described) return;
  if (!joined || !described) {
    throw corrupt(
      joined ? 'its manifest does not describe the dump parts it holds' : 'its dump parts are missing',
    );
  }
  const sameParts =
    described.parts.length === joined.parts.length &&
    described.parts.every((name, index) => name === joined.parts[index]);
  if (described.path !== joined.path || !sameParts || described.sizeBytes !== joined.sizeBytes) {
    throw new LifeboatError(
      'CHECKSUM_MISMATCH',
      `The parts of ${joined.path} are not those its manifest lists, in that order and size.`,
    );
  }
}

/**
 * Extracts the archive `file` into `destination` (which must not exist yet), in one pass that also
 * hashes it: its sha256 is checked against `expectedSha256` when it has been read, before anything is
 * returned (a damaged archive that breaks the decompression is reported by its sha256 too). Rejects with
 * CHECKSUM_MISMATCH when it differs or a file differs from the manifest, and with VALIDATION_FAILED for unsafe entries (absolute
 * paths, `..`, links, devices), files the manifest does not list, or sizes over the limits. On any
 * rejection the destination is removed.
 */
export async function extractArchive(options: {
  file: string;
  destination: string;
  expectedSha256?: string | undefined;
  limits?: Partial<ExtractLimits>;
}): Promise<ExtractedArchive> {
  const limits = { ...defaultExtractLimits, ...options.limits };
  const digest = createHash('sha256');
  let sizeBytes = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      digest.update(chunk);
      sizeBytes += chunk.length;
      callback(null, chunk);
    },
  });
  const mismatch = (sha256: string) =>
    new LifeboatError(
      'CHECKSUM_MISMATCH',
      `The archive's sha256 is ${sha256}, not the recorded ${options.expectedSha256}: it was changed or damaged.`,
    );
  const root = path.resolve(options.destination);
  await mkdir(root, { recursive: false, mode: 0o700 });
  const files = new Map<string, string>();
  /** What each entry held, by its path in the archive (a dump's parts each under their own). */
  const hashes = new Map<string, { sha256: string; sizeBytes: number }>();
  /** A dump arriving as parts: the path they join into, the parts so far, in order, and its size. */
  let joined: { path: string; parts: string[]; sizeBytes: number } | undefined;
  let manifestText: string | undefined;
  let entries = 0;
  let totalBytes = 0;

  const extract = tarStream.extract();
  extract.on('entry', (header, stream, next) => {
    // The entry's own failure surfaces through the extractor's pipeline; this keeps it from going unhandled.
    stream.on('error', () => undefined);
    const finish = (error?: Error) => {
      if (error) {
        stream.resume();
        extract.destroy(error);
      } else next();
    };
    entries++;
    if (
      Buffer.byteLength(header.name) > limits.maxHeaderBytes ||
      Buffer.byteLength(header.linkname ?? '') > limits.maxHeaderBytes ||
      paxBytes((header as { pax?: Record<string, string> }).pax) > limits.maxHeaderBytes
    ) {
      return finish(
        new LifeboatError(
          'VALIDATION_FAILED',
          `An archive entry's header (path or pax records) is longer than ${limits.maxHeaderBytes} bytes.`,
        ),
      );
    }
    const name = safeEntryPath(header.name);
    if (entries > limits.maxEntries)
      return finish(
        new LifeboatError('VALIDATION_FAILED', `The archive has more than ${limits.maxEntries} entries.`),
      );
    if (!name)
      return finish(new LifeboatError('VALIDATION_FAILED', `Unsafe path in archive: "${header.name}".`));
    if (header.type === 'directory') {
      stream.resume();
      return next();
    }
    if (header.type !== 'file') {
      return finish(
        new LifeboatError(
          'VALIDATION_FAILED',
          `Archive entry "${name}" is a ${header.type}; only regular files are allowed.`,
        ),
      );
    }
    totalBytes += header.size ?? 0;
    if (totalBytes > limits.maxTotalBytes) {
      return finish(
        new LifeboatError(
          'VALIDATION_FAILED',
          `The archive unpacks to more than ${limits.maxTotalBytes} bytes.`,
        ),
      );
    }
    const part = parseDumpPartEntryName(name);
    if (
      files.has(name) ||
      hashes.has(name) ||
      (part && !joined && files.has(part.dumpPath)) ||
      (name === 'manifest.json' && manifestText !== undefined)
    ) {
      return finish(new LifeboatError('VALIDATION_FAILED', `Archive entry "${name}" appears twice.`));
    }
    if (name === 'manifest.json') {
      if ((header.size ?? 0) > limits.maxManifestBytes) {
        return finish(
          new LifeboatError(
            'VALIDATION_FAILED',
            `The archive's manifest.json is larger than ${limits.maxManifestBytes} bytes.`,
          ),
        );
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: unknown) => {
        chunks.push(chunk as Buffer);
      });
      stream.on('end', () => {
        manifestText = Buffer.concat(chunks).toString('utf8');
        next();
      });
      stream.on('error', (error) => finish(error));
      return;
    }
    if (part) {
      if (joined && joined.path !== part.dumpPath) {
        return finish(new LifeboatError('VALIDATION_FAILED', `The archive holds parts of two dumps.`));
      }
      const expected = joined?.parts.length ?? 0;
      if (part.index !== expected) {
        return finish(
          new LifeboatError(
            'VALIDATION_FAILED',
            `Archive entry "${name}" comes where part ${expected} belongs.`,
          ),
        );
      }
      joined ??= { path: part.dumpPath, parts: [], sizeBytes: 0 };
    }
    // The parts of a dump are appended, in order, to the one file they make.
    const entryPath = part ? part.dumpPath : name;
    const target = path.join(root, ...entryPath.split('/'));
    const hash = createHash('sha256');
    let written = 0;
    mkdir(path.dirname(target), { recursive: true, mode: 0o700 })
      .then(() =>
        pipeline(
          stream,
          new Transform({
            transform(chunk: Buffer, _encoding, callback) {
              hash.update(chunk);
              written += chunk.length;
              callback(null, chunk);
            },
          }),
          createWriteStream(target, { mode: 0o600, flags: part && part.index > 0 ? 'a' : 'wx' }),
        ),
      )
      .then(() => {
        files.set(entryPath, target);
        hashes.set(name, { sha256: hash.digest('hex'), sizeBytes: written });
        if (part && joined) {
          joined.parts.push(name);
          joined.sizeBytes += written;
        }
        next();
      })
      .catch((error: Error) => finish(error));
  });

  try {
    const source = createReadStream(options.file, { highWaterMark: streamChunkBytes });
    await pipeline(source, hashing, await decompressorFor(options.file), extract).catch(
      async (error: unknown) => {
        // A damaged archive usually breaks the decompression or the tar first: its sha256 says why.
        if (options.expectedSha256) {
          const whole = await fileDigest(options.file);
          if (whole.sha256 !== options.expectedSha256) throw mismatch(whole.sha256);
        }
        if (error instanceof LifeboatError) throw error;
        // tar-stream's own bound on a long GNU or pax header, before the entry reaches the check above.
        if ((error as Error).message === 'Header exceeds max size') {
          throw new LifeboatError(
            'VALIDATION_FAILED',
            'An archive entry has an oversized long or pax header.',
          );
        }
        throw corrupt((error as Error).message);
      },
    );
    const sha256 = digest.digest('hex');
    if (options.expectedSha256 && sha256 !== options.expectedSha256) throw mismatch(sha256);
    if (manifestText === undefined) throw corrupt('it has no manifest.json');
    let manifest: Manifest;
    try {
      manifest = manifestSchema.parse(JSON.parse(manifestText));
    } catch (error) {
      throw corrupt(`manifest.json is not valid (${(error as Error).message.slice(0, 200)})`);
    }
    const listed = new Set(manifest.files.map((file) => file.path));
    for (const name of hashes.keys()) {
      if (!listed.has(name))
        throw new LifeboatError('VALIDATION_FAILED', `Archive entry "${name}" is not in the manifest.`);
    }
    for (const file of manifest.files) {
      const actual = hashes.get(file.path);
      if (!actual) throw corrupt(`${file.path} is listed in the manifest but missing`);
      if (actual.sha256 !== file.sha256 || actual.sizeBytes !== file.sizeBytes) {
        throw new LifeboatError(
          'CHECKSUM_MISMATCH',
          `${file.path} does not match its sha256 in the manifest.`,
        );
      }
    }
    checkDumpParts(manifest, joined);
    return { manifest, sha256, sizeBytes, files };
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}

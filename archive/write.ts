// Builds the backup archive in one streaming pass: tar entries hashed as they are written, the manifest last.
import { createHash, type Hash } from 'node:crypto';
import { constants as fsConstants, createWriteStream } from 'node:fs';
import { lstat, open, readdir, readlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Transform, type Readable, type Writable } from 'node:stream';
import { constants as zlibConstants, createGzip, createZstdCompress } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { isWithin, type DocumentsPolicy } from '../domain/access-policy.ts';
import { LifeboatError } from '../domain/errors.ts';
import type { Manifest, ManifestFile } from '../domain/manifest.ts';
import { allowedDocumentsDir } from './documents-dir.ts';
import type { Compression } from '../domain/naming.ts';
import { encryptStream } from './encryption.ts';

export interface ArchiveSource {
  /** Path inside the archive, e.g. `database/app.dump`. */
  entryName: string;
  file: string;
  /** Where the entry's bytes begin in `file` (a part of a spooled dump); 0 when not given. */
  start?: number;
  sizeBytes: number;
  mtime: Date;
  /** The file as listed: what is opened later must still be it, and (for documents) inside `within`. */
  identity?: { dev: number; ino: number; within: string };
}

export interface BuiltArchive {
  sizeBytes: number;
  sha256: string;
  md5: string;
  files: ManifestFile[];
}

/**
 * Regular files under `documentsDir`, as archive entries `documents/<relative path>`; symbolic links are
 * skipped. The directory must be one the policy allows (VALIDATION_FAILED), its links resolved first.
 */
export async function listDocuments(documentsDir: string, policy: DocumentsPolicy): Promise<ArchiveSource[]> {
  const root = allowedDocumentsDir(documentsDir, policy);
  const sources: ArchiveSource[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      throw new LifeboatError(
        'NOT_FOUND',
        `The documents directory ${root} cannot be read: ${(error as Error).message}`,
      );
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(file);
      else if (entry.isFile()) {
        const info = await lstat(file);
        const relative = path.relative(root, file).split(path.sep).join('/');
        sources.push({
          entryName: `documents/${relative}`,
          file,
          sizeBytes: info.size,
          mtime: info.mtime,
          identity: { dev: info.dev, ino: info.ino, within: root },
        });
      }
    }
  };
  await walk(root);
  return sources;
}

function hashing(hashes: Hash[]): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      for (const hash of hashes) hash.update(chunk);
      callback(null, chunk);
    },
  });
}

function changed(source: ArchiveSource, detail: string): LifeboatError {
  return new LifeboatError(
    'SOURCE_CHANGED',
    `${source.entryName} changed after it was listed (${detail}); the backup will be retried.`,
  );
}

/**
 * Opens a source without following a symbolic link in its place (a file swapped for one after the
 * listing is refused, never read) and checks that it is still the file that was listed, where it was.
 */
async function openSource(source: ArchiveSource): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    // O_NONBLOCK: a FIFO swapped in does not hang the open; it changes nothing for regular files.
    handle = await open(source.file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (error) {
    throw changed(source, `it cannot be opened as a file: ${(error as Error).message}`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw changed(source, 'it is no longer a regular file');
    const { identity } = source;
    if (identity) {
      if (info.dev !== identity.dev || info.ino !== identity.ino) {
        throw changed(source, 'another file is there');
      }
      // Linux names the file an open descriptor really refers to: a directory above it swapped for a
      // link shows here.
      const real = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
      if (real !== undefined && !isWithin(real, identity.within)) {
        throw changed(source, `it now lies outside ${identity.within}`);
      }
    }
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** Streams one file into the open tar entry, exactly `sizeBytes` bytes, hashing it on the way. */
async function addFile(pack: tarStream.Pack, source: ArchiveSource): Promise<ManifestFile> {
  const hash = createHash('sha256');
  const handle = await openSource(source);
  const entry = pack.entry({
    name: source.entryName,
    size: source.sizeBytes,
    mode: 0o600,
    mtime: source.mtime,
    type: 'file',
  });
  let input: Readable;
  if (source.sizeBytes === 0) {
    await handle.close();
    input = PassThrough.from([]);
  } else {
    const start = source.start ?? 0;
    input = handle.createReadStream({ start, end: start + source.sizeBytes - 1, highWaterMark: 1024 * 1024 });
  }
  try {
    await pipeline(input, hashing([hash]), entry);
  } catch (error) {
    throw new LifeboatError(
      'SOURCE_CHANGED',
      `${source.entryName} changed size while it was archived; the backup will be retried. (${(error as Error).message})`,
    );
  }
  return { path: source.entryName, sizeBytes: source.sizeBytes, sha256: hash.digest('hex') };
}

/**
 * Output chunks of the compressor: 1 MiB rather than zlib's 16 KiB, so that the stages after it (encryption,
 * hashing, the file, an upload) see 64 times fewer chunks.
 */
const compressedChunkBytes = 1024 * 1024;

/** The compressor for an archive: zstd level 3 and gzip level 6 are each format's usual default. */
function compressor(compression: Compression): Transform {
  if (compression === 'zstd') {
    return createZstdCompress({
      chunkSize: compressedChunkBytes,
      params: { [zlibConstants.ZSTD_c_compressionLevel]: 3, [zlibConstants.ZSTD_c_checksumFlag]: 1 },
    });
  }
  if (compression === 'gzip') return createGzip({ level: 6, chunkSize: compressedChunkBytes });
  return new PassThrough();
}

/**
 * Passes the archive's bytes on unchanged and writes each also to `sink`, waiting for it when it is full:
 * a slow sink slows the archive (memory stays bounded), a failed one is dropped and the archive goes on
 * (its owner learns of the failure through its own promise).
 */
function teeTo(sink: Writable): Transform {
  let dropped = false;
  const drop = () => {
    dropped = true;
  };
  sink.once('error', drop);
  sink.once('close', drop);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (dropped || sink.write(chunk)) return callback(null, chunk);
      const go = () => {
        sink.off('drain', go);
        sink.off('close', go);
        callback(null, chunk);
      };
      sink.on('drain', go);
      sink.on('close', go);
    },
    flush(callback) {
      if (!dropped) sink.end();
      callback();
    },
  });
}

/**
 * Writes `sources` and then manifest.json (completed with every file's sha256) as a tar to `outputFile`,
 * compressed as asked and, when `encryptTo` names age recipients, encrypted to them, computing the
 * archive's sha256 and md5 as the bytes go out. `onBytes` reports progress in archive bytes. The sources
 * may arrive while the archive is written (the parts of a dump that is still running); `manifest` may
 * then be a function of the files written, called after the last. `copyTo` receives every byte of the
 * finished archive as it is written too (an upload), without its failure failing the archive.
 */
export async function writeArchive(options: {
  sources: Iterable<ArchiveSource> | AsyncIterable<ArchiveSource>;
  manifest: Omit<Manifest, 'files'> | ((files: readonly ManifestFile[]) => Omit<Manifest, 'files'>);
  outputFile: string;
  compression: Compression;
  encryptTo?: readonly string[] | null;
  onBytes?: (bytes: number) => void;
  copyTo?: Writable;
}): Promise<BuiltArchive & { manifest: Manifest }> {
  const pack = tarStream.pack();
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  let sizeBytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sha256.update(chunk);
      md5.update(chunk);
      sizeBytes += chunk.length;
      options.onBytes?.(sizeBytes);
      callback(null, chunk);
    },
  });
  const written = pipeline(
    pack,
    compressor(options.compression),
    options.encryptTo?.length ? encryptStream(options.encryptTo) : new PassThrough(),
    counter,
    options.copyTo ? teeTo(options.copyTo) : new PassThrough(),
    createWriteStream(options.outputFile, { mode: 0o600 }),
  );
  const files: ManifestFile[] = [];
  try {
    for await (const source of options.sources) files.push(await addFile(pack, source));
    const described = typeof options.manifest === 'function' ? options.manifest(files) : options.manifest;
    const manifest: Manifest = { ...described, files };
    const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
    pack.entry(
      { name: 'manifest.json', size: body.length, mode: 0o600, mtime: new Date(manifest.dumpFinishedAt) },
      body,
    );
    pack.finalize();
    await written;
    return { sizeBytes, sha256: sha256.digest('hex'), md5: md5.digest('hex'), files, manifest };
  } catch (error) {
    pack.destroy(error as Error);
    await written.catch(() => undefined);
    options.copyTo?.destroy(error as Error);
    throw error;
  }
}

/**
 * `source` passed through a byte counter. Unlike a 'data' listener, which starts the flow at once and
 * loses what arrives before the consumer is attached, this buffers until someone reads.
 */
export function countBytes(source: Readable, onBytes: (total: number) => void): Readable {
  let total = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      total += chunk.length;
      onBytes(total);
      callback(null, chunk);
    },
  });
  source.once('error', (error) => counter.destroy(error));
  return source.pipe(counter);
}

/** sha256 and size of a stream, for verifying what storage gives back. */
export async function digestStream(stream: Readable): Promise<{ sha256: string; sizeBytes: number }> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    sizeBytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), sizeBytes };
}

// pg_restore's SQL as it streams into psql: the table loading now, rows per COPY, the held-back COMMIT.
import { compareTables, readQuotedIdentifier, tableKey, type TableName } from '../domain/restore/options.ts';
import type { ExpectedTable } from '../domain/restore/verify.ts';

/** The table a `COPY schema.table (columns) FROM stdin;` line loads, or undefined for other lines. */
export function parseCopyTarget(line: string): TableName | undefined {
  if (!line.startsWith('COPY ') || !line.endsWith(' FROM stdin;')) return undefined;
  const rest = line.slice(5);
  const parts: string[] = [];
  let index = 0;
  for (;;) {
    let part: string;
    if (rest[index] === '"') {
      const quoted = readQuotedIdentifier(rest, index);
      if (!quoted) return undefined;
      part = quoted.name;
      index = quoted.end;
    } else {
      const match = /^[^".\s(]+/.exec(rest.slice(index));
      if (!match) return undefined;
      part = match[0];
      index += part.length;
    }
    parts.push(part);
    if (rest[index] !== '.') break;
    index++;
  }
  if (parts.length !== 2) return undefined;
  return { schema: parts[0]!, name: parts[1]! };
}

const newline = 0x0a;
const commitLine = Buffer.from('COMMIT;');

/**
 * pg_restore's SQL output (made with --single-transaction), fed chunk by chunk on its way to psql. It
 * counts the rows of every COPY block (in COPY's text format each row is one line, newlines inside values
 * escaped, and `\.` ends the block), and it holds back pg_restore's own closing COMMIT: the restore's
 * caller commits, after its own checks. The closing COMMIT is the last statement; only blank lines,
 * comments and psql's `\unrestrict` follow it. A line "COMMIT;" followed by more SQL (say, inside a
 * procedure's body) passes through unchanged, as does anything inside COPY data.
 */
export class RestoreSqlStream {
  readonly counts = new Map<string, ExpectedTable>();
  current: TableName | undefined;
  private rows = 0;
  /** The start of a line that has not ended yet; forwarded once it has. */
  private pending: Buffer = Buffer.alloc(0);
  /** A COMMIT; line and the trailer lines after it, held until it is clear whether more SQL follows. */
  private held: Buffer[] = [];

  /** Takes the next chunk; returns what may go to psql now, in order. */
  push(chunk: Buffer): Buffer[] {
    const data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Buffer[] = [];
    let forwardFrom = 0;
    let start = 0;
    for (;;) {
      const end = data.indexOf(newline, start);
      if (end < 0) break;
      if (this.current) {
        // COPY data, the hot path: a row per line until `\.`, nothing to hold back.
        if (end - start === 2 && data[start] === 0x5c && data[start + 1] === 0x2e) this.endCopy();
        else this.rows++;
        start = end + 1;
        continue;
      }
      const kind = this.line(data.subarray(start, end));
      if (this.held.length && kind !== 'trailer') {
        out.push(...this.held);
        this.held = [];
        forwardFrom = start;
      }
      if (kind === 'commit' || (this.held.length && kind === 'trailer')) {
        if (!this.held.length) out.push(data.subarray(forwardFrom, start));
        this.held.push(data.subarray(start, end + 1));
        forwardFrom = end + 1;
      }
      start = end + 1;
    }
    if (!this.held.length) out.push(data.subarray(forwardFrom, start));
    this.pending = Buffer.from(data.subarray(start));
    return out.filter((buffer) => buffer.length > 0);
  }

  /**
   * At the end of the stream: the trailer to forward without the closing COMMIT, and whether there was
   * one. Without it the output is not pg_restore's complete single-transaction script.
   */
  finish(): { trailer: Buffer[]; closed: boolean } {
    const tail = this.pending.length ? this.push(Buffer.from('\n')) : [];
    if (!this.held.length || this.current) return { trailer: tail, closed: false };
    return { trailer: [...tail, ...this.held.slice(1)], closed: true };
  }

  private endCopy(): void {
    const table = this.current!;
    const previous = this.counts.get(tableKey(table))?.rows ?? 0;
    this.counts.set(tableKey(table), { ...table, rows: previous + this.rows });
    this.current = undefined;
  }

  /** A line outside COPY data. */
  private line(line: Buffer): 'commit' | 'trailer' | 'other' {
    if (line.equals(commitLine)) return 'commit';
    if (
      line.length === 0 ||
      (line[0] === 0x2d && line[1] === 0x2d) ||
      line.toString('latin1').startsWith('\\unrestrict ')
    ) {
      return 'trailer';
    }
    // Only lines that start with "COPY " are worth decoding.
    if (line.length > 5 && line[0] === 0x43 && line[1] === 0x4f && line[2] === 0x50 && line[3] === 0x59) {
      const target = parseCopyTarget(line.toString('utf8'));
      if (target) {
        this.current = target;
        this.rows = 0;
      }
    }
    return 'other';
  }

  /** Tables with the rows their COPY blocks carried. */
  result(): ExpectedTable[] {
    return [...this.counts.values()].sort(compareTables);
  }
}

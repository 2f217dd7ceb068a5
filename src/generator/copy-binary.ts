import type { ClientBase, Connection, Submittable } from 'pg';

/**
 * `COPY (<query>) TO STDOUT (FORMAT binary)` on a pg client, as rows of raw field bytes.
 *
 * Why: a normal query returns bytea as hex text, which pg-protocol first decodes into a JS string
 * twice the file's size and then back into bytes; for 20 MiB of files that is most of a
 * generation's time. In binary COPY, bytea arrives as the bytes themselves. (pg-copy-streams does
 * this as a stream; it is not a dependency here, and a row array per batch is all we need.)
 *
 * The query text cannot take bind parameters: callers embed values with `client.escapeLiteral`.
 */
/** Reads the fields of the row being parsed; valid only during the decode callback. */
export interface CopyFields {
  isNull(index: number): boolean;
  text(index: number): string;
  int4(index: number): number;
  int8(index: number): number;
  /** A copy of the field's bytes (the underlying buffer is reused by pg-protocol). */
  bytes(index: number): Buffer;
}

class FieldReader implements CopyFields {
  data: Buffer = EMPTY;
  readonly starts: number[] = [];
  readonly lengths: number[] = [];

  isNull(index: number): boolean {
    return this.lengths[index] === -1;
  }

  text(index: number): string {
    return this.isNull(index) ? '' : this.data.toString('utf8', this.starts[index], this.starts[index] + this.lengths[index]);
  }

  int4(index: number): number {
    return this.isNull(index) ? 0 : this.data.readInt32BE(this.starts[index]);
  }

  int8(index: number): number {
    return this.isNull(index) ? 0 : Number(this.data.readBigInt64BE(this.starts[index]));
  }

  bytes(index: number): Buffer {
    const length = Math.max(this.lengths[index], 0);
    const copy = this.allocate(length);
    if (length > 0) this.data.copy(copy, 0, this.starts[index], this.starts[index] + length);
    return copy;
  }

  private slab: Buffer = EMPTY;
  private slabUsed = 0;

  /**
   * Small values are carved out of 1 MiB slabs: thousands of 4 KiB files would otherwise be
   * thousands of separate allocations for the collector to track. A slab lives as long as any
   * value cut from it, which is the batch the values arrived in.
   */
  private allocate(length: number): Buffer {
    if (length > SLAB_VALUE_MAX) return Buffer.allocUnsafe(length);
    if (this.slabUsed + length > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.slabUsed = 0;
    }
    const value = this.slab.subarray(this.slabUsed, this.slabUsed + length);
    this.slabUsed += length;
    return value;
  }
}

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER_BYTES = SIGNATURE.length + 8;
const EMPTY = Buffer.alloc(0);
const SLAB_BYTES = 1024 * 1024;
const SLAB_VALUE_MAX = 64 * 1024;

class BinaryCopy<T> implements Submittable {
  readonly rows: T[] = [];
  private readonly fields = new FieldReader();
  private pending: Buffer | null = null;
  private headerRead = false;
  private finished = false;
  private settled = false;
  private error: Error | null = null;

  constructor(
    private readonly text: string,
    private readonly decode: (fields: CopyFields) => T,
    private readonly settle: (error: Error | null, rows: T[]) => void,
  ) {}

  submit(connection: Connection): void {
    connection.query(this.text);
  }

  handleCopyData(message: { chunk: Buffer }): void {
    if (this.error) return;
    try {
      this.parse(message.chunk);
    } catch (error) {
      this.error = error as Error;
    }
  }

  handleCommandComplete(): void {
    if (!this.error && (this.pending?.length || !this.finished)) this.error = new Error('binary COPY ended in the middle of a row');
  }

  handleReadyForQuery(): void {
    this.done(this.error);
  }

  /** A server error (pg then never calls handleReadyForQuery on this query) or a broken connection. */
  handleError(error: Error): void {
    this.done(error);
  }

  private done(error: Error | null): void {
    if (this.settled) return;
    this.settled = true;
    this.settle(error, this.rows);
  }

  /** Decodes whole rows out of `chunk` (plus what was left over); what is kept is copied out. */
  private parse(chunk: Buffer): void {
    // pg-protocol hands out slices of a buffer it reuses: nothing may keep pointing into it.
    const data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    let offset = 0;
    if (!this.headerRead) {
      if (data.length < HEADER_BYTES) {
        this.pending = Buffer.from(data);
        return;
      }
      if (!data.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new Error('not a binary COPY stream');
      const extension = data.readUInt32BE(SIGNATURE.length + 4);
      offset = HEADER_BYTES + extension;
      this.headerRead = true;
    }
    const reader = this.fields;
    reader.data = data;
    while (offset + 2 <= data.length) {
      const count = data.readInt16BE(offset);
      if (count === -1) {
        this.finished = true;
        offset += 2;
        break;
      }
      let cursor = offset + 2;
      let complete = true;
      for (let field = 0; field < count; field++) {
        if (cursor + 4 > data.length) {
          complete = false;
          break;
        }
        const length = data.readInt32BE(cursor);
        cursor += 4;
        reader.starts[field] = cursor;
        reader.lengths[field] = length;
        if (length === -1) continue;
        if (cursor + length > data.length) {
          complete = false;
          break;
        }
        cursor += length;
      }
      if (!complete) break;
      this.rows.push(this.decode(reader));
      offset = cursor;
    }
    if (offset < data.length) this.pending = Buffer.from(data.subarray(offset));
    reader.data = EMPTY;
  }
}

/** Runs a binary COPY of `query` (a SELECT) and decodes each row as it arrives. */
export function copyBinary<T>(client: ClientBase, query: string, decode: (fields: CopyFields) => T): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const copy = new BinaryCopy(`COPY (${query}) TO STDOUT (FORMAT binary)`, decode, (error, rows) => (error ? reject(error) : resolve(rows)));
    client.query(copy);
  });
}

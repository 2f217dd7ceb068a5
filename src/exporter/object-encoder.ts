import { Worker } from 'node:worker_threads';
import { encodeObject, EncodedObject, ObjectType } from './git-objects.js';

/** Below this many objects, encoding here costs less than the round trip to the worker. */
const INLINE_BELOW = 64;

/**
 * The worker's code (CommonJS, evaluated as a string so that it runs the same from dist/ and
 * under jest): git's object header, SHA-1 and level-1 deflate, exactly as git-objects.ts does.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { deflateSync } = require('node:zlib');
parentPort.on('message', ({ id, type, bodies }) => {
  try {
    const oids = [];
    const deflated = [];
    for (const data of bodies) {
      const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      const full = Buffer.concat([Buffer.from(type + ' ' + body.length + '\\0'), body]);
      oids.push(createHash('sha1').update(full).digest('hex'));
      deflated.push(deflateSync(full, { level: 1 }));
    }
    parentPort.postMessage({ id, oids, deflated });
  } catch (error) {
    parentPort.postMessage({ id, error: String(error && error.message || error) });
  }
});
`;

interface Pending {
  resolve(objects: EncodedObject[]): void;
  reject(error: Error): void;
}

/**
 * Hashes and deflates large batches of objects on a worker thread, so that a cold export writes
 * one chunk of objects (main thread, filesystem) while the next chunk is being compressed (the
 * other core). Small batches are encoded in place.
 */
export class ObjectEncoder {
  private worker?: Worker;
  private readonly pending = new Map<number, Pending>();
  private sequence = 0;

  encode(type: ObjectType, bodies: Buffer[]): Promise<EncodedObject[]> {
    if (bodies.length < INLINE_BELOW) return Promise.resolve(bodies.map((body) => encodeObject(type, body)));
    const worker = this.start();
    const id = this.sequence++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, type, bodies });
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on('message', (message: { id: number; oids?: string[]; deflated?: Uint8Array[]; error?: string }) => {
      const pending = this.pending.get(message.id);
      if (!pending) return;
      this.pending.delete(message.id);
      if (message.error || !message.oids || !message.deflated) return pending.reject(new Error(`object encoder: ${message.error ?? 'no result'}`));
      const deflated = message.deflated;
      pending.resolve(message.oids.map((oid, index) => ({ oid, deflated: Buffer.from(deflated[index].buffer, deflated[index].byteOffset, deflated[index].byteLength) })));
    });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const pending of this.pending.values()) pending.reject(error);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`object encoder exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }
}

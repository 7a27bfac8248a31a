/**
 * An exact snapshot of physical memory for the refused-call check, cheap where memory is
 * zero. Memory is taken in 64 KiB chunks: a zero chunk is only marked (one native
 * compare with a zero chunk), any other is copied. Checking compares every chunk again,
 * with zero or with its copy, so every byte is compared with its value at the snapshot.
 * A fuzz program touches a few hundred KiB of memory; the rest is pages the host never
 * backed (see core's `Machine.dispose`), which read at cache speed, where a full copy
 * and compare wrote all of memory and read it twice per refused call.
 */

const CHUNK = 64 * 1024;
const zeroChunk = Buffer.alloc(CHUNK);

export class MemorySnapshot {
  /** Copies of the non-zero chunks, at their own offsets (the rest is never written). */
  private shadow = Buffer.alloc(0);
  /** Per chunk: 1 if it was zero at the snapshot. */
  private zero = new Uint8Array(0);
  private size = -1;

  /** Takes the snapshot of `bytes` (replacing the previous one). */
  take(bytes: Uint8Array): void {
    if (bytes.byteLength % CHUNK !== 0)
      throw new RangeError(`memory of ${bytes.byteLength} bytes is not whole 64 KiB chunks`);
    if (this.shadow.length !== bytes.byteLength) {
      this.shadow = Buffer.alloc(bytes.byteLength);
      this.zero = new Uint8Array(bytes.byteLength / CHUNK);
    }
    const mem = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.size = mem.length;
    for (let c = 0, off = 0; off < mem.length; c++, off += CHUNK) {
      const z = mem.compare(zeroChunk, 0, CHUNK, off, off + CHUNK) === 0;
      this.zero[c] = z ? 1 : 0;
      if (!z) mem.copy(this.shadow, off, off, off + CHUNK);
    }
  }

  /** The offset of the first byte that differs from the snapshot, or -1. */
  firstChange(bytes: Uint8Array): number {
    const mem = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (mem.length !== this.size) return 0;
    for (let c = 0, off = 0; off < mem.length; c++, off += CHUNK) {
      const same =
        this.zero[c] === 1
          ? mem.compare(zeroChunk, 0, CHUNK, off, off + CHUNK) === 0
          : mem.compare(this.shadow, off, off + CHUNK, off, off + CHUNK) === 0;
      if (same) continue;
      const want = this.zero[c] === 1 ? zeroChunk : this.shadow.subarray(off, off + CHUNK);
      for (let i = 0; i < CHUNK; i++) if (mem[off + i] !== want[i]) return off + i;
    }
    return -1;
  }
}

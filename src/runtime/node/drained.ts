/**
 * Back-pressure for a writable stream (an HTTP/2 stream, an HTTP/1 response): resolves when the
 * buffered data drained below the high-water mark, or the stream closed, whichever comes first.
 */
import type { Writable } from 'node:stream';

export function drainedOrClosed(stream: Writable, ended: boolean): Promise<void> {
  if (ended || !stream.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

import { PageFault } from '../fault.js';

/** The PageFault `fn` raises; any other error propagates, and no fault at all is an error. */
export function faultOf(fn: () => unknown): PageFault {
  try {
    fn();
  } catch (e) {
    if (e instanceof PageFault) return e;
    throw e;
  }
  throw new Error('expected a page fault, none was raised');
}

// Per-call state (who is calling, how deep the package-to-package chain is), so that
// GetClientInfo/GetCallInfo answer for the call in progress and nested calls know their depth.
//
// The frame travels one of two ways. AsyncLocalStorage follows a call across its awaits, but on
// Node 20 a live AsyncLocalStorage keeps async_hooks on for the whole process: every promise,
// socket and tick then pays for it (about a tenth of the server CPU of an HTTP sign-on, measured
// with `tslsa serve`). So it is live only while a call that needs it is in flight:
// - every entry point of a package that has not declared how it reads its frame (any third-party
//   package: once one is loaded, every call of the process goes this way), and the entry points a
//   package declares as reading it after an await, run inside AsyncLocalStorage;
// - the other entry points of declared packages (the built-in ones, whose per-message context
//   calls never ask who is calling) get the frame in a plain variable for their synchronous part.
//   After their first await they see no frame: their nested calls then run as the LSA's own.
// A call made while an AsyncLocalStorage frame is current stays in AsyncLocalStorage, so a frame
// never leaks from one way into the other.

import { AsyncLocalStorage } from 'node:async_hooks';
import type { LSA_CLIENT_REQUEST, SECPKG_CLIENT_INFO } from './types.js';

export interface CallFrame {
  client: SECPKG_CLIENT_INFO;
  request: LSA_CLIENT_REQUEST;
  attributes: number;
  callCount: number;
  depth: number;
  /** Id of the package whose code is running. */
  packageId: number;
}

const storage = new AsyncLocalStorage<CallFrame>();
/** The frame of the call whose synchronous part is running (the plain-variable way). */
let syncFrame: CallFrame | undefined;
/** Calls in flight inside AsyncLocalStorage; it is switched off when this returns to 0. */
let asyncCalls = 0;
/** An undeclared package is loaded: AsyncLocalStorage for every call from now on. */
let alwaysAsync = false;

// Modules that declared which entry points read the frame after an await (the rest do not).
const declared = new WeakMap<object, ReadonlySet<string>>();

/**
 * A package module's promise: of its entry points, only `asyncEntries` read the call frame
 * (GetClientInfo, GetCallInfo, or a nested call that must carry the caller) after an await.
 */
export function declareFrameUse<M extends object>(module: M, asyncEntries: readonly string[]): M {
  declared.set(module, new Set(asyncEntries));
  return module;
}

/** The entry points of `module` that need AsyncLocalStorage; null when it declared nothing (all of them). */
export function asyncEntriesOf(module: object): ReadonlySet<string> | null {
  return declared.get(module) ?? null;
}

/** An undeclared package was loaded: every call keeps its frame across awaits from now on. */
export function requireAsyncFrames(): void {
  alwaysAsync = true;
}

export function currentFrame(): CallFrame | undefined {
  // A disabled AsyncLocalStorage answers undefined.
  return syncFrame ?? storage.getStore();
}

/**
 * Run `fn` as a call with `frame`: across its awaits when `acrossAwaits` (or when the caller's
 * own frame travels that way), else for its synchronous part only.
 */
export function runInFrame<T>(frame: CallFrame, acrossAwaits: boolean, fn: () => Promise<T> | T): Promise<T> | T {
  if (!acrossAwaits && !alwaysAsync && storage.getStore() === undefined) {
    const outer = syncFrame;
    syncFrame = frame;
    try {
      return fn();
    } finally {
      syncFrame = outer;
    }
  }
  asyncCalls++;
  const outer = syncFrame;
  syncFrame = undefined;
  let r: Promise<T> | T;
  try {
    r = storage.run(frame, fn);
  } catch (e) {
    asyncCallDone();
    throw e;
  } finally {
    syncFrame = outer;
  }
  // Any thenable: the call is over only when it settles.
  if (r !== null && typeof r === 'object' && typeof (r as { then?: unknown }).then === 'function') return Promise.resolve(r).finally(asyncCallDone);
  asyncCallDone();
  return r;
}

function asyncCallDone(): void {
  // disable() also leaves the contexts of anything the finished calls left running (timers):
  // outside a call there is no client, as on Windows.
  if (--asyncCalls === 0 && !alwaysAsync) storage.disable();
}

/** Whether AsyncLocalStorage is live now (tests: it must be off between calls of declared packages). */
export function asyncFramesLive(): boolean {
  return asyncCalls > 0 || alwaysAsync;
}

// What the package fuzz properties share about SSPI sessions: every context handle a session's
// calls return is tracked, and deleted when the session closes, so a property run (or a shrink
// step) leaves no context behind in the shared LSA.
import type { SecurityFunctionTable } from '../../src/sspi/api.js';
import type { SecHandle } from '../../src/lsa/protocol.js';

export class SspiSession<W extends { sspi: SecurityFunctionTable }> {
  private readonly handles: SecHandle[] = [];
  constructor(readonly w: W) {}

  /** Remember `h` for close() (once); answers it, or null for none. */
  track(h: SecHandle | null | undefined): SecHandle | null {
    if (h && !this.handles.some((x) => x.dwUpper === h.dwUpper && x.dwLower === h.dwLower)) this.handles.push(h);
    return h ?? null;
  }

  async close(): Promise<void> {
    for (const h of this.handles.splice(0)) await this.w.sspi.DeleteSecurityContext(h);
  }
}

/** Run `fn` in session `s`, whose contexts are deleted afterwards. */
export async function withSession<S extends { close(): Promise<void> }, T>(s: S, fn: (s: S) => Promise<T>): Promise<T> {
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

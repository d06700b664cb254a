// Live captures on the loopback interface with tshark (dumpcap), read back with tshark's
// dissectors: what really crossed the wire between two of our processes, judged by Wireshark's
// SPNEGO, Kerberos and NTLMSSP dissectors (Kerberos decrypted with MIT's library and a keytab).
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { killPid, requireBinary, run, sleep, spawnTracked, stopChild } from './proc.js';

export interface Capture {
  /** Stops capturing (SIGINT lets dumpcap flush the file) and gives the pcap's path. */
  stop(): Promise<string>;
}

/** Starts capturing TCP to or from `port` on lo into `dir`; resolves once tshark says it captures. */
export async function captureLoopback(port: number, dir: string): Promise<Capture> {
  requireBinary('tshark');
  const pcap = join(dir, `lo-${port}.pcap`);
  const child: ChildProcess = spawnTracked('tshark', ['-i', 'lo', '-f', `tcp port ${port}`, '-w', pcap], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let said = '';
  const ready = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), 15_000);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      said += d;
      if (/Capturing on/.test(said)) {
        clearTimeout(t);
        resolve(true);
      }
    });
    void exited.then(() => resolve(false));
  });
  if (!ready) {
    await stopChild(child, exited, 1000);
    throw new Error(`tshark did not start capturing on lo: ${said}`);
  }
  return {
    async stop() {
      // Give the last segments a moment to be written before the interrupt.
      await sleep(300);
      child.kill('SIGINT');
      const code = await Promise.race([exited, sleep(10_000).then(() => 'timeout' as const)]);
      if (code === 'timeout') {
        await killPid(child.pid!);
        throw new Error('tshark did not stop within 10 s of SIGINT');
      }
      return pcap;
    },
  };
}

/**
 * Captures TCP to or from `port` while `during` runs, and stops the capture whatever it does (a
 * tshark left running would keep the test file from ever ending); its value and the pcap's path.
 */
export async function captureWhile<T>(port: number, dir: string, during: () => Promise<T>): Promise<{ value: T; pcap: string }> {
  const cap = await captureLoopback(port, dir);
  let value: T;
  try {
    value = await during();
  } catch (e) {
    await cap.stop().catch(() => undefined);
    throw e;
  }
  return { value, pcap: await cap.stop() };
}

/**
 * The HTTP messages of a capture, one record per message in order, with the `fields` asked for;
 * a field that occurs several times in a message gives its values joined by ','. `prefs` are
 * tshark -o settings (e.g. kerberos.decrypt:TRUE).
 */
export async function dissectHttp(pcap: string, fields: readonly string[], prefs: readonly string[] = []): Promise<Array<Record<string, string>>> {
  const args = ['-r', pcap, ...prefs.flatMap((p) => ['-o', p]), '-Y', 'http', '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=,'];
  for (const f of fields) args.push('-e', f);
  const r = await run('tshark', args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`tshark -r failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => Object.fromEntries(l.split('\t').map((v, i) => [fields[i]!, v])));
}

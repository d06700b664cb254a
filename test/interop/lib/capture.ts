// Live captures on the loopback interface with tshark (dumpcap), read back with tshark's
// dissectors: what really crossed the wire between two of our processes, judged by Wireshark's
// SPNEGO, Kerberos and NTLMSSP dissectors (Kerberos decrypted with MIT's library and a keytab).
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { killPid, requireBinary, run, sleep, spawnTracked, stopChild } from './proc.js';

/** A finished capture: the file and the server port it was filtered on. */
export interface Pcap {
  path: string;
  port: number;
}

export interface Capture {
  /** Stops capturing (SIGINT lets dumpcap flush the file) and gives the pcap. */
  stop(): Promise<Pcap>;
}

/**
 * Starts capturing TCP to or from `port` on lo into `dir`; resolves once a packet sent after the
 * start has been seen. tshark says "Capturing on" some tens of milliseconds before dumpcap really
 * captures (a request sent at once was lost while its reply was kept), so the capture is fenced at
 * both ends with UDP datagrams to a port of our own, included in the filter: once tshark prints
 * one, the capture is live and holds all sent before it. They are not HTTP: dissectHttp skips them.
 * `probePort` picks their port (tests of the fence); by default the system does.
 */
export async function captureLoopback(port: number, dir: string, opts: { probePort?: number } = {}): Promise<Capture> {
  requireBinary('tshark');
  const pcap = join(dir, `lo-${port}.pcap`);
  const probe = createSocket('udp4');
  await new Promise<void>((resolve, reject) => probe.once('error', reject).bind(opts.probePort ?? 0, '127.0.0.1', () => resolve())).catch((e: unknown) => {
    probe.close();
    throw e;
  });
  probe.on('message', () => undefined);
  const probePort = probe.address().port;
  const filter = `tcp port ${port} or (udp and dst port ${probePort})`;
  // -P prints each packet even while writing the file, here as two fields: the UDP destination
  // port and payload (not the summary line: tshark may name a probe port's datagrams after some
  // other protocol, as Elasticsearch for 54328). dumpcap hands packets over in batches about every
  // 0.5 s, so a fence waits for a probe numbered after it began, never for an older one.
  const child: ChildProcess = spawnTracked('tshark', ['-l', '-P', '-T', 'fields', '-e', 'udp.dstport', '-e', 'udp.payload', '-i', 'lo', '-f', filter, '-w', pcap], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let said = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    said += d;
  });
  let sent = 0;
  let newestSeen = -1;
  const seen: Array<() => void> = [];
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    for (const l of lines) {
      const [dstPort, payload] = l.split('\t');
      const m = /^tslsa capture fence (\d+)$/.exec(Buffer.from(payload ?? '', 'hex').toString('latin1'));
      if (dstPort === String(probePort) && m) newestSeen = Math.max(newestSeen, Number(m[1]));
    }
    for (const w of seen.splice(0)) w();
  });

  /** Sends numbered datagrams until tshark prints one sent by this call: the capture holds all before it. */
  async function fence(what: string): Promise<void> {
    const first = sent;
    const deadline = Date.now() + 15_000;
    while (newestSeen < first) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`tshark saw no ${what} probe on lo (port ${probePort}): ${said}`);
      probe.send(`tslsa capture fence ${sent++}`, probePort, '127.0.0.1');
      await Promise.race([new Promise<void>((r) => seen.push(r)), sleep(50)]);
    }
  }

  try {
    await fence('start');
  } catch (e) {
    await stopChild(child, exited, 1000);
    probe.close();
    throw e;
  }
  return {
    async stop() {
      // tshark is stopped even when the fence fails, then the fence's error is the one told.
      const fenced = await fence('stop').then(
        () => undefined,
        (e: unknown) => e,
      );
      probe.close();
      child.kill('SIGINT');
      const code = await Promise.race([exited, sleep(10_000).then(() => 'timeout' as const)]);
      if (code === 'timeout') {
        await killPid(child.pid!);
        throw new Error('tshark did not stop within 10 s of SIGINT');
      }
      if (fenced !== undefined) throw fenced;
      return { path: pcap, port };
    },
  };
}

/**
 * Captures TCP to or from `port` while `during` runs, and stops the capture whatever it does (a
 * tshark left running would keep the test file from ever ending); its value and the pcap.
 */
export async function captureWhile<T>(port: number, dir: string, during: () => Promise<T>): Promise<{ value: T; pcap: Pcap }> {
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
 *
 * The server port is decoded as HTTP outright: our ports are ephemeral, and tshark gives a TCP
 * segment to the dissector registered on either port before it tries HTTP's heuristics, so a
 * server or client port that happens to be, say, 44818 (EtherNet/IP) hid every message. A capture
 * with no HTTP message in it is an error that says what the capture did hold.
 */
export async function dissectHttp(pcap: Pcap, fields: readonly string[], prefs: readonly string[] = []): Promise<Array<Record<string, string>>> {
  const args = ['-r', pcap.path, '-d', `tcp.port==${pcap.port},http`, ...prefs.flatMap((p) => ['-o', p]), '-Y', 'http', '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=,'];
  for (const f of fields) args.push('-e', f);
  const r = await run('tshark', args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`tshark -r failed: ${r.stderr}`);
  const messages = r.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => Object.fromEntries(l.split('\t').map((v, i) => [fields[i]!, v])));
  if (messages.length === 0) throw new Error(`no HTTP message in the capture of port ${pcap.port}; its TCP conversations:\n${await conversations(pcap)}`);
  return messages;
}

/** tshark's table of the capture's TCP conversations (ports, frames, bytes), for failure messages. */
async function conversations(pcap: Pcap): Promise<string> {
  const r = await run('tshark', ['-r', pcap.path, '-q', '-z', 'conv,tcp'], { timeoutMs: 60_000 });
  return r.code === 0 ? r.stdout.trim() : `(tshark -z conv,tcp failed: ${r.stderr.trim()})`;
}

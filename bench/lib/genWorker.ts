// One generator thread of bench/lib/genPool.ts: its own LSA and credentials, one untimed
// handshake, then the load loop when told to go.
import { parentPort, workerData } from 'node:worker_threads';
import { Credentials } from '../../src/credentials.js';
import { createLsa } from '../../src/lsa/host.js';
import { kerberosPackage } from '../../src/packages/kerberos/package.js';
import { negotiatePackage } from '../../src/packages/negotiate/package.js';
import { ntlmPackage } from '../../src/packages/ntlm/package.js';
import type { WorkerJob } from './genPool.js';
import { checkFor, handshakeOnce, runLoad, type Scenario } from './loadgen.js';

const job = workerData as WorkerJob;
const port = parentPort!;

try {
  const c = job.cred;
  const lsa = await createLsa({ packages: c.kind === 'krb5' ? [negotiatePackage({ packages: ['Kerberos'] }), kerberosPackage({ krb5Conf: c.krb5Conf, env: {} })] : [ntlmPackage()] });
  const credentials = c.kind === 'krb5'
    ? await Credentials.acquire(lsa.sspi(), { package: 'Negotiate', use: 'outbound', authData: { User: c.user, Domain: c.realm, Password: c.password } })
    : await Credentials.acquire(lsa.sspi(), { package: 'NTLM', use: 'outbound', authData: { User: c.user, Domain: c.domain, Password: c.password } });
  const s: Scenario = { scheme: job.scheme, credentials, target: job.target, urls: job.urls, path: job.path, check: checkFor(job.check) };
  for (const u of job.urls) await handshakeOnce(s, u);
  port.once('message', () => {
    runLoad(s, { dur: job.dur, warm: job.warm, conc: job.conc }).then(
      (result) => port.postMessage({ type: 'result', result }),
      (e: unknown) => port.postMessage({ type: 'error', message: (e as Error)?.message ?? String(e) }),
    );
  });
  port.postMessage({ type: 'ready' });
} catch (e) {
  port.postMessage({ type: 'error', message: (e as Error)?.message ?? String(e) });
}

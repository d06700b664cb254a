// `tslsa packages [--json]`: the loaded packages' SecPkgInfo.

import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { createLsa, type LsaHost, type PackageSpec } from '../lsa/host.js';
import type { SecurityPackageModule } from '../lsa/types.js';
import { builtinPackages } from '../packages/index.js';
import { SECPKG_FLAG, flagNames } from '../sspi/flags.js';
import { RPC_C_AUTHN } from '../sspi/flags.js';
import type { SecPkgInfo } from '../sspi/attributes.js';
import { UsageError } from './args.js';

/** Load a third-party package module from a path: the same SpLsaModeInitialize entry as ours. */
export async function loadModule(spec: string): Promise<SecurityPackageModule> {
  const url = spec.startsWith('file:') ? spec : pathToFileURL(resolve(spec)).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`cannot load package module ${spec}: ${(e as Error).message}`);
  }
  const m = (typeof mod.SpLsaModeInitialize === 'function' ? mod : (mod.default as Record<string, unknown> | undefined)) as SecurityPackageModule | undefined;
  if (!m || typeof m.SpLsaModeInitialize !== 'function') throw new UsageError(`${spec} does not export SpLsaModeInitialize`);
  return m;
}

export async function startHost(extra: string[]): Promise<LsaHost> {
  const specs: PackageSpec[] = await builtinPackages();
  for (const e of extra) specs.push({ module: await loadModule(e) });
  return createLsa({ packages: specs });
}

export function describePackage(p: SecPkgInfo): Record<string, unknown> {
  const rpc = Object.entries(RPC_C_AUTHN).find(([, v]) => v === p.wRPCID)?.[0];
  return {
    name: p.Name,
    comment: p.Comment,
    capabilities: flagNames(p.fCapabilities, SECPKG_FLAG),
    fCapabilities: `0x${p.fCapabilities.toString(16).padStart(8, '0')}`,
    version: p.wVersion,
    rpcId: p.wRPCID,
    rpcIdName: p.wRPCID === 0xffff ? 'SECPKG_ID_NONE' : rpc ? `RPC_C_AUTHN_${rpc}` : null,
    maxToken: p.cbMaxToken,
  };
}

export async function packagesCommand(json: boolean, load: string[], out: NodeJS.WritableStream): Promise<number> {
  const host = await startHost(load);
  try {
    const sspi = host.sspi();
    const r = await sspi.EnumerateSecurityPackages();
    const list = r.ppPackageInfo.map(describePackage);
    if (json) {
      out.write(JSON.stringify(list, null, 2) + '\n');
      return 0;
    }
    if (list.length === 0) {
      out.write('No security packages are loaded.\n');
      return 0;
    }
    for (const p of list) {
      out.write(`${p.name}\n`);
      out.write(`  comment:      ${p.comment}\n`);
      out.write(`  capabilities: ${p.fCapabilities} ${(p.capabilities as string[]).join(' | ')}\n`);
      out.write(`  version:      ${p.version}\n`);
      out.write(`  RPC id:       ${p.rpcId}${p.rpcIdName ? ` (${p.rpcIdName})` : ''}\n`);
      out.write(`  max token:    ${p.maxToken} bytes\n`);
    }
    return 0;
  } finally {
    await host.shutdown();
  }
}

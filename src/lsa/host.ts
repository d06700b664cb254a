// A ready-to-use LSA: a host with packages loaded and connections handed out.

import type { Plain } from '../sspi/attributes.js';
import { InitSecurityInterface, type SecurityFunctionTable } from '../sspi/api.js';
import { InProcessLsaConnection } from './connection.js';
import { type LoadedPackage, Lsa, type LsaOptions } from './lsa.js';
import { AllocateLocallyUniqueId } from './logonSessions.js';
import type { LsaConnection } from './protocol.js';
import type { LUID, SecurityPackageModule } from './types.js';

export interface PackageSpec {
  module: SecurityPackageModule;
  config?: Plain;
}

export interface CreateLsaOptions extends LsaOptions {
  packages?: Array<SecurityPackageModule | PackageSpec>;
}

export interface ConnectOptions {
  /** Trusted (LsaRegisterLogonProcess) or untrusted (LsaConnectUntrusted); untrusted by default. */
  trusted?: boolean;
  /** The logon session the client runs in; a fresh one is created by default. */
  logonId?: LUID;
  name?: string;
}

/** Start an LSA and load packages in order. */
export async function createLsa(options: CreateLsaOptions = {}): Promise<LsaHost> {
  const lsa = new Lsa(options);
  for (const p of options.packages ?? []) {
    const spec: PackageSpec = 'module' in p ? p : { module: p };
    await lsa.loadPackage(spec.module, spec.config === undefined ? {} : { config: spec.config });
  }
  return new LsaHost(lsa);
}

export class LsaHost {
  constructor(readonly lsa: Lsa) {}

  loadPackage(module: SecurityPackageModule, config?: Plain): Promise<LoadedPackage[]> {
    return this.lsa.loadPackage(module, config === undefined ? {} : { config });
  }

  /** Open a connection (LsaConnectUntrusted / LsaRegisterLogonProcess). */
  connect(options: ConnectOptions = {}): LsaConnection {
    let logonId = options.logonId;
    if (logonId === undefined) {
      logonId = AllocateLocallyUniqueId();
      this.lsa.createLogonSession(logonId);
    }
    return new InProcessLsaConnection(this.lsa, { trusted: options.trusted ?? false, logonId, processId: process.pid, name: options.name ?? 'client' });
  }

  /** InitSecurityInterface over a new connection. */
  sspi(options: ConnectOptions = {}): SecurityFunctionTable {
    return InitSecurityInterface(this.connect(options));
  }

  shutdown(): Promise<void> {
    return this.lsa.shutdown();
  }
}

export function LsaConnectUntrusted(host: LsaHost): { status: number; LsaHandle: LsaConnection } {
  return { status: 0, LsaHandle: host.connect({ trusted: false }) };
}

/** LsaRegisterLogonProcess: a trusted connection (in Windows this needs SeTcbPrivilege). */
export function LsaRegisterLogonProcess(host: LsaHost, LogonProcessName: string): { status: number; LsaHandle: LsaConnection } {
  return { status: 0, LsaHandle: host.connect({ trusted: true, name: LogonProcessName }) };
}

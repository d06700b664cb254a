// The security packages tslsa ships, in the order the LSA loads them (Negotiate prefers the
// earlier ones). Each is a SecurityPackageModule, loaded through SpLsaModeInitialize like any
// third-party package.

import type { PackageSpec } from '../lsa/host.js';
import { ntlmPackage } from './ntlm/package.js';

/** The built-in package set; `config` is handed to each package in SECPKG_PARAMETERS.PackageConfig. */
export async function builtinPackages(): Promise<PackageSpec[]> {
  return [{ module: ntlmPackage() }];
}

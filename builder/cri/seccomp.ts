// The seccomp profile of CRI builds: Nix's filter (no setuid/setgid bits, which a NAR cannot hold,
// EPERM; no extended attributes, ENOTSUP), everything else allowed. containerd reads a "Localhost"
// profile as an OCI LinuxSeccomp object, so it is written once as JSON in the state directory.
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const EPERM = 1;
const ENOTSUP = 95;

function architectures(): string[] | undefined {
  if (process.arch === 'x64') return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
  if (process.arch === 'arm64') return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
  return undefined;
}

export function nixSeccompProfile(): Record<string, unknown> {
  const noSetId = [S_ISUID, S_ISGID].flatMap((bit) => [
    { names: ['chmod', 'fchmod'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: 1, value: bit, valueTwo: bit, op: 'SCMP_CMP_MASKED_EQ' }] },
    { names: ['fchmodat'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: 2, value: bit, valueTwo: bit, op: 'SCMP_CMP_MASKED_EQ' }] },
  ]);
  const arch = architectures();
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    ...(arch ? { architectures: arch } : {}),
    syscalls: [...noSetId, { names: ['setxattr', 'lsetxattr', 'fsetxattr'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOTSUP }],
  };
}

/** Writes the profile into `stateDir` (atomically) and returns its path. */
export async function writeSeccompProfile(stateDir: string): Promise<string> {
  const path = join(stateDir, 'seccomp.json');
  const tmp = `${path}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, JSON.stringify(nixSeccompProfile()), { mode: 0o644 });
  await rename(tmp, path);
  return path;
}

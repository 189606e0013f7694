// Nix's seccomp filter, the same for every sandbox backend: no setuid/setgid bits (a NAR cannot
// hold them: EPERM) and no extended attributes (ENOTSUP); everything else is allowed.
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const EPERM = 1;
const ENOTSUP = 95;

function architectures(): string[] | undefined {
  if (process.arch === 'x64') return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
  if (process.arch === 'arm64') return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
  return undefined;
}

/** The filter as an OCI LinuxSeccomp object (runc config.json, containerd "Localhost" profile). */
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

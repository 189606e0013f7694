// What every sandbox backend shares with Nix 2.8's build sandbox: the build user's identity and
// the /etc files Nix writes (local-derivation-goal.cc).

/** Inside the sandbox, like Nix's sandbox (`nixbld`). */
export const SANDBOX_UID = 1000;
export const SANDBOX_GID = 100;

/** /etc files as Nix 2.8 writes them in its sandbox, home being the working directory. */
export function etcFiles(workingDir: string): Record<string, string> {
  return {
    passwd: `root:x:0:0:Nix build user:${workingDir}:/noshell\n`
      + `nixbld:x:${SANDBOX_UID}:${SANDBOX_GID}:Nix build user:${workingDir}:/noshell\n`
      + 'nobody:x:65534:65534:Nobody:/:/noshell\n',
    group: `root:x:0:\nnixbld:!:${SANDBOX_GID}:\nnogroup:x:65534:\n`,
    hosts: '127.0.0.1 localhost\n::1 localhost\n',
  };
}

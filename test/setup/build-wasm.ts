// npm run build:wasm — compiles store/castore/gear-chunker.wat into gear-chunker-wasm.ts (the
// bytes, base64), so that running tsix needs no WebAssembly toolchain. test/store/chunker.test.ts
// checks that the committed bytes are what the .wat compiles to.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

const WAT = fileURLToPath(new URL('../../../store/castore/gear-chunker.wat', import.meta.url));
const OUT = fileURLToPath(new URL('../../../store/castore/gear-chunker-wasm.ts', import.meta.url));

export async function compileGearChunker(): Promise<Buffer> {
  const wabt = await wabtInit();
  const mod = wabt.parseWat('gear-chunker.wat', await readFile(WAT, 'utf8'));
  try {
    return Buffer.from(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}

export function wasmModuleSource(bytes: Buffer): string {
  return `// Generated from gear-chunker.wat by \`npm run build:wasm\`; do not edit.\nexport const GEAR_CHUNKER_WASM = '${bytes.toString('base64')}';\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await writeFile(OUT, wasmModuleSource(await compileGearChunker()));
  console.log(`wrote ${OUT}`);
}

// Where builtins.trace writes (stderr by default; the eval worker redirects it to keep order).
let sink: (s: string) => void = (s) => { process.stderr.write(s); };
export function setTraceSink(f: (s: string) => void): void { sink = f; }
export function traceWrite(s: string): void { sink(s); }

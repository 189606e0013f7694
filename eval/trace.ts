// Where builtins.trace writes (stderr by default; the eval worker redirects it to keep order).
const toStderr = (s: string): void => { process.stderr.write(s); };
let sink: (s: string) => void = toStderr;
/** Where traces go from now on; null: standard error again. */
export function setTraceSink(f: ((s: string) => void) | null): void { sink = f ?? toStderr; }
export function traceWrite(s: string): void { sink(s); }

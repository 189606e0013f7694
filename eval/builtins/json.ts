// builtins.fromJSON: eval/lib/json.ts parses as Nix 2.8 (nlohmann::json) does, with its error
// messages; this turns its result into Nix values.
import { fromJSON as parseJson, JsonParseError, type JsonValue } from '../lib/json.js';
import { NixEvalError, type Pos } from '../errors.js';
import { NixAttrs, NixFloat, mkInt, type Lazy, type Value } from '../values.js';

export function fromJSON(text: string, pos: Pos | null): Value {
  let parsed: JsonValue;
  try {
    parsed = parseJson(text);
  } catch (e) {
    if (e instanceof JsonParseError) throw new NixEvalError(e.message, pos);
    throw e;
  }
  return toValue(parsed);
}

function toValue(v: JsonValue): Value {
  if (typeof v === 'bigint') return mkInt(v);
  if (typeof v === 'number') return new NixFloat(v);
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(toValue) as Lazy[];
  const m = new Map<string, Lazy>();
  for (const k of Object.keys(v)) m.set(k, toValue(v[k]!));
  return new NixAttrs(m);
}

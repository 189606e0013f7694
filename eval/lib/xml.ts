// XML output as Nix 2.8 writes it for `builtins.toXML` and `nix-instantiate --eval --xml`
// (libutil/xml-writer.cc with indentation on, the layout of libexpr/value-to-xml.cc).
// Attributes are written in byte order of their names (Nix keeps them in a std::map).

/** One element: `children` absent means an empty element (`<name … />`). */
export interface XmlNode {
  name: string;
  attrs?: Record<string, string>;
  children?: XmlNode[];
}

export const XML_DECLARATION = "<?xml version='1.0' encoding='utf-8'?>\n";

/** Escapes an attribute value as XMLWriter does (&quot; &lt; &gt; &amp; and &#xA; for newlines). */
export function escapeXmlAttr(value: string): string {
  return value.replace(/["<>&\n]/g, (c) =>
    c === '"' ? '&quot;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : '&#xA;');
}

/** Byte order of names, as std::map<std::string, …> sorts them. */
export function compareBytes(a: string, b: string): number {
  if (/^[\x00-\x7f]*$/.test(a + b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function writeAttrs(attrs: Record<string, string> | undefined): string {
  if (attrs === undefined) return '';
  let out = '';
  for (const k of Object.keys(attrs).sort(compareBytes)) out += ` ${k}="${escapeXmlAttr(attrs[k])}"`;
  return out;
}

/** A streaming writer with XMLWriter's calls, for values produced while they are evaluated. */
export class XmlWriter {
  private readonly parts: string[] = [XML_DECLARATION];
  private readonly open: string[] = [];

  openElement(name: string, attrs?: Record<string, string>): void {
    this.parts.push(`${'  '.repeat(this.open.length)}<${name}${writeAttrs(attrs)}>\n`);
    this.open.push(name);
  }

  closeElement(): void {
    const name = this.open.pop();
    if (name === undefined) throw new Error('XmlWriter: no element is open');
    this.parts.push(`${'  '.repeat(this.open.length)}</${name}>\n`);
  }

  writeEmptyElement(name: string, attrs?: Record<string, string>): void {
    this.parts.push(`${'  '.repeat(this.open.length)}<${name}${writeAttrs(attrs)} />\n`);
  }

  /** Closes every open element and returns the document. */
  close(): string {
    while (this.open.length > 0) this.closeElement();
    return this.parts.join('');
  }
}

function writeNode(w: XmlWriter, node: XmlNode): void {
  if (node.children === undefined) {
    w.writeEmptyElement(node.name, node.attrs);
    return;
  }
  w.openElement(node.name, node.attrs);
  for (const c of node.children) writeNode(w, c);
  w.closeElement();
}

/** The whole document for a tree, e.g. `{name: 'expr', children: [valueNode]}`. */
export function renderXml(root: XmlNode): string {
  const w = new XmlWriter();
  writeNode(w, root);
  return w.close();
}

/** Scalar nodes as value-to-xml.cc writes them; the caller formats floats with printFloat. */
export const xmlScalar = {
  int: (n: bigint | number): XmlNode => ({ name: 'int', attrs: { value: String(n) } }),
  bool: (b: boolean): XmlNode => ({ name: 'bool', attrs: { value: b ? 'true' : 'false' } }),
  string: (s: string): XmlNode => ({ name: 'string', attrs: { value: s } }),
  path: (p: string): XmlNode => ({ name: 'path', attrs: { value: p } }),
  float: (printed: string): XmlNode => ({ name: 'float', attrs: { value: printed } }),
  null: (): XmlNode => ({ name: 'null' }),
  unevaluated: (): XmlNode => ({ name: 'unevaluated' }),
  repeated: (): XmlNode => ({ name: 'repeated' }),
};

/** An attribute: `{name, path?, line?, column?}` as showAttrs writes it, around its value. */
export function xmlAttr(name: string, value: XmlNode, pos?: { file: string; line: number; column: number }): XmlNode {
  const attrs: Record<string, string> = { name };
  if (pos) Object.assign(attrs, { path: pos.file, line: String(pos.line), column: String(pos.column) });
  return { name: 'attr', attrs, children: [value] };
}

/** A lambda: `<function>` with `<attrspat>` (formals in byte order) or `<varpat>`. */
export function xmlFunction(arg: string, formals: { names: string[]; ellipsis: boolean } | null,
  pos?: { file: string; line: number; column: number }): XmlNode {
  const attrs: Record<string, string> = {};
  if (pos) Object.assign(attrs, { path: pos.file, line: String(pos.line), column: String(pos.column) });
  let inner: XmlNode;
  if (formals) {
    const pa: Record<string, string> = {};
    if (arg !== '') pa.name = arg;
    if (formals.ellipsis) pa.ellipsis = '1';
    inner = { name: 'attrspat', attrs: pa, children: [...formals.names].sort(compareBytes).map((n) => ({ name: 'attr', attrs: { name: n } })) };
  } else {
    inner = { name: 'varpat', attrs: { name: arg } };
  }
  return { name: 'function', attrs, children: [inner] };
}

// The reference side of compare_gpt2_reference.py: gpt-3-encoder's encode()
// on every record of DOCS (uint32 little-endian length, bytes), decoded from
// UTF-8 as WHATWG does (invalid bytes -> U+FFFD, a leading BOM kept).
//   node gpt2_reference_encode.js PACKAGE_DIR DOCS   -> one line of ids per document
const fs = require('fs');
const { encode } = require(process.argv[2]);
const buf = fs.readFileSync(process.argv[3]);
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
const out = [];
for (let off = 0; off < buf.length;) {
  const n = buf.readUInt32LE(off);
  off += 4;
  out.push(encode(decoder.decode(buf.subarray(off, off + n))).join(' '));
  off += n;
}
fs.writeFileSync(1, out.length ? out.join('\n') + '\n' : '');

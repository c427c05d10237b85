// The provider's request signature, as its helper libraries compute it.

import { createHmac } from 'node:crypto';

// `X-Twilio-Signature` of a form POST to `url`: base64(HMAC-SHA1(token, url + each name and
// value, names sorted in byte order and each name's values sorted)).
export function signature(token, url, params) {
  const byName = new Map();
  for (const [name, value] of params) {
    if (!byName.has(name)) byName.set(name, []);
    byName.get(name).push(String(value));
  }
  const names = [...byName.keys()].sort(byteOrder);
  let data = url;
  for (const name of names) {
    for (const value of byName.get(name).sort(byteOrder)) data += name + value;
  }
  return createHmac('sha1', token).update(data, 'utf8').digest('base64');
}

function byteOrder(a, b) {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// Finding a phone number in a page, however it is written.

import assert from 'node:assert/strict';

// What may stand between two digits of a number shown on a page: spaces of any kind,
// punctuation people group numbers with, HTML entities and tags.
const DIGIT_GAP = String.raw`(?:[\s\-.()/\u00a0\u2009\u202f]|&[#a-zA-Z0-9]+;|<[^>]*>)*`;

// Fails if any of `numbers` appears in `html`, whatever the grouping. A number is looked for
// by its last nine digits (all of them if fewer), so it is caught with or without its country
// code or a trunk prefix ("+7 916 123-45-67", "8 (916) 1234567", "9161234567").
export function assertNoPhoneNumbers(html, numbers, where = 'the page') {
  for (const number of numbers) {
    const digits = String(number).replace(/\D/g, '');
    if (digits.length < 7) continue;
    const tail = digits.slice(-9);
    const pattern = new RegExp([...tail].join(DIGIT_GAP));
    const found = pattern.exec(html);
    if (found) {
      const at = Math.max(0, found.index - 60);
      assert.fail(
        `phone number ${mask(number)} shown in ${where}: …${html.slice(at, found.index + found[0].length + 20)}…`,
      );
    }
  }
}

// A number as the report may print it.
function mask(number) {
  const s = String(number);
  return s.slice(0, 3) + '•'.repeat(Math.max(0, s.length - 5)) + s.slice(-2);
}

/**
 * A planted bug, for coverage-fuzz.test.ts to check that the driver finds, reports, minimises
 * and writes a crash: a TypeError when a Via header line carries `;x="open` (the bug class the
 * receive path had). Not one of the project's fuzz targets (those are in targets/).
 */
import { SipParseError } from '../../src/sip/errors.js';
import { parseMessage } from '../../src/sip/parse/parse-message.js';

export function fuzz(data: Buffer): void {
  try {
    parseMessage(data).headerLines();
  } catch (e) {
    if (!(e instanceof SipParseError)) throw e;
  }
  if (/^(?:via|v)[ \t]*:[^\r\n]*;x="open/im.test(data.toString('latin1'))) {
    (undefined as unknown as { planted(): void }).planted();
  }
}

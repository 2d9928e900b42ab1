/**
 * Message summaries (RFC 3842 `application/simple-message-summary`): the voicemail lamp —
 * whether messages are waiting, for which account, and the counts per message class
 * (`Voice-Message: 2/8 (0/2)`: new/old, then urgent new/old).
 *
 * @remarks Leaf (`content/`).
 */
import { ContentError } from './content-error.js';

export const MESSAGE_SUMMARY_CONTENT_TYPE = 'application/simple-message-summary';

export interface MessageSummary {
  waiting: boolean;
  account?: string;
  /** Per class (`voice`, `fax`, `text` …, RFC 3458): new and old, urgent new and old. */
  counts: Record<string, { new: number; old: number; urgentNew?: number; urgentOld?: number }>;
}

export function buildMessageSummary(s: MessageSummary): string {
  const lines = [`Messages-Waiting: ${s.waiting ? 'yes' : 'no'}`];
  if (s.account) lines.push(`Message-Account: ${s.account}`);
  for (const [cls, c] of Object.entries(s.counts)) {
    const name = `${cls.charAt(0).toUpperCase()}${cls.slice(1)}-Message`;
    lines.push(`${name}: ${c.new}/${c.old}${c.urgentNew !== undefined || c.urgentOld !== undefined ? ` (${c.urgentNew ?? 0}/${c.urgentOld ?? 0})` : ''}`);
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** Reads a message summary; throws {@link ContentError} without a valid `Messages-Waiting` line (RFC 3842 §5.2). */
export function parseMessageSummary(body: string | Buffer): MessageSummary {
  const text = body.toString();
  const waiting = /^\s*Messages-Waiting\s*:\s*(yes|no)\s*$/im.exec(text)?.[1];
  if (waiting === undefined) throw new ContentError('CONTENT_ERR_MWI', 'not a message summary: no "Messages-Waiting: yes|no" line');
  const account = /^\s*Message-Account\s*:\s*(\S+)\s*$/im.exec(text)?.[1];
  const counts: MessageSummary['counts'] = {};
  for (const m of text.matchAll(/^\s*([A-Za-z]+)-Message\s*:\s*(\d+)\s*\/\s*(\d+)(?:\s*\(\s*(\d+)\s*\/\s*(\d+)\s*\))?\s*$/gim)) {
    counts[m[1]!.toLowerCase()] = { new: Number(m[2]), old: Number(m[3]), ...(m[4] !== undefined ? { urgentNew: Number(m[4]), urgentOld: Number(m[5]) } : {}) };
  }
  return { waiting: waiting.toLowerCase() === 'yes', account, counts };
}

// The ladder diagram (like sngrep's call flow): one life-line per address, one arrow per message
// from its source to its destination, time going down. SVG, one row per message.

import { messageLabel, offset } from './format.js';
import type { MessageView } from './types.js';

const GUTTER = 84; // the time offsets, left of the first life-line
const COL_W = 200;
const HEAD_H = 52;
const ROW_H = 32;
const FOOT_H = 16;

export const LEG_NAMES = ['A', 'B', 'C', 'D', 'E', 'F'];

export interface Column {
  address: string;
  local: boolean;
}

/** Every address in order of first appearance (the source of the first message, the caller, is leftmost). */
export function columns(messages: MessageView[]): Column[] {
  const locals = new Set(messages.map((m) => m.local));
  const seen: string[] = [];
  for (const m of messages) for (const a of [m.src, m.dst]) if (!seen.includes(a)) seen.push(a);
  return seen.map((address) => ({ address, local: locals.has(address) }));
}

/** Index of a message's leg in `legs` (unknown Call-IDs get the next indexes). */
export function legIndex(legs: string[], callId: string): number {
  const i = legs.indexOf(callId);
  return i >= 0 ? i : legs.length;
}

export function Ladder(props: {
  messages: MessageView[];
  legs: string[];
  role: string;
  selected: number | undefined;
  onSelect: (seq: number) => void;
}) {
  const { messages, legs, role, selected, onSelect } = props;
  const cols = columns(messages);
  const x = (address: string): number => GUTTER + COL_W * cols.findIndex((c) => c.address === address) + COL_W / 2;
  const width = GUTTER + COL_W * cols.length;
  const height = HEAD_H + ROW_H * messages.length + FOOT_H;
  const t0 = messages[0]?.ts ?? 0;
  const seen = new Set<string>();

  return (
    <svg class="ladder" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label="Call flow">
      {cols.map((c) => {
        const cx = x(c.address);
        return (
          <g class={`lifeline${c.local ? ' local' : ''}`} key={c.address}>
            <rect x={cx - COL_W / 2 + 8} y={4} width={COL_W - 16} height={HEAD_H - 14} rx={4} />
            <text x={cx} y={21} text-anchor="middle" class="name">
              {c.local ? `Switchboard (${role})` : c.address}
            </text>
            {c.local && (
              <text x={cx} y={35} text-anchor="middle" class="addr">
                {c.address}
              </text>
            )}
            <line x1={cx} y1={HEAD_H - 10} x2={cx} y2={height} />
          </g>
        );
      })}
      {messages.map((m, i) => {
        const y = HEAD_H + ROW_H * i + ROW_H - 8;
        const label = messageLabel(m);
        // The same message again (same way, same start line and CSeq): a retransmission.
        const key = `${m.src}|${m.dst}|${m.callId}|${m.cseq}|${m.startLine}`;
        const retrans = seen.has(key);
        seen.add(key);
        const x1 = x(m.src);
        const x2 = x(m.dst);
        const dir = x2 >= x1 ? 1 : -1;
        const self = m.src === m.dst;
        const leg = legIndex(legs, m.callId);
        const cls = `arrow leg${leg % LEG_NAMES.length}${m.status === undefined ? ' request' : ' response'}${retrans ? ' retrans' : ''}${selected === m.seq ? ' selected' : ''}`;
        const left = self ? x1 : Math.min(x1, x2);
        const span = self ? COL_W / 2 : Math.abs(x2 - x1);
        return (
          <g key={m.seq}>
            <text x={GUTTER - 10} y={y + 4} text-anchor="end" class="offset">
              {offset(m.ts - t0)}
            </text>
            <g
              data-testid="arrow"
              data-seq={m.seq}
              data-label={label}
              data-from={m.src}
              data-to={m.dst}
              class={cls}
              tabIndex={0}
              onClick={() => onSelect(m.seq)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' || e.key === ' ') {
                  e.preventDefault();
                  onSelect(m.seq);
                }
              }}
            >
              <title>{`${m.startLine}\n${m.src} → ${m.dst} (${m.transport}, ${m.size} bytes)${retrans ? '\nretransmission' : ''}`}</title>
              <rect class="hit" x={left} y={y - ROW_H + 8} width={span} height={ROW_H} />
              {self ? (
                <path d={`M${x1} ${y - 8} h${COL_W / 3} v10 H${x1 + 6}`} fill="none" />
              ) : (
                <line x1={x1} y1={y} x2={x2 - dir * 7} y2={y} />
              )}
              <polygon
                class="head"
                points={self ? `${x1},${y + 2} ${x1 + 8},${y - 2} ${x1 + 8},${y + 6}` : `${x2},${y} ${x2 - dir * 9},${y - 4.5} ${x2 - dir * 9},${y + 4.5}`}
              />
              <text x={left + span / 2} y={y - 6} text-anchor="middle" class="label">
                {label}
              </text>
            </g>
          </g>
        );
      })}
    </svg>
  );
}

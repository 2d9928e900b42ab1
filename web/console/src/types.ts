// The admin API's JSON, as the console reads it (see the contract in src/app/admin/).

export interface Stats {
  version: string;
  /** Seconds since the server started. */
  uptime: number;
  roles: string[];
  listeners: string[];
  registrations: number;
  calls: { active: number; total: number };
  messages: { buffered: number; bytes: number };
}

export interface Registration {
  aor: string;
  contact: string;
  /** Seconds left when the server answered. */
  expires: number;
  expiresAt: string;
  q: number;
  received?: string;
  transport?: string;
  userAgent?: string;
}

export type CallState = 'trying' | 'early' | 'confirmed' | 'ended' | 'failed';

export interface CallSummary {
  callId: string;
  from: string;
  to: string;
  state: CallState;
  /** proxy, b2bua, redirect, registrar, gateway, uas. */
  role: string;
  start: string;
  answer?: string;
  end?: string;
  status?: number;
  reason?: string;
  /** Call-IDs of every leg of the call, this one included, leg A first. */
  legs: string[];
  messages: number;
}

export interface MessageView {
  seq: number;
  time: string;
  /** Milliseconds since the epoch (fractional). */
  ts: number;
  direction: 'sent' | 'received';
  transport: string;
  /** Switchboard's own address. */
  local: string;
  remote: string;
  /** Where the message came from and went to: `host:port` or `[v6]:port`. */
  src: string;
  dst: string;
  startLine: string;
  method: string;
  status?: number;
  callId: string;
  cseq: string;
  size: number;
  /** The message text (absent in the `message` events: fetch the messages route again). */
  raw?: string;
}

export interface CallMessages {
  callId: string;
  legs: string[];
  messages: MessageView[];
}

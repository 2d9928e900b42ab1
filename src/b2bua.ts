/**
 * `switchboard/b2bua`: the B2BUA role (handbook call flow 4) — two invite sessions per call and the bridge between them.
 * @packageDocumentation
 */
export * from './roles/b2bua/index.js';

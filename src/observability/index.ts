/**
 * What the operator's tools are built from: the message record, the recent-message buffer, the
 * call log, Prometheus metrics, HEP export and the structured log.
 *
 * @remarks Leaf (`observability/`): imports nothing of the SIP layers.
 */
export * from './message-record.js';
export * from './message-buffer.js';
export * from './call-log.js';
export * from './metrics.js';
export * from './logger.js';
export * from './hep.js';

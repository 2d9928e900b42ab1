/**
 * Screening of requests before any transaction: scanners, floods, password guessing.
 * @packageDocumentation
 */
export { Screen, DEFAULT_SCANNER_AGENTS, type ScreenConfig, type ScreenVerdict } from './screen.js';

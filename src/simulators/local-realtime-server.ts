/** The local Realtime server; its parts live in ./local-realtime/ (kept as an entry point for its many importers). */
export * from './local-realtime';

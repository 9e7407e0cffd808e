/**
 * A coarse intent label for the orchestrator protocol's `intent` field, from keywords of the caller's
 * words (the agent itself gets the full text; this label is for the client's routing and analytics).
 */
const RULES: ReadonlyArray<[intent: string, pattern: RegExp]> = [
  ['goodbye', /\b(bye|goodbye|that'?s all|hang up)\b/i],
  ['human_agent', /\b(human|real person|operator|representative|agent please)\b/i],
  ['complaint', /\b(complain|complaint|angry|terrible|awful|unacceptable|broken)\b/i],
  ['billing', /\b(bill|billing|invoice|charge[ds]?|refund|payment|pay)\b/i],
  ['order_status', /\b(order|delivery|shipping|shipment|track(ing)?|package)\b/i],
  ['appointment', /\b(appointment|book(ing)?|schedule|reschedule|cancel)\b/i],
  ['greeting', /^\s*(hi|hello|hey|good (morning|afternoon|evening))\b/i],
  ['question', /\?\s*$|^\s*(what|when|where|who|why|how|can|could|do|does|is|are)\b/i],
];

export function classifyIntent(text: string): string {
  for (const [intent, pattern] of RULES) if (pattern.test(text)) return intent;
  return text.trim() ? 'statement' : 'none';
}

/**
 * /api/alert-rules: the alert rules in force (src/supervision/alert-rules.ts).
 *   GET    /api/alert-rules          any token: `{ rules: [...] }`
 *   PUT    /api/alert-rules          admin: replace every rule (`[...]` or `{ rules: [...] }`)
 *   PUT    /api/alert-rules/:id      admin: add or replace one rule (its body's id must be :id)
 *   DELETE /api/alert-rules/:id      admin: remove one rule (404 when unknown)
 * A bad rule is a 400 naming the field (e.g. `rules[2].seconds`); nothing changes then.
 */
import express, { Router } from 'express';
import { ApiError } from './errors';
import { requireRole } from '../supervision/role-guard';
import type { ApiTokenEntry } from '../supervision/roles';
import { AlertRuleError, MAX_RULES, parseRule, parseRules } from '../supervision/alert-rules';
import type { AlertRuleStore } from '../supervision/alert-rule-store';

/** Largest body: 100 rules of up to 50 phrases fit well inside. */
export const MAX_ALERT_RULES_BODY_BYTES = 256 * 1024;

export interface AlertRulesRoutesDeps {
  store: AlertRuleStore;
  tokens: readonly ApiTokenEntry[];
}

function asApiError(err: unknown): unknown {
  return err instanceof AlertRuleError ? ApiError.invalid(err.field, err.message.slice(err.field.length + 2)) : err;
}

export function createAlertRulesRouter(deps: AlertRulesRoutesDeps): Router {
  const router = Router({ strict: false, caseSensitive: false });
  const json = express.json({ limit: MAX_ALERT_RULES_BODY_BYTES });
  const admin = requireRole('admin', deps.tokens);
  const { store } = deps;

  router.get('/alert-rules', (_req, res) => {
    res.json({ rules: store.all() });
  });

  router.put('/alert-rules', admin, json, async (req, res) => {
    let rules;
    try {
      rules = parseRules(req.body);
    } catch (err) {
      throw asApiError(err);
    }
    await store.replace(rules);
    res.json({ rules: store.all() });
  });

  router.put('/alert-rules/:id', admin, json, async (req, res) => {
    const id = String(req.params.id);
    let rule;
    try {
      rule = parseRule(req.body, 'rule');
    } catch (err) {
      throw asApiError(err);
    }
    if (rule.id !== id) throw ApiError.invalid('rule.id', `must be "${id}" (the id in the path)`);
    const others = store.all().filter((r) => r.id !== id);
    if (others.length >= MAX_RULES) throw ApiError.invalid('rules', `at most ${MAX_RULES} rules`);
    const existing = store.all().findIndex((r) => r.id === id);
    const next = [...store.all()];
    if (existing >= 0) next[existing] = rule;
    else next.push(rule);
    await store.replace(next);
    res.status(existing >= 0 ? 200 : 201).json(rule);
  });

  router.delete('/alert-rules/:id', admin, async (req, res) => {
    const id = String(req.params.id);
    if (!store.get(id)) throw ApiError.notFound('alert rule');
    await store.replace(store.all().filter((r) => r.id !== id));
    res.status(204).end();
  });
  return router;
}

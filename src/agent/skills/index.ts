/** The built-in skills. A new skill is one file in this folder plus one line here. */
import type { Skill } from './types';
import { endCallSkill } from './end-call';
import { transferCallSkill } from './transfer-call';
import { httpLookupSkill } from './http-lookup';
import { sendSmsSkill } from './send-sms';
import { setDispositionSkill } from './set-disposition';

export const BUILT_IN_SKILLS: readonly Skill[] = [
  endCallSkill,
  transferCallSkill,
  httpLookupSkill,
  sendSmsSkill,
  setDispositionSkill,
];

export { SkillError, defineSkill, type Skill, type SkillContext, type SkillCall } from './types';

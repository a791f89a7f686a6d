/**
 * The blocklist: a file of rules, read once at start-up, that a text is checked against.
 *
 * File format (MODERATION_BLOCKLIST), one rule a line:
 * - blank lines and lines starting with `#` are ignored; the rest is trimmed;
 * - `/pattern/flags` is a regular expression (flags among i, s, u, v, d; not g or y, a rule is
 *   tested once per text; not m, there are no lines left), matched against the normalised text
 *   (below): write it in lower case, with one space wherever the text may have any white space;
 * - any other line is a word or phrase, matched on the normalised text on word boundaries (for
 *   Han, Kana, Hangul and the other scripts written without spaces, anywhere).
 *
 * Normalised text (`foldForMatching`), so that the usual disguises do not get a word through:
 * compatibility forms folded (NFKC: full-width `ｂａｄ`, ligatures, circled and styled letters),
 * lower case, format characters removed (zero-width spaces and joiners, soft hyphens,
 * direction marks: `\p{Cf}`), marks removed after Latin, Greek and Cyrillic letters (accents and
 * stacked combining marks: `bád`, `b̷a̷d̷`; other scripts keep theirs, they spell words there),
 * runs of white space (line breaks included) made one space. A rule is normalised the same way.
 *
 * A file that cannot be read, an invalid regular expression or one with nested quantifiers
 * stops start-up with E_INVALID_ARGUMENT naming the file and line.
 */

import { readFile } from 'node:fs/promises';
import { TtsError } from '../errors.js';
import { type Phrase, PhraseMatcher } from './phrase-matcher.js';
import { nestedQuantifier, type RegexRule, RegexRules } from './regex-rules.js';

/** Marks (and format characters between them) after a letter or other character of a script whose accents are dropped. */
const FOLDED_MARKS = /([\p{sc=Latin}\p{sc=Greek}\p{sc=Cyrillic}\p{sc=Common}])[\p{M}\p{Cf}]+/gu;
const LEADING_MARKS = /^\p{M}+/u;
const FORMAT_CHARACTERS = /\p{Cf}+/gu;
const WHITE_SPACE = /\s+/gu;

/** The form texts and rules are compared in (see the file's comment); linear in the text's length. */
export function foldForMatching(text: string): string {
  return text.normalize('NFKD').toLowerCase().replace(FOLDED_MARKS, '$1').replace(FORMAT_CHARACTERS, '').replace(LEADING_MARKS, '').replace(WHITE_SPACE, ' ').normalize('NFC');
}

const ALLOWED_FLAGS = /^[isuvd]*$/u;
/** How long a text's regular-expression rules may run, all together, before the check gives up. */
export const DEFAULT_REGEX_DEADLINE_MS = 1_000;

/** The rule that matched: its line in the file, never its text (that stays out of messages and logs). */
export interface BlocklistMatch {
  line: number;
}

export class Blocklist {
  private constructor(
    readonly path: string,
    private readonly phrases: PhraseMatcher,
    private readonly regexes: RegexRules | undefined,
    readonly ruleCount: number,
  ) {}

  /** Reads and checks the file at `path`. */
  static async load(path: string, options: { regexDeadlineMs?: number } = {}): Promise<Blocklist> {
    let content: string;
    try {
      content = await readFile(path, 'utf8');
    } catch (error) {
      throw new TtsError('E_INVALID_ARGUMENT', `MODERATION_BLOCKLIST ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}).`, { cause: error });
    }
    const phrases: Phrase[] = [];
    const regexes: RegexRule[] = [];
    content.split(/\r?\n/u).forEach((raw, index) => {
      const line = index + 1;
      const rule = raw.replace(/^\uFEFF/u, '').trim();
      if (rule === '' || rule.startsWith('#')) return;
      const invalid = (why: string): TtsError => new TtsError('E_INVALID_ARGUMENT', `MODERATION_BLOCKLIST ${path} line ${line}: ${why}.`);
      if (rule.startsWith('/')) {
        regexes.push(parseRegexRule(rule, line, invalid));
        return;
      }
      const text = foldForMatching(rule).trim();
      if (text === '') throw invalid('the rule is empty once normalised');
      phrases.push({ text, line });
    });
    const regexRules = regexes.length === 0 ? undefined : new RegexRules(regexes, options.regexDeadlineMs ?? DEFAULT_REGEX_DEADLINE_MS);
    return new Blocklist(path, new PhraseMatcher(phrases), regexRules, phrases.length + regexes.length);
  }

  /** The first rule that `text` matches, or undefined; rejects with a RegexDeadlineError when the regular expressions overrun. */
  async match(text: string): Promise<BlocklistMatch | undefined> {
    if (this.ruleCount === 0) return undefined;
    const folded = foldForMatching(text);
    const phrase = this.phrases.find(folded);
    if (phrase !== undefined) return { line: phrase.line };
    const rule = await this.regexes?.firstMatch(folded);
    return rule === undefined ? undefined : { line: rule.line };
  }

  async close(): Promise<void> {
    await this.regexes?.close();
  }
}

function parseRegexRule(rule: string, line: number, invalid: (why: string) => TtsError): RegexRule {
  const end = rule.lastIndexOf('/');
  if (end === 0) throw invalid('a rule starting with / is a regular expression and needs a closing /, as in /pattern/i');
  const source = rule.slice(1, end);
  const flags = rule.slice(end + 1);
  if (source === '') throw invalid('the regular expression is empty');
  if (!ALLOWED_FLAGS.test(flags)) throw invalid(`expected flags among i, s, u, v, d (not g or y: a rule is tested once; not m: line breaks are spaces once normalised), got "${flags}"`);
  let regex: RegExp;
  try {
    regex = new RegExp(source, flags);
  } catch (error) {
    // V8 repeats the pattern in its message ("Invalid regular expression: /…/: reason"); keep the reason only.
    const reason = (error as Error).message.split(': ').at(-1);
    throw invalid(`invalid regular expression (${reason})`);
  }
  if (nestedQuantifier(source, flags)) throw invalid('the regular expression repeats a group that itself repeats, as (a+)+ does; its matching time can explode, write it without the nesting');
  if (regex.test('')) throw invalid('the regular expression matches an empty text, so it would refuse every text');
  return { source, flags, line };
}

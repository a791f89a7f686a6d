/**
 * Finds any of many phrases in a text in one pass (Aho–Corasick over UTF-16 code units): the
 * cost is the text's length plus the matches, whatever the number of phrases, where one regular
 * expression per phrase (or one alternation of thousands) would try every phrase at every
 * position. Phrases and text must be normalised the same way (see `foldForMatching`).
 *
 * A phrase that starts or ends with a letter or digit of a script written with spaces between
 * words matches only on a word boundary at that end; scripts written without spaces (Han, Kana,
 * Hangul, Thai, Lao, Khmer, Myanmar) have no word boundaries to look for, so a phrase edge in
 * one of them matches inside a run of text, and such a character next to a Latin word counts as
 * a boundary ("这个bad东西" holds the word "bad").
 */

export interface Phrase {
  /** The normalised phrase. */
  text: string;
  /** Line of the blocklist file it came from. */
  line: number;
}

const WORD_CHARACTER = /^[\p{L}\p{N}\p{M}\p{Pc}]$/u;
const UNSPACED_SCRIPT = /^[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}\p{scx=Thai}\p{scx=Lao}\p{scx=Khmer}\p{scx=Myanmar}]$/u;

/** A letter, digit or mark of a script that separates its words with spaces. */
function isSpacedWordCharacter(character: string): boolean {
  return character !== '' && WORD_CHARACTER.test(character) && !UNSPACED_SCRIPT.test(character);
}

function characterBefore(text: string, index: number): string {
  if (index <= 0) return '';
  const unit = text.charCodeAt(index - 1);
  return unit >= 0xdc00 && unit <= 0xdfff && index >= 2 ? text.slice(index - 2, index) : text.charAt(index - 1);
}

function characterAfter(text: string, index: number): string {
  const point = text.codePointAt(index);
  return point === undefined ? '' : String.fromCodePoint(point);
}

interface Entry extends Phrase {
  boundaryBefore: boolean;
  boundaryAfter: boolean;
}

export class PhraseMatcher {
  private readonly entries: Entry[];
  /** Trie edges per state, by code unit. */
  private readonly edges: Array<Map<number, number>> = [new Map()];
  /** Longest proper suffix of a state that is also a state. */
  private readonly fallback: number[] = [0];
  /** The entries that end at a state. */
  private readonly ends: number[][] = [[]];
  /** The nearest state along the fallbacks that ends an entry (0: none). */
  private readonly nextEnd: number[] = [0];

  constructor(phrases: readonly Phrase[]) {
    this.entries = phrases.map((phrase) => ({
      ...phrase,
      boundaryBefore: isSpacedWordCharacter(characterAfter(phrase.text, 0)),
      boundaryAfter: isSpacedWordCharacter(characterBefore(phrase.text, phrase.text.length)),
    }));
    for (const [index, entry] of this.entries.entries()) this.insert(entry.text, index);
    this.link();
  }

  get size(): number {
    return this.entries.length;
  }

  /** The first phrase (by where it ends in the text) found on its boundaries, or undefined. */
  find(text: string): Phrase | undefined {
    let state = 0;
    for (let i = 0; i < text.length; i++) {
      const unit = text.charCodeAt(i);
      let next = this.edges[state]!.get(unit);
      while (next === undefined && state !== 0) {
        state = this.fallback[state]!;
        next = this.edges[state]!.get(unit);
      }
      state = next ?? 0;
      for (let at = this.ends[state]!.length > 0 ? state : this.nextEnd[state]!; at !== 0; at = this.nextEnd[at]!) {
        for (const index of this.ends[at]!) {
          const entry = this.entries[index]!;
          if (this.onBoundaries(text, i + 1 - entry.text.length, i + 1, entry)) return { text: entry.text, line: entry.line };
        }
      }
    }
    return undefined;
  }

  private onBoundaries(text: string, start: number, end: number, entry: Entry): boolean {
    if (entry.boundaryBefore && isSpacedWordCharacter(characterBefore(text, start))) return false;
    if (entry.boundaryAfter && isSpacedWordCharacter(characterAfter(text, end))) return false;
    return true;
  }

  private insert(phrase: string, index: number): void {
    let state = 0;
    for (let i = 0; i < phrase.length; i++) {
      const unit = phrase.charCodeAt(i);
      let next = this.edges[state]!.get(unit);
      if (next === undefined) {
        next = this.edges.length;
        this.edges.push(new Map());
        this.fallback.push(0);
        this.ends.push([]);
        this.nextEnd.push(0);
        this.edges[state]!.set(unit, next);
      }
      state = next;
    }
    this.ends[state]!.push(index);
  }

  /** Breadth first: each state's fallback is found from its parent's. */
  private link(): void {
    const queue: number[] = [...this.edges[0]!.values()];
    for (let head = 0; head < queue.length; head++) {
      const state = queue[head]!;
      for (const [unit, child] of this.edges[state]!) {
        let fallback = this.fallback[state]!;
        let target = this.edges[fallback]!.get(unit);
        while (target === undefined && fallback !== 0) {
          fallback = this.fallback[fallback]!;
          target = this.edges[fallback]!.get(unit);
        }
        const childFallback = target ?? 0;
        this.fallback[child] = childFallback;
        this.nextEnd[child] = this.ends[childFallback]!.length > 0 ? childFallback : this.nextEnd[childFallback]!;
        queue.push(child);
      }
    }
  }
}

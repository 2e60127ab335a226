// The syntax tree of a udev rules file, as produced by parseRules() in ./parser.ts.
// Only syntax is checked here; whether a key exists, takes an attribute or an operator, and
// whether GOTO targets exist is for the compiler.

/** The six udev operators. */
export type RuleOperator = '==' | '!=' | '=' | '+=' | '-=' | ':=';

/**
 * How the value was written: "..." (plain), e"..." (C escapes), i"..." (case-insensitive
 * match, systemd >= 257), ei"..." / ie"..." (both; reported as 'ei').
 */
export type ValueKind = 'plain' | 'e' | 'i' | 'ei';

/** A position in the file: physical line and column, both 1-based (columns count UTF-16 units). */
export interface SourcePosition {
  line: number;
  column: number;
}

/** One KEY[{ATTR}] OP VALUE pair of a rule. */
export interface RuleToken {
  key: string;
  /** The text between { and } (possibly empty), or undefined when there are no braces. */
  attr: string | undefined;
  op: RuleOperator;
  /** The value with udev's unescaping applied (\" in plain values, C escapes in e"..."). */
  value: string;
  /**
   * Only for e"..." values whose escapes produce bytes that are not valid UTF-8 (e.g. "\xff"):
   * the exact bytes udev would use; `value` then holds them decoded with U+FFFD replacements.
   */
  valueBytes?: Uint8Array;
  valueKind: ValueKind;
  /** True for i"..." and ei"..." values. */
  caseInsensitive: boolean;
  /** Where the key starts. */
  keyLoc: SourcePosition;
  /** Where the attribute text starts (after '{'), when there is one. */
  attrLoc?: SourcePosition;
  /** Where the operator starts. */
  opLoc: SourcePosition;
  /** Where the value starts (its prefix, or the opening quote). */
  valueLoc: SourcePosition;
  /** The token as written (on the joined logical line), e.g. `ATTR{size}=="0"`, for logging. */
  text: string;
}

/** One rule: a logical line (physical lines joined by backslash continuations). */
export interface RuleAst {
  file: string;
  /** First physical line of the rule (where its first character is). */
  line: number;
  column: number;
  /** Last physical line of the rule; udev reports its messages with this line number. */
  endLine: number;
  /** The logical line as udev sees it (leading blanks of each physical line and the continuation backslashes removed). */
  text: string;
  tokens: RuleToken[];
}

/** What went wrong, for callers that want to tell the cases apart. */
export type RuleSyntaxErrorKind =
  /** The logical line is not a list of KEY[{ATTR}] OP "VALUE" pairs. */
  | 'syntax'
  /** The line is longer than udev reads (16383 bytes per physical line, 16 KiB joined). */
  | 'line-too-long'
  /** The file ends right after a continuation backslash. */
  | 'eof-in-continuation';

/** A syntax error; the line it is on (the whole logical line) has been skipped, as udev does. */
export class RuleSyntaxError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    /** What was expected (and what was found instead). */
    readonly message: string,
    readonly kind: RuleSyntaxErrorKind = 'syntax',
  ) {}

  toString(): string {
    return `${this.file}:${this.line}:${this.column}: ${this.message}`;
  }
}

/** A parsed rules file. */
export interface RulesFileAst {
  file: string;
  rules: RuleAst[];
  errors: RuleSyntaxError[];
}

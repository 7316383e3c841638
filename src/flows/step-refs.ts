/**
 * Which steps a JMESPath expression reads. Dependencies are inferred from these names, so any
 * way of reading `steps` that hides the name (`keys(steps)`, `steps.*`, `$`) is refused: the
 * engine could not know what to wait for.
 */
import { isRegistered, type compile } from '@jmespath-community/jmespath';

export type Ast = ReturnType<typeof compile>;

/** Thrown for an expression that compiles but cannot be used in a flow; the caller adds where. */
export class StepRefError extends Error {}

/** What a node's input is: the flow context, the `steps` object itself, or anything else. */
type Input = 'root' | 'steps' | 'other';

/** The loose view of a node the walk needs; the library's union does not narrow on `type`. */
interface AstNode {
  type: string;
  name?: string;
  left?: AstNode;
  right?: AstNode;
  child?: AstNode;
  operand?: AstNode;
  condition?: AstNode;
  trueExpr?: AstNode;
  falseExpr?: AstNode;
  expression?: AstNode;
  reference?: AstNode;
  value?: unknown;
  children?: AstNode[];
  bindings?: AstNode[];
}

const READ_BY_NAME = 'read steps by name: steps.<name>';
/** Bare words JMESPath reads as field names, a classic slip in `when: true`. */
const LOOKS_LIKE_LITERAL = new Set(['true', 'false', 'null']);

/** The step names `ast` reads as `steps.<name>`; throws StepRefError for any other use of steps. */
export function stepRefs(ast: Ast): Set<string> {
  const refs = new Set<string>();
  visit(ast as AstNode, 'root', refs);
  return refs;
}

/** Throws StepRefError for a call of a function JMESPath does not have (compile alone lets it through). */
export function assertKnownFunctions(ast: Ast): void {
  const check = (node: AstNode): void => {
    if (node.type === 'Function' && !isRegistered(node.name ?? '')) throw new StepRefError(`unknown function ${node.name}()`);
    for (const child of operands(node)) check(child);
  };
  check(ast as AstNode);
}

function visit(node: AstNode, input: Input, refs: Set<string>): void {
  switch (node.type) {
    case 'Field':
      if (input === 'steps') refs.add(node.name ?? '');
      else if (input === 'root' && node.name === 'steps') throw new StepRefError(READ_BY_NAME);
      else if (input === 'root' && LOOKS_LIKE_LITERAL.has(node.name ?? '')) {
        throw new StepRefError(`${node.name} here is a field name; write the literal in backticks: \`${node.name}\``);
      }
      return;
    case 'Root':
      throw new StepRefError(`$ alone reads the whole context, steps included; ${READ_BY_NAME}`);
    case 'Current':
    case 'Identity':
      if (input !== 'other') throw new StepRefError(`@ alone reads the whole context, steps included; ${READ_BY_NAME}`);
      return;
    case 'Subexpression': {
      // `steps.x`, `$.steps.x`, `@.request`: the left side only chooses what the right side reads.
      const leftGives = resultOf(node.left!, input);
      if (leftGives === 'other') visit(node.left!, input, refs);
      visit(node.right!, leftGives, refs);
      return;
    }
    case 'IndexExpression':
    case 'Pipe':
    case 'Projection':
    case 'ValueProjection':
    case 'FilterProjection':
      // The right side (and a filter's condition) sees elements of the left side's result.
      visit(node.left!, input, refs);
      visit(node.right!, 'other', refs);
      if (node.condition) visit(node.condition, 'other', refs);
      return;
    case 'ExpressionReference':
      visit(node.child!, 'other', refs);
      return;
    case 'Function':
      if (!isRegistered(node.name ?? '')) throw new StepRefError(`unknown function ${node.name}()`);
      for (const child of node.children ?? []) visit(child, input, refs);
      return;
    case 'Literal':
    case 'Index':
    case 'Slice':
    case 'Variable':
      return;
    default:
      // Operators, multi-selects, let, ternary: every operand sees the same input.
      for (const child of operands(node)) visit(child, input, refs);
  }
}

/** What `node` evaluates to when it is a plain chain of `$`, `@` and `steps`; otherwise 'other'. */
function resultOf(node: AstNode, input: Input): Input {
  switch (node.type) {
    case 'Root':
      return 'root';
    case 'Current':
    case 'Identity':
      return input;
    case 'Field':
      return input === 'root' && node.name === 'steps' ? 'steps' : 'other';
    case 'Subexpression':
      return resultOf(node.right!, resultOf(node.left!, input));
    default:
      return 'other';
  }
}

function operands(node: AstNode): AstNode[] {
  const out: AstNode[] = [];
  for (const key of ['left', 'right', 'child', 'operand', 'condition', 'trueExpr', 'falseExpr', 'expression', 'reference'] as const) {
    const child = node[key];
    if (child) out.push(child);
  }
  if (node.type === 'KeyValuePair' && isNode(node.value)) out.push(node.value);
  out.push(...(node.children ?? []), ...(node.bindings ?? []));
  return out;
}

function isNode(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

// Workflow code runs in Temporal's sandbox and must replay the same: it may not reach Node, the
// disk or the network. The rule this project keeps (eslint.config.js states it too, but cannot see
// import()): workflows/*.ts import code only from workflows/, lib/workflowSafe/ and Temporal's
// workflow packages, and lib/workflowSafe/ only from itself (plus JSON data). Anything else, Node
// built-ins included, only as a type.
import { readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../lib/paths.js';

const WORKFLOWS = 'workflows';
const SAFE = 'lib/workflowSafe';
/** Packages whose code workflows may run (the bundle provides them deterministically). */
const WORKFLOW_PACKAGES = ['@temporalio/workflow', '@temporalio/common'];

interface Import {
  specifier: string;
  typeOnly: boolean;
  line: number;
}

/** Every import and re-export of a module, and whether it disappears at compile time. */
function importsOf(fileName: string, source: string): Import[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const out: Import[] = [];
  const add = (spec: ts.Expression, typeOnly: boolean) => {
    if (ts.isStringLiteral(spec))
      out.push({ specifier: spec.text, typeOnly, line: sf.getLineAndCharacterOfPosition(spec.getStart()).line + 1 });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const c = node.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
      // `import { type A }` is erased too, but only when nothing else is imported with it.
      add(
        node.moduleSpecifier,
        !!c && (c.isTypeOnly || (!c.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly))),
      );
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      const named = node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause.elements : undefined;
      add(node.moduleSpecifier, node.isTypeOnly || (!!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0]) {
      add(node.arguments[0], false);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** Why an import breaks the rule, or null. `file` is relative to the project root. */
function violationOf(file: string, imp: Import): string | null {
  const where = `${file}:${imp.line} imports '${imp.specifier}'`;
  if (isBuiltin(imp.specifier)) return `${where}: a Node built-in`;
  if (imp.typeOnly) return null;
  const inSafe = file.startsWith(`${SAFE}/`);
  if (!imp.specifier.startsWith('.')) {
    return !inSafe && WORKFLOW_PACKAGES.includes(imp.specifier)
      ? null
      : `${where}: a package workflow code may not run`;
  }
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), imp.specifier));
  if (target.startsWith(`${SAFE}/`)) return null;
  if (inSafe && target.endsWith('.json')) return null; // data, not code
  if (!inSafe && target.startsWith(`${WORKFLOWS}/`)) return null;
  return `${where}: outside ${SAFE}/ (import it as a type, or make it pure and move it there)`;
}

function tsFiles(dir: string): string[] {
  return (readdirSync(path.join(projectRoot, dir), { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `${dir}/${f.split(path.sep).join('/')}`);
}

function violationsIn(file: string): string[] {
  return importsOf(file, readFileSync(path.join(projectRoot, file), 'utf8'))
    .map((imp) => violationOf(file, imp))
    .filter((v): v is string => v !== null);
}

describe('what workflow code imports', () => {
  it('workflows/ take code only from workflows/, lib/workflowSafe/ and Temporal', () => {
    const files = tsFiles(WORKFLOWS).filter((f) => !f.slice(WORKFLOWS.length + 1).includes('/'));
    expect(files).toContain('workflows/searchWorkflow.ts');
    expect(files.flatMap(violationsIn)).toEqual([]);
  });

  it('lib/workflowSafe/ takes code only from itself', () => {
    const files = tsFiles(SAFE);
    expect(files).toContain(`${SAFE}/searchState.ts`);
    expect(files.flatMap(violationsIn)).toEqual([]);
  });

  it('tells the imports that break the rule from those that do not', () => {
    const source = [
      "import { readFileSync } from 'node:fs';",
      "import type { Stats } from 'fs';",
      "import { loadDesignSpace } from '../lib/designSpace.js';",
      "import type { Scenario } from '../lib/scenario.js';",
      "import { type PlanInput } from '../lib/architect/types.js';",
      "import { type A, b } from '../lib/mixed.js';",
      "export { emptyMemory } from '../lib/architect/memory.js';",
      "export type { CandidateResult } from '../lib/searchTypes.js';",
      "import { FAILURE_USAGE } from '../lib/workflowSafe/failures.js';",
      "import { proxyActivities } from '@temporalio/workflow';",
      "import YAML from 'yaml';",
      "import { candidateReportSignal } from './messages.js';",
      "const lazy = () => import('../activities/plan.js');",
    ].join('\n');
    const found = importsOf('workflows/x.ts', source).map((imp) => [
      imp.specifier,
      violationOf('workflows/x.ts', imp) !== null,
    ]);
    expect(found).toEqual([
      ['node:fs', true],
      ['fs', true],
      ['../lib/designSpace.js', true],
      ['../lib/scenario.js', false],
      ['../lib/architect/types.js', false],
      ['../lib/mixed.js', true],
      ['../lib/architect/memory.js', true],
      ['../lib/searchTypes.js', false],
      ['../lib/workflowSafe/failures.js', false],
      ['@temporalio/workflow', false],
      ['yaml', true],
      ['./messages.js', false],
      ['../activities/plan.js', true],
    ]);
    // lib/workflowSafe/ may not reach back into workflows/, but may read JSON data
    expect(
      violationOf(`${SAFE}/x.ts`, { specifier: '../../workflows/messages.js', typeOnly: false, line: 1 }),
    ).not.toBeNull();
    expect(
      violationOf(`${SAFE}/x.ts`, {
        specifier: '../../python-runtime/vibeserve_runtime/design_space.json',
        typeOnly: false,
        line: 1,
      }),
    ).toBeNull();
    expect(violationOf(`${SAFE}/x.ts`, { specifier: '@temporalio/workflow', typeOnly: false, line: 1 })).not.toBeNull();
  });
});

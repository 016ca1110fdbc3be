// Prints the README's configuration table from the config schema: `npx tsx scripts/config-table.ts`.
import { configSchema } from '../src/config.js';

const rows = Object.entries(configSchema.shape).map(([key, schema]) => {
  const parsed = (
    schema as { safeParse: (v: unknown) => { success: boolean; data?: unknown } }
  ).safeParse(undefined);
  const value = parsed.success ? parsed.data : undefined;
  const shown =
    value === undefined
      ? '—'
      : Array.isArray(value)
        ? value.length === 0
          ? '(none)'
          : JSON.stringify(value)
        : value === null
          ? 'off'
          : typeof value === 'object'
            ? Object.keys(value).length === 0
              ? '(queue defaults)'
              : JSON.stringify(value)
            : value === ''
              ? '(empty)'
              : String(value);
  return `| \`${key}\` | \`${shown}\` | ${(schema as { description?: string }).description ?? ''} |`;
});
process.stdout.write(
  ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n') + '\n',
);

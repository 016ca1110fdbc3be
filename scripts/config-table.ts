// Prints the README's configuration table from the config schema and the job definitions'
// schedules: `npx tsx scripts/config-table.ts`.
import { configSchema } from '../src/config.js';
import { scheduleVariableDocs } from '../jobs/job-schedules.js';
import { JOB_DEFINITIONS } from '../jobs/registry.js';

const rows = Object.entries(configSchema.shape).map(([key, schema]) => {
  const parsed = (
    schema as { safeParse: (v: unknown) => { success: boolean; data?: unknown } }
  ).safeParse(undefined);
  const value = parsed.success ? parsed.data : undefined;
  return `| \`${key}\` | \`${shown(value)}\` | ${(schema as { description?: string }).description ?? ''} |`;
});
// SCHEDULE_<KEY> variables are declared by the scheduled job definitions, not the schema.
for (const s of scheduleVariableDocs(JOB_DEFINITIONS)) {
  rows.push(`| \`${s.variable}\` | \`${s.default}\` | ${s.description} |`);
}

/** How a default reads in the table. */
function shown(value: unknown): string {
  if (value === undefined) return '—';
  if (value === null) return 'off';
  if (value === '') return '(empty)';
  if (value instanceof Date) return value.toISOString().replace('.000Z', 'Z');
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : JSON.stringify(value);
  if (typeof value === 'object')
    return Object.keys(value).length === 0 ? '(queue defaults)' : JSON.stringify(value);
  return typeof value === 'string' ? value : JSON.stringify(value);
}
process.stdout.write(
  ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n') + '\n',
);

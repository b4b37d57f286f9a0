// tests/tour/tour.mjs TOUR.md — runs the curl tour as written and checks what it says.
//
// Every ```sh block of the tour after the first (which starts the system, done by the caller)
// runs in order in one bash session, so variables and functions carry over from block to block.
// A whole-line comment in a block ("# …") is an expected answer, and is checked against what
// that block printed:
//   - an HTTP status line ("HTTP/1.1 202 Accepted") must appear as "HTTP/1.1 202";
//   - a header ("Idempotent-Replayed: true") must appear, case-insensitively;
//   - every "key":value pair with a literal value (a string without "…" that is no "<placeholder>",
//     a number, true, false, null) must appear as written;
//   - a Prometheus sample ('name{label="v"} 1') must appear as written;
//   - a comment that is one bare word ("confirmed") must be a line of the output.
// Anything else in a comment is prose for the reader. REWRITE pairs ("from=>to" in the
// environment variable TOUR_REWRITE, separated by newlines) adapt the text to the test's own
// addresses and directories before it runs. Exit 0 when every block ran and every check held.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const [, , file] = process.argv;
if (!file) {
  console.error('usage: node tests/tour/tour.mjs TOUR.md');
  process.exit(2);
}
let text = readFileSync(file, 'utf8');
for (const pair of (process.env.TOUR_REWRITE || '').split('\n').filter(Boolean)) {
  const [from, to] = pair.split('=>');
  text = text.split(from).join(to);
}

const blocks = [];
const fence = /^```sh\n([\s\S]*?)^```$/gm;
for (let m; (m = fence.exec(text)); ) {
  const line = text.slice(0, m.index).split('\n').length;
  blocks.push({ line, code: m[1] });
}
if (blocks.length < 2) {
  console.error(`tour: ${file} has no blocks to run`);
  process.exit(1);
}
const run = blocks.slice(1); // the first starts the system

const checksOf = (code) => {
  const checks = [];
  for (const raw of code.split('\n')) {
    const m = /^\s*#\s?(.*)$/.exec(raw);
    if (!m) continue;
    const c = m[1].trim();
    let s;
    if ((s = /^HTTP\/1\.1 (\d{3})\b/.exec(c))) {
      checks.push({ what: `status ${s[1]}`, ok: (out) => out.includes(`HTTP/1.1 ${s[1]}`) });
      continue;
    }
    if ((s = /^([A-Z][A-Za-z-]+): (\S+)$/.exec(c)) && !c.includes('…')) {
      const h = `${s[1]}: ${s[2]}`.toLowerCase();
      checks.push({ what: h, ok: (out) => out.toLowerCase().includes(h) });
      continue;
    }
    if ((s = /^([a-z_]+\{[^}]*\} \S+)$/.exec(c))) {
      const sample = s[1];
      checks.push({ what: sample, ok: (out) => out.split('\n').includes(sample) });
      continue;
    }
    if (/^[a-z_]+$/.test(c)) {
      // What a command printed last on a line (curl ends a body without a newline, so the next
      // command's word follows it on the same line).
      const end = new RegExp(`(^|[^a-z_])${c}$`);
      checks.push({ what: `line "${c}"`, ok: (out) => out.split('\n').some((l) => end.test(l.trim())) });
      continue;
    }
    const pair = /"([A-Za-z_]+)":("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)/g;
    for (let p; (p = pair.exec(c)); ) {
      if (p[2].includes('…') || /^"<.*>"$/.test(p[2])) continue; // abbreviated, or a placeholder
      const want = `"${p[1]}":${p[2]}`;
      checks.push({ what: want, ok: (out) => out.includes(want) });
    }
  }
  return checks;
};

// One bash runs every block; a marker line after each tells where its output ends.
const MARK = `@@tour-block-${process.pid}@@`;
// (curl prints no newline after a body: the marker starts a line of its own.)
const script = 'exec 2>&1\n' + run.map((b, i) => `${b.code}\nprintf '\\n%s\\n' "${MARK} ${i}"\n`).join('');
const res = spawnSync('bash', ['-c', script], {
  encoding: 'utf8',
  maxBuffer: 64 * 1024 * 1024,
  timeout: Number(process.env.TOUR_TIMEOUT_MS || 600000),
  env: process.env,
});
const outputs = [];
let cur = [];
for (const l of (res.stdout || '').split('\n')) {
  if (l.startsWith(MARK)) {
    outputs.push(cur.join('\n'));
    cur = [];
  } else cur.push(l);
}

let failed = 0,
  checked = 0;
run.forEach((b, i) => {
  const out = outputs[i];
  if (out === undefined) {
    console.log(`FAIL block at ${file}:${b.line}: did not finish`);
    failed++;
    return;
  }
  const bad = checksOf(b.code).filter((c) => {
    checked++;
    return !c.ok(out);
  });
  if (bad.length) {
    failed++;
    console.log(`FAIL block at ${file}:${b.line}: ${bad.map((c) => c.what).join(', ')}`);
    console.log(out.split('\n').map((l) => `    | ${l}`).join('\n'));
  } else console.log(`ok   block at ${file}:${b.line}`);
});
if (res.error) console.log(`tour: bash: ${res.error.message}`);
if (res.stderr) console.log(`---- stderr ----\n${res.stderr.trim()}`);
console.log(`tour: ${run.length - failed} blocks passed, ${failed} failed (${checked} checks)`);
process.exit(failed === 0 && !res.error ? 0 : 1);

// Line diff of two texts (longest common subsequence), with unchanged runs
// folded to a few lines of context. Rule sets are small, so O(n·m) is fine.
export function diffLines(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  const n = x.length, m = y.length;
  const L = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
    }
  }
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push({ op: ' ', text: x[i] }); i++; j++; }
    else if (L[i + 1][j] >= L[i][j + 1]) { out.push({ op: '-', text: x[i++] }); }
    else { out.push({ op: '+', text: y[j++] }); }
  }
  while (i < n) out.push({ op: '-', text: x[i++] });
  while (j < m) out.push({ op: '+', text: y[j++] });
  return out;
}

// fold keeps `context` unchanged lines around each change.
export function fold(lines, context = 3) {
  const keep = new Array(lines.length).fill(false);
  lines.forEach((l, k) => {
    if (l.op === ' ') return;
    for (let d = -context; d <= context; d++) if (lines[k + d]) keep[k + d] = true;
  });
  const out = [];
  let skipped = 0;
  lines.forEach((l, k) => {
    if (keep[k]) {
      if (skipped) out.push({ op: '…', text: `${skipped} unchanged line${skipped > 1 ? 's' : ''}` });
      skipped = 0;
      out.push(l);
    } else skipped++;
  });
  if (skipped) out.push({ op: '…', text: `${skipped} unchanged line${skipped > 1 ? 's' : ''}` });
  return out;
}

// toYAML renders a rule set the way authors write it, for reading diffs.
export function toYAML(v, indent = '') {
  if (Array.isArray(v)) {
    if (!v.length) return '[]';
    if (v.every((x) => typeof x !== 'object' || x === null)) return `[${v.map(scalar).join(', ')}]`;
    return v.map((item) => {
      const body = toYAML(item, indent + '  ');
      return `\n${indent}- ${body.replace(/^\n\s*/, '')}`;
    }).join('');
  }
  if (v && typeof v === 'object') {
    const keys = Object.keys(v);
    if (!keys.length) return '{}';
    return keys.map((k) => {
      const val = v[k];
      const body = toYAML(val, indent + '  ');
      const nested = val && typeof val === 'object' && !body.startsWith('[') && body !== '{}';
      return `\n${indent}${k}:${nested ? '' : ' '}${body}`;
    }).join('');
  }
  return scalar(v);
}

function scalar(v) {
  if (typeof v === 'string') return /^[\w./:@-]+$/.test(v) && !/^(true|false|null|\d.*)$/.test(v) ? v : JSON.stringify(v);
  return String(v);
}

/** "Did you mean …?" for misspelt property and service names. */

/** The candidate closest to `word` when it is plausibly a typo of it (edit distance ≤ 2), else null. */
export function closestName(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  // Short words get a smaller budget, or "id" would suggest every two-letter name.
  let bestDistance = Math.min(2, Math.floor(word.length / 2)) + 1;
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const distance = candidate.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

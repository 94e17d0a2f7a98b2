//! Python difflib's similarity ratio, which the reference's `--country` uses for close
//! spellings (`difflib.get_close_matches`).

/// Python difflib's `SequenceMatcher(None, a, b).ratio()` (Ratcliff/Obershelp), on chars.
pub fn similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    fn matches(a: &[char], b: &[char]) -> usize {
        // Longest common substring, leftmost in a then b (difflib's find_longest_match
        // without junk heuristics; names are short, so autojunk never triggers).
        let (mut best, mut bi, mut bj) = (0usize, 0usize, 0usize);
        let mut prev = vec![0usize; b.len() + 1];
        for (i, ca) in a.iter().enumerate() {
            let mut cur = vec![0usize; b.len() + 1];
            for (j, cb) in b.iter().enumerate() {
                if ca == cb {
                    cur[j + 1] = prev[j] + 1;
                    if cur[j + 1] > best {
                        best = cur[j + 1];
                        bi = i + 1 - best;
                        bj = j + 1 - best;
                    }
                }
            }
            prev = cur;
        }
        if best == 0 {
            return 0;
        }
        best + matches(&a[..bi], &b[..bj]) + matches(&a[bi + best..], &b[bj + best..])
    }
    2.0 * matches(&a, &b) as f64 / (a.len() + b.len()) as f64
}

/// `difflib.get_close_matches(word, possibilities, n, cutoff)`: the possibilities scoring at
/// least `cutoff`, best first (equal scores: the greater string first, as Python's
/// `heapq.nlargest` over `(score, x)` orders them), at most `n`, with their scores.
pub fn close_matches<'a>(
    word: &str,
    possibilities: impl IntoIterator<Item = &'a str>,
    n: usize,
    cutoff: f64,
) -> Vec<(f64, &'a str)> {
    let mut scored: Vec<(f64, &str)> = possibilities
        .into_iter()
        // difflib scores SequenceMatcher(a=possibility, b=word).
        .map(|x| (similarity(x, word), x))
        .filter(|(s, _)| *s >= cutoff)
        .collect();
    scored.sort_by(|l, r| r.0.total_cmp(&l.0).then_with(|| r.1.cmp(l.1)));
    scored.truncate(n);
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difflib_ratio() {
        // Values from Python: difflib.SequenceMatcher(None, a, b).ratio()
        assert!((similarity("germny", "germany") - 0.923_076_923_076_923).abs() < 1e-12);
        assert!((similarity("abcd", "bcde") - 0.75).abs() < 1e-12);
        assert_eq!(similarity("", ""), 1.0);
        assert_eq!(similarity("abc", "xyz"), 0.0);
    }

    #[test]
    fn close_matches_like_python() {
        // difflib.get_close_matches("appel", ["ape", "apple", "peach", "puppy"])
        // == ['apple', 'ape']
        let m = close_matches("appel", ["ape", "apple", "peach", "puppy"], 3, 0.6);
        let names: Vec<&str> = m.iter().map(|(_, x)| *x).collect();
        assert_eq!(names, ["apple", "ape"]);
        // Ties: the greater string first.
        let m = close_matches("ab", ["ac", "ad"], 1, 0.5);
        assert_eq!(m[0].1, "ad");
        assert!(close_matches("zzz", ["apple"], 3, 0.6).is_empty());
    }
}

//! Text: positions for errors that name a line, and the globs of rules and deployments.

/// 1-based line number of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Line of the first `key =` at or after byte `from` (a TOML key inside the table
/// that starts there), if there is one before the next table header.
pub(crate) fn key_after(text: &str, from: usize, key: &str) -> Option<usize> {
    let from = from.min(text.len());
    let start = text[..from].rfind('\n').map_or(0, |i| i + 1);
    let mut offset = start;
    for line in text[start..].split_inclusive('\n') {
        let trimmed = line.trim_start();
        if offset > start && trimmed.starts_with('[') {
            return None;
        }
        if let Some(rest) = trimmed.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return Some(line_of(text, offset));
            }
        }
        offset += line.len();
    }
    None
}

/// `*` matches any run of characters, `?` one character; everything else literally.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative matcher with one backtrack point for the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_found_inside_its_table_only() {
        let text = "[a]\nname = \"x\"\nwindow = \"1h\"\n[b]\nalpha = 1\n";
        let at = text.find("\"x\"").unwrap();
        assert_eq!(key_after(text, at, "window"), Some(3));
        assert_eq!(key_after(text, at, "name"), Some(2));
        assert_eq!(key_after(text, at, "alpha"), None, "alpha is in [b]");
        assert_eq!(key_after(text, at, "win"), None, "a prefix is not the key");
    }

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }
}

//! The one `key=value` dialect of every command (Ultralytics style, `threads=2 imgsz=640`):
//! splitting, known keys with a did-you-mean for misspelt ones, and the value spellings
//! (Python-style booleans, `None`, whole numbers).

use anyhow::{bail, Result};

/// Splits every argument at its first `=` into a trimmed `(key, value)` pair, in order, and
/// refuses keys not in `keys` with the closest one as a suggestion (`imgz` → `imgsz`).
/// `refused` names keys known elsewhere (Ultralytics) that this command does not take: they are
/// refused as such rather than as unknown.
pub fn parse<'a, S: AsRef<str>>(
    args: &'a [S],
    keys: &[&str],
    refused: &[&str],
) -> Result<Vec<(&'a str, &'a str)>> {
    let mut pairs = Vec::with_capacity(args.len());
    for raw in args {
        let raw = raw.as_ref();
        let Some((key, value)) = raw.split_once('=') else {
            bail!(
                "unknown argument '{raw}'; arguments are key=value (valid keys: {})",
                keys.join(", ")
            );
        };
        let (key, value) = (key.trim(), value.trim());
        if refused.contains(&key) {
            bail!(
                "{key}={value} is not supported yet: onnxide does not take '{key}' here (valid keys: {})",
                keys.join(", ")
            );
        }
        if !keys.contains(&key) {
            match closest(key, keys) {
                Some(known) => bail!("unknown argument '{key}'; did you mean '{known}'?"),
                None => bail!("unknown argument '{key}'; valid keys: {}", keys.join(", ")),
            }
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// The message of a value that does not fit its key.
pub fn invalid(key: &str, value: &str, reason: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("invalid argument {key}={value}: {reason}")
}

/// `True`/`False` in any case, as Python and Ultralytics spell them.
pub fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, value, "expected True or False")),
    }
}

/// `None`, `null` or nothing: the key's default.
pub fn is_none(value: &str) -> bool {
    matches!(value.to_ascii_lowercase().as_str(), "none" | "null" | "")
}

/// A whole number (negative ones included: the caller says which range is valid).
pub fn parse_int(key: &str, value: &str) -> Result<i64> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| invalid(key, value, "expected an integer"))
}

/// A size in bytes: a whole number, optionally with a K, M, G or T suffix (powers of 1024;
/// `KB`/`KiB` spellings too), at least 1.
pub fn parse_bytes(key: &str, value: &str) -> Result<u64> {
    let v = value.trim();
    let upper = v.to_ascii_uppercase();
    let digits = upper.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit: u64 = match upper[digits.len()..]
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => {
            return Err(invalid(
                key,
                value,
                "expected bytes, or a size such as 512M or 4G",
            ))
        }
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| invalid(key, value, "expected bytes, or a size such as 512M or 4G"))?;
    match n.checked_mul(unit) {
        Some(b) if b >= 1 => Ok(b),
        Some(_) => Err(invalid(key, value, "must be at least 1 byte")),
        None => Err(invalid(key, value, "too large")),
    }
}

/// A positive duration in seconds (fractions allowed: `0.5`).
pub fn parse_seconds(key: &str, value: &str) -> Result<std::time::Duration> {
    let secs: f64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(key, value, "expected seconds, such as 30 or 0.5"))?;
    if secs.is_nan() || secs <= 0.0 || secs > 1e9 {
        return Err(invalid(key, value, "expected a positive number of seconds"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// A count of at least `min`.
pub fn parse_count(key: &str, value: &str, min: usize) -> Result<usize> {
    let n: usize = value
        .parse()
        .map_err(|_| invalid(key, value, "expected a whole number"))?;
    if n < min {
        return Err(invalid(key, value, format!("must be at least {min}")));
    }
    Ok(n)
}

/// `difflib.SequenceMatcher(None, a, b).ratio()`.
pub fn similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    2.0 * matching_chars(&a, &b) as f64 / (a.len() + b.len()) as f64
}

/// difflib's matching-block count: the longest common block (earliest in `a`, then in `b`),
/// then the same on both sides of it.
fn matching_chars(a: &[char], b: &[char]) -> usize {
    let (mut best, mut best_a, mut best_b) = (0, 0, 0);
    for i in 0..a.len() {
        for j in 0..b.len() {
            let mut k = 0;
            while i + k < a.len() && j + k < b.len() && a[i + k] == b[j + k] {
                k += 1;
            }
            if k > best {
                (best, best_a, best_b) = (k, i, j);
            }
        }
    }
    if best == 0 {
        return 0;
    }
    best + matching_chars(&a[..best_a], &b[..best_b])
        + matching_chars(&a[best_a + best..], &b[best_b + best..])
}

/// The closest candidate with similarity ≥ 0.6 (`difflib.get_close_matches(n=1)`).
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    // The matcher is cubic in the length: nothing that long is a misspelt key anyway.
    if word.len() > 64 {
        return None;
    }
    candidates
        .iter()
        .map(|c| (similarity(word, c), *c))
        .filter(|(r, _)| *r >= 0.6)
        .fold(None, |best: Option<(f64, &str)>, (r, c)| match best {
            Some((br, _)) if br >= r => best,
            _ => Some((r, c)),
        })
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difflib_ratio() {
        assert!((similarity("onx", "onnx") - 6.0 / 7.0).abs() < 1e-12);
        assert_eq!(closest("onx", &["torchscript", "onnx"]), Some("onnx"));
        assert_eq!(closest("imgz", &["model", "imgsz"]), Some("imgsz"));
        assert_eq!(closest("zzzz", &["model", "imgsz"]), None);
    }

    #[test]
    fn pairs_in_order_and_did_you_mean() {
        let keys = ["threads", "runs"];
        let pairs = parse(&["threads=2", " runs = 5 "], &keys, &[]).unwrap();
        assert_eq!(pairs, [("threads", "2"), ("runs", "5")]);
        let err = parse(&["thread=2"], &keys, &[]).unwrap_err().to_string();
        assert!(err.contains("did you mean 'threads'?"), "{err}");
        let err = parse(&["zzz=1"], &keys, &[]).unwrap_err().to_string();
        assert!(err.contains("valid keys: threads, runs"), "{err}");
        let err = parse(&["threads"], &keys, &[]).unwrap_err().to_string();
        assert!(err.contains("arguments are key=value"), "{err}");
        let err = parse(&["int8=True"], &keys, &["int8"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not supported yet"), "{err}");
    }

    #[test]
    fn value_spellings() {
        assert!(parse_bool("half", "TRUE").unwrap());
        assert!(!parse_bool("half", "false").unwrap());
        assert!(parse_bool("half", "yes").is_err());
        assert!(is_none("None") && is_none("") && !is_none("0"));
        assert_eq!(parse_int("opset", " 13").unwrap(), 13);
        assert_eq!(parse_count("runs", "3", 1).unwrap(), 3);
        assert!(parse_count("runs", "0", 1).is_err());
        assert!(parse_count("runs", "-1", 0).is_err());
    }
}

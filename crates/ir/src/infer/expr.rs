//! Symbolic dimension expressions, written as `Dim::Param` strings such as
//! `floor((height - 1)/8) + 1` or `2*anchors`.
//!
//! Each string is the exact formula of the size it names, built the same way every time, so two
//! values with the same string have the same size (the `Param` contract). Different strings may
//! still be equal sizes; nothing here claims otherwise. Only a few rewrites are applied, each an
//! identity on integers: folding a trailing constant (`x + 1 - 1` -> `x`), nested floor
//! division (`floor(floor(x/2)/2)` -> `floor(x/4)`), and sorting the factors of products and
//! the terms of sums.

/// Nesting depth at each byte is tracked with parentheses only.
fn top_level(s: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    let mut depth = 0i32;
    s.char_indices().filter(move |&(_, c)| {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => return depth == 0,
        }
        false
    })
}

/// `s` as an operand of `*` or `/`: parenthesised unless it is a name or a call.
pub(crate) fn atom(s: &str) -> String {
    if top_level(s).any(|(_, c)| matches!(c, ' ' | '*' | '/' | '+' | '-')) {
        format!("({s})")
    } else {
        s.to_string()
    }
}

/// Splits `e + 3` into (`e`, 3) and `e - 2` into (`e`, -2); anything else into (`s`, 0).
fn split_const(s: &str) -> (&str, i64) {
    let op_at = |i: usize| s[i + 1..].starts_with("+ ") || s[i + 1..].starts_with("- ");
    let Some((i, _)) = top_level(s).filter(|&(i, c)| c == ' ' && op_at(i)).last() else {
        return (s, 0);
    };
    let (head, tail) = (&s[..i], &s[i + 1..]);
    let (sign, digits) = match (tail.strip_prefix("+ "), tail.strip_prefix("- ")) {
        (Some(d), _) => (1, d),
        (_, Some(d)) => (-1, d),
        _ => return (s, 0),
    };
    // Only plain arithmetic heads: in `a < b - 1` the constant does not belong to the whole.
    let arithmetic = |c: char| c.is_alphanumeric() || "_*/+- .".contains(c);
    if head.is_empty() || !top_level(head).all(|(_, c)| arithmetic(c)) {
        return (s, 0);
    }
    match digits.parse::<i64>() {
        Ok(v) if digits.bytes().all(|b| b.is_ascii_digit()) => (head, sign * v),
        _ => (s, 0),
    }
}

/// `p + k`.
pub(crate) fn add(p: &str, k: i64) -> String {
    let (base, c) = split_const(p);
    match c.saturating_add(k) {
        0 => base.to_string(),
        v if v > 0 => format!("{base} + {v}"),
        v => format!("{base} - {}", v.unsigned_abs()),
    }
}

/// Splits `3*(e)` into (3, `(e)`); anything else into (1, `s`).
fn split_coef(s: &str) -> (u64, &str) {
    let Some((i, _)) = top_level(s).find(|&(_, c)| c == '*') else {
        return (1, s);
    };
    let (k, rest) = (&s[..i], &s[i + 1..]);
    let is_atom = !top_level(rest).any(|(_, c)| matches!(c, ' ' | '*' | '/' | '+' | '-'));
    match k.parse::<u64>() {
        Ok(k) if is_atom && k.to_string() == s[..i] => (k, rest),
        _ => (1, s),
    }
}

/// `(e)` -> `e` when the parentheses wrap the whole string.
fn unparen(s: &str) -> &str {
    match s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        Some(inner) if parens_balanced(inner) => inner,
        _ => s,
    }
}

/// `k * p` for `k >= 2`; coefficients multiply (`2*(2*e)` -> `4*e`).
pub(crate) fn mul(p: &str, k: u64) -> String {
    let (c, rest) = split_coef(p);
    match c.checked_mul(k) {
        Some(ck) if c > 1 => format!("{ck}*{rest}"),
        _ => format!("{k}*{}", atom(p)),
    }
}

/// `floor(p / k)` for `k >= 2`; nested floor divisions merge.
pub(crate) fn floor_div(p: &str, k: u64) -> String {
    if let Some(inner) = p.strip_prefix("floor(").and_then(|r| r.strip_suffix(')')) {
        // Only when the call spans the whole string and its argument is `e/a` at top level.
        if parens_balanced(inner) {
            if let Some((i, _)) = top_level(inner).filter(|&(_, c)| c == '/').last() {
                let a = &inner[i + 1..];
                if let (true, Ok(a)) = (a.bytes().all(|b| b.is_ascii_digit()), a.parse::<u64>()) {
                    if let Some(ak) = a.checked_mul(k) {
                        return format!("floor({}/{ak})", &inner[..i]);
                    }
                }
            }
        }
    }
    // floor((c*e + d)/k) = (c/k)*e + floor(d/k) when k divides c.
    let (base, d) = split_const(p);
    let (c, rest) = split_coef(base);
    if c > 1 && c % k == 0 {
        let q = c / k;
        let term = if q == 1 {
            unparen(rest).to_string()
        } else {
            format!("{q}*{rest}")
        };
        return add(&term, d.div_euclid(k as i64));
    }
    format!("floor({}/{k})", atom(p))
}

/// `ceil(p / k)` for `k >= 2`.
pub(crate) fn ceil_div(p: &str, k: u64) -> String {
    format!("ceil({}/{k})", atom(p))
}

fn parens_balanced(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0
}

/// `k * p1 * p2 * ...` with the factors sorted and their coefficients pulled out.
pub(crate) fn product(k: u128, params: &[String]) -> String {
    let mut k = k;
    let mut f: Vec<String> = params
        .iter()
        .map(|p| {
            let (c, rest) = split_coef(p);
            k = k.saturating_mul(c as u128);
            atom(unparen(rest))
        })
        .collect();
    f.sort();
    let body = f.join("*");
    if k == 1 {
        body
    } else {
        format!("{k}*{body}")
    }
}

/// `t1 + t2 + ... + k` with like terms combined (`a*b + 4*a*b` -> `5*a*b`) and sorted.
pub(crate) fn sum(terms: &[String], k: u64) -> String {
    let mut k = k.min(i64::MAX as u64) as i64;
    let mut like: Vec<(String, u64)> = Vec::new();
    for t in terms {
        let (base, c) = split_const(t);
        k = k.saturating_add(c);
        // A leading coefficient of a product or atom (not of a sum).
        let (coef, body) = match top_level(base).find(|&(_, ch)| ch == '*') {
            Some((i, _))
                if base[..i].bytes().all(|b| b.is_ascii_digit())
                    && !top_level(&base[i + 1..]).any(|(_, ch)| ch == ' ') =>
            {
                (base[..i].parse::<u64>().unwrap_or(1), &base[i + 1..])
            }
            _ => (1, base),
        };
        match like.iter_mut().find(|(b, _)| b == body) {
            Some((_, n)) => *n = n.saturating_add(coef),
            None => like.push((body.to_string(), coef)),
        }
    }
    let mut t: Vec<String> = like
        .into_iter()
        .map(|(b, n)| if n == 1 { b } else { format!("{n}*{b}") })
        .collect();
    t.sort();
    add(&t.join(" + "), k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites() {
        assert_eq!(add("h", -1), "h - 1");
        assert_eq!(add("h - 1", 1), "h");
        assert_eq!(add("floor((h - 1)/2) + 1", -1), "floor((h - 1)/2)");
        assert_eq!(add("a + b", 2), "a + b + 2");
        assert_eq!(add("x-1", 1), "x-1 + 1");
        assert_eq!(add("a < b - 1", 1), "a < b - 1 + 1");
        assert_eq!(floor_div("h - 1", 2), "floor((h - 1)/2)");
        assert_eq!(floor_div("floor((h - 1)/2)", 2), "floor((h - 1)/4)");
        assert_eq!(
            floor_div("floor(a/2) + floor(b/2)", 2),
            "floor((floor(a/2) + floor(b/2))/2)"
        );
        assert_eq!(
            floor_div("floor(a/2)*floor(b/2)", 2),
            "floor((floor(a/2)*floor(b/2))/2)"
        );
        assert_eq!(mul("h + 1", 2), "2*(h + 1)");
        assert_eq!(mul("floor(h/2)", 2), "2*floor(h/2)");
        assert_eq!(mul("2*(h + 1)", 2), "4*(h + 1)");
        assert_eq!(mul("2*h - 1", 2), "2*(2*h - 1)");
        assert_eq!(floor_div("4*(x + 1) - 1", 2), "2*(x + 1) - 1");
        assert_eq!(floor_div("2*(x + 1) - 1", 2), "x");
        assert_eq!(floor_div("3*x - 1", 2), "floor((3*x - 1)/2)");
        assert_eq!(
            product(1, &["2*(x + 1)".into(), "2*y".into()]),
            "4*(x + 1)*y"
        );
        assert_eq!(product(1, &["w".into(), "h + 1".into()]), "(h + 1)*w");
        assert_eq!(product(64, &["h".into()]), "64*h");
        assert_eq!(sum(&["b".into(), "a".into()], 3), "a + b + 3");
        assert_eq!(sum(&["b".into(), "a".into()], 0), "a + b");
        assert_eq!(
            sum(&["x*y".into(), "16*x*y".into(), "4*x*y".into()], 0),
            "21*x*y"
        );
        assert_eq!(
            sum(&["x + 1".into(), "x + 1".into(), "w".into()], 0),
            "2*x + w + 2"
        );
    }
}

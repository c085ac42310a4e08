//! Strings: substrings, encode/decode, and LIKE/regex matching with compiled patterns cached per thread.

use super::*;

pub(super) fn substr(s: &str, start: i64, count: Option<i64>) -> Result<Datum, EvalError> {
    if let Some(c) = count {
        if c < 0 {
            return Err(EvalError::InvalidArgument("negative substring length not allowed".into()));
        }
    }
    // PostgreSQL counts from 1 and lets the window start before the string.
    let end = count.map(|c| start.saturating_add(c));
    let chars: Vec<char> = s.chars().collect();
    let from = (start.max(1) - 1) as usize;
    let to = end.map_or(chars.len(), |e| ((e.max(1) - 1) as usize).min(chars.len()));
    Ok(Datum::String(if from >= to {
        String::new()
    } else {
        chars[from..to].iter().collect()
    }))
}

/// Compiled patterns are kept per thread (a view evaluates the same pattern on every row):
/// `kind` separates LIKE from regular expressions and case-insensitive from sensitive ones.
/// A full cache is emptied rather than evicted piecemeal; patterns that vary per row are rare.
/// The cache hands out shared references, not clones: a cloned `Regex` starts with an empty
/// matching cache, which it would then build again for every row.
pub(super) fn cached_regex(
    kind: usize,
    pattern: &str,
    build: impl FnOnce() -> Result<regex::Regex, EvalError>,
) -> Result<std::rc::Rc<regex::Regex>, EvalError> {
    const CAPACITY: usize = 256;
    thread_local! {
        static CACHE: std::cell::RefCell<[std::collections::HashMap<String, std::rc::Rc<regex::Regex>>; 4]> = Default::default();
    }
    if let Some(re) = CACHE.with(|c| c.borrow()[kind].get(pattern).cloned()) {
        return Ok(re);
    }
    let re = std::rc::Rc::new(build()?);
    CACHE.with(|c| {
        let map = &mut c.borrow_mut()[kind];
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(pattern.to_string(), re.clone());
    });
    Ok(re)
}

pub(super) fn like(s: &str, pattern: &str, case_insensitive: bool) -> Result<bool, EvalError> {
    let re = cached_regex(usize::from(case_insensitive), pattern, || like_regex(pattern, case_insensitive))?;
    Ok(re.is_match(s))
}

/// A LIKE pattern as an anchored regular expression.
pub(super) fn like_regex(pattern: &str, case_insensitive: bool) -> Result<regex::Regex, EvalError> {
    let mut re = String::from("(?s)^");
    if case_insensitive {
        re.push_str("(?i)");
    }
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => re.push_str(".*"),
            '_' => re.push('.'),
            '\\' => match chars.next() {
                Some(next) => re.push_str(&regex::escape(&next.to_string())),
                None => return Err(EvalError::InvalidArgument("LIKE pattern must not end with escape character".into())),
            },
            other => re.push_str(&regex::escape(&other.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).map_err(|e| EvalError::InvalidRegex(e.to_string()))
}

pub(super) fn build_regex(pattern: &str, case_insensitive: bool) -> Result<std::rc::Rc<regex::Regex>, EvalError> {
    cached_regex(2 + usize::from(case_insensitive), pattern, || {
        regex::RegexBuilder::new(pattern)
            .case_insensitive(case_insensitive)
            .build()
            .map_err(|e| EvalError::InvalidRegex(e.to_string()))
    })
}

/// `encode(bytes, format)` as PostgreSQL writes it (base64 wrapped at 76 characters).
pub(super) fn encode_bytes(b: &[u8], format: &str) -> Result<String, EvalError> {
    use base64::Engine as _;
    Ok(match format.to_ascii_lowercase().as_str() {
        "hex" => b.iter().map(|x| format!("{x:02x}")).collect(),
        "base64" => {
            let s = base64::engine::general_purpose::STANDARD.encode(b);
            s.as_bytes()
                .chunks(76)
                .map(|c| std::str::from_utf8(c).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        }
        "escape" => {
            let mut out = String::new();
            for &x in b {
                match x {
                    b'\\' => out.push_str("\\\\"),
                    0 | 0x80..=0xff => out.push_str(&format!("\\{x:03o}")),
                    _ => out.push(x as char),
                }
            }
            out
        }
        other => return Err(EvalError::InvalidArgument(format!("unrecognized encoding: \"{other}\""))),
    })
}

/// `decode(text, format)`.
pub(super) fn decode_bytes(s: &str, format: &str) -> Result<Vec<u8>, EvalError> {
    use base64::Engine as _;
    match format.to_ascii_lowercase().as_str() {
        "hex" => {
            let digits: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
            if digits.len() % 2 != 0 {
                return Err(EvalError::InvalidArgument("invalid hexadecimal data: odd number of digits".into()));
            }
            digits
                .chunks(2)
                .map(|p| {
                    u8::from_str_radix(std::str::from_utf8(p).unwrap_or("zz"), 16)
                        .map_err(|_| EvalError::InvalidArgument("invalid hexadecimal digit".into()))
                })
                .collect()
        }
        "base64" => {
            let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(clean)
                .map_err(|e| EvalError::InvalidArgument(format!("invalid base64 data: {e}")))
        }
        "escape" => {
            let bytes = s.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'\\' {
                    if bytes.get(i + 1) == Some(&b'\\') {
                        out.push(b'\\');
                        i += 2;
                        continue;
                    }
                    let oct = bytes
                        .get(i + 1..i + 4)
                        .and_then(|o| std::str::from_utf8(o).ok())
                        .and_then(|o| u8::from_str_radix(o, 8).ok());
                    match oct {
                        Some(v) => {
                            out.push(v);
                            i += 4;
                        }
                        None => return Err(EvalError::InvalidArgument("invalid input syntax for type bytea".into())),
                    }
                } else {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            Ok(out)
        }
        other => Err(EvalError::InvalidArgument(format!("unrecognized encoding: \"{other}\""))),
    }
}

//! A small MySQL tokenizer for what sqlparser does not cover: type strings (`int(11) unsigned`) and the ALTER
//! clauses of the fallback path (`ENGINE=InnoDB`, `RENAME INDEX a TO b`). Tokens keep their byte spans so a
//! clause can be cut out of the statement and handed back to sqlparser.

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A bare word (keyword or identifier) or a backquoted identifier (unquoted here).
    Word { text: String, quoted: bool },
    /// A '…' or "…" string, unescaped.
    Str(String),
    /// A number.
    Num(String),
    /// Any other single character: `(`, `)`, `,`, `=`, `.`, `;`.
    Punct(char),
}

/// A token and its byte span in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spanned {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

impl Tok {
    /// True for an unquoted word equal to `kw`, ignoring case.
    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(self, Tok::Word { text, quoted: false } if text.eq_ignore_ascii_case(kw))
    }

    /// The text of a word, string or number (what an option value may be).
    pub fn value(&self) -> Option<&str> {
        match self {
            Tok::Word { text, .. } | Tok::Str(text) | Tok::Num(text) => Some(text),
            Tok::Punct(_) => None,
        }
    }
}

/// Splits `sql` into tokens; comments are skipped. Unterminated quotes end at the input's end.
pub(crate) fn tokenize(sql: &str) -> Vec<Spanned> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' || (c == b'-' && bytes.get(i + 1) == Some(&b'-')) {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i = sql[i + 2..].find("*/").map_or(bytes.len(), |p| i + 2 + p + 2);
            continue;
        }
        let tok = match c {
            b'`' => {
                let (text, end) = quoted(sql, i, b'`');
                i = end;
                Tok::Word { text, quoted: true }
            }
            b'\'' | b'"' => {
                let (text, end) = quoted(sql, i, c);
                i = end;
                Tok::Str(text)
            }
            b'0'..=b'9' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                    i += 1;
                }
                Tok::Num(sql[start..i].to_string())
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80 => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'$') || bytes[i] >= 0x80)
                {
                    i += 1;
                }
                Tok::Word { text: sql[start..i].to_string(), quoted: false }
            }
            _ => {
                let ch = sql[i..].chars().next().unwrap_or(' ');
                i += ch.len_utf8();
                Tok::Punct(ch)
            }
        };
        out.push(Spanned { tok, start, end: i });
    }
    out
}

/// Reads a quoted run starting at `open` (the quote); a doubled quote or a backslash escapes (not in backquotes).
fn quoted(sql: &str, open: usize, q: u8) -> (String, usize) {
    let bytes = sql.as_bytes();
    let mut text = Vec::new();
    let mut i = open + 1;
    while i < bytes.len() {
        let b = bytes[i];
        if b == q {
            if bytes.get(i + 1) == Some(&q) {
                text.push(q);
                i += 2;
                continue;
            }
            return (String::from_utf8_lossy(&text).into_owned(), i + 1);
        }
        if b == b'\\' && q != b'`' && i + 1 < bytes.len() {
            text.push(bytes[i + 1]);
            i += 2;
            continue;
        }
        text.push(b);
        i += 1;
    }
    (String::from_utf8_lossy(&text).into_owned(), bytes.len())
}

/// Splits tokens at commas outside parentheses.
pub(crate) fn split_top_level(toks: &[Spanned]) -> Vec<&[Spanned]> {
    let mut parts = Vec::new();
    let (mut depth, mut from) = (0i32, 0);
    for (i, t) in toks.iter().enumerate() {
        match t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            Tok::Punct(',') if depth == 0 => {
                parts.push(&toks[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&toks[from..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_splits() {
        let toks = tokenize("ALTER TABLE `a``b` COMMENT='it''s', ADD c enum('x,y') /* c */ -- x\n, ENGINE=InnoDB;");
        let parts = split_top_level(&toks);
        assert_eq!(parts.len(), 3);
        assert_eq!(toks[2].tok, Tok::Word { text: "a`b".into(), quoted: true });
        assert_eq!(toks[5].tok, Tok::Str("it's".into()));
        assert!(parts[2][0].tok.is_kw("engine"));
    }
}

//! Normalized column types and their order: a type is wider than another in the same family when it holds every
//! value the other holds (`int < bigint`, `varchar(10) < varchar(20)`, `enum('a') < enum('a','b')`). Types of
//! different families, signed vs unsigned, and decimals of different precision/scale are incomparable.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::lexer::{Tok, tokenize};

/// A column type with aliases resolved (`integer` → `int`, `bool` → `tinyint(1)`, `numeric` → `decimal`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnType {
    /// Canonical lowercase base name: `int`, `bigint`, `varchar`, `decimal`, `enum`, …
    pub base: String,
    /// Length, display width or precision: `varchar(10)` → 10, `decimal(10,2)` → 10, `datetime(3)` → 3.
    pub length: Option<u64>,
    /// Scale: `decimal(10,2)` → 2, `double(8,3)` → 3.
    pub scale: Option<u64>,
    /// `UNSIGNED`.
    pub unsigned: bool,
    /// `ZEROFILL`.
    pub zerofill: bool,
    /// Members of an `enum` or `set`, in order.
    pub values: Vec<String>,
}

/// Families inside which types are ordered by width; the rank orders types inside the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeFamily {
    /// tinyint < smallint < mediumint < int < bigint (display width ignored).
    Integer,
    /// float < double.
    Float,
    /// decimal: precision and scale must match.
    Decimal,
    /// char(n), ordered by length.
    Char,
    /// varchar(n), ordered by length.
    Varchar,
    /// binary(n), ordered by length.
    Binary,
    /// varbinary(n), ordered by length.
    Varbinary,
    /// tinytext < text < mediumtext < longtext.
    Text,
    /// tinyblob < blob < mediumblob < longblob.
    Blob,
    /// enum: a member list is smaller than the same list with members appended.
    Enum,
    /// set: as enum.
    Set,
    /// Any other type (date, datetime, json, bit, …): equal base name, ordered by length (fsp, bits).
    Other,
}

const INTEGERS: [&str; 5] = ["tinyint", "smallint", "mediumint", "int", "bigint"];
const FLOATS: [&str; 2] = ["float", "double"];
const TEXTS: [&str; 4] = ["tinytext", "text", "mediumtext", "longtext"];
const BLOBS: [&str; 4] = ["tinyblob", "blob", "mediumblob", "longblob"];

impl ColumnType {
    /// A type with only a base name.
    pub fn named(base: &str) -> Self {
        ColumnType {
            base: base.to_string(),
            length: None,
            scale: None,
            unsigned: false,
            zerofill: false,
            values: vec![],
        }
    }

    /// Parses a MySQL type as written (`INT(11) UNSIGNED`, `varchar(10)`, `ENUM('a', 'b')`, `DOUBLE PRECISION`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let toks = tokenize(text);
        let mut words = Vec::new();
        let mut i = 0;
        while let Some(Tok::Word { text: w, .. }) = toks.get(i).map(|t| &t.tok) {
            words.push(w.to_ascii_lowercase());
            i += 1;
            if matches!(toks.get(i).map(|t| &t.tok), Some(Tok::Punct('('))) {
                break;
            }
        }
        let Some(first) = words.first() else { return Err("no type name".to_string()) };
        let mut ty = ColumnType::named(&canonical_base(first, words.get(1).map(String::as_str)));
        let mut args: Vec<Tok> = Vec::new();
        if matches!(toks.get(i).map(|t| &t.tok), Some(Tok::Punct('('))) {
            i += 1;
            while let Some(t) = toks.get(i) {
                i += 1;
                match &t.tok {
                    Tok::Punct(')') => break,
                    Tok::Punct(',') => {}
                    other => args.push(other.clone()),
                }
            }
        }
        let trailing: Vec<String> = toks[i.min(toks.len())..]
            .iter()
            .filter_map(|t| t.tok.value().map(str::to_ascii_lowercase))
            .chain(words.iter().skip(1).cloned())
            .collect();
        ty.unsigned = trailing.iter().any(|w| w == "unsigned");
        ty.zerofill = trailing.iter().any(|w| w == "zerofill");
        if ty.zerofill {
            ty.unsigned = true; // MySQL makes every ZEROFILL column unsigned.
        }
        if matches!(ty.base.as_str(), "enum" | "set") {
            ty.values = args.iter().filter_map(|a| a.value().map(str::to_string)).collect();
        } else {
            let mut nums = args.iter().map(|a| match a {
                Tok::Num(n) => n.parse::<u64>().map_err(|_| format!("bad length `{n}`")),
                other => Err(format!("bad length `{}`", other.value().unwrap_or("?"))),
            });
            ty.length = nums.next().transpose()?;
            ty.scale = nums.next().transpose()?;
        }
        if matches!(first.as_str(), "bool" | "boolean") {
            ty.length = Some(1);
        }
        if matches!(ty.base.as_str(), "char" | "binary") && ty.length.is_none() {
            ty.length = Some(1); // CHAR = CHAR(1)
        }
        if ty.base == "decimal" {
            ty.length = Some(ty.length.unwrap_or(10)); // MySQL's defaults: DECIMAL = DECIMAL(10,0).
            ty.scale = Some(ty.scale.unwrap_or(0));
        }
        Ok(ty)
    }

    /// The family and the rank inside it.
    pub fn family(&self) -> (TypeFamily, usize) {
        let rank = |list: &[&str]| list.iter().position(|b| *b == self.base);
        if let Some(r) = rank(&INTEGERS) {
            return (TypeFamily::Integer, r);
        }
        if let Some(r) = rank(&FLOATS) {
            return (TypeFamily::Float, r);
        }
        if let Some(r) = rank(&TEXTS) {
            return (TypeFamily::Text, r);
        }
        if let Some(r) = rank(&BLOBS) {
            return (TypeFamily::Blob, r);
        }
        let f = match self.base.as_str() {
            "decimal" => TypeFamily::Decimal,
            "char" => TypeFamily::Char,
            "varchar" => TypeFamily::Varchar,
            "binary" => TypeFamily::Binary,
            "varbinary" => TypeFamily::Varbinary,
            "enum" => TypeFamily::Enum,
            "set" => TypeFamily::Set,
            _ => TypeFamily::Other,
        };
        (f, 0)
    }

    /// Orders two types by width; `None` when neither holds all values of the other.
    pub fn compare(&self, other: &Self) -> Option<Ordering> {
        let ((fa, ra), (fb, rb)) = (self.family(), other.family());
        if fa != fb || self.unsigned != other.unsigned || self.zerofill != other.zerofill {
            return None;
        }
        match fa {
            TypeFamily::Other if self.base != other.base => None,
            TypeFamily::Decimal => (self == other).then_some(Ordering::Equal),
            TypeFamily::Enum | TypeFamily::Set => prefix_order(&self.values, &other.values),
            // Display width of integers says nothing about the values they hold.
            TypeFamily::Integer => Some(ra.cmp(&rb)),
            _ => {
                let parts =
                    [Some(ra.cmp(&rb)), opt_order(self.length, other.length), opt_order(self.scale, other.scale)];
                parts.into_iter().try_fold(Ordering::Equal, |acc, p| combine(acc, p?))
            }
        }
    }
}

/// Folds one more component ordering into a product ordering; `None` when the directions disagree.
pub(crate) fn combine(acc: Ordering, next: Ordering) -> Option<Ordering> {
    match (acc, next) {
        (Ordering::Equal, n) => Some(n),
        (a, Ordering::Equal) => Some(a),
        (a, n) if a == n => Some(a),
        _ => None,
    }
}

/// Lengths: both absent is equal, one absent is incomparable (the defaults differ per type).
fn opt_order(a: Option<u64>, b: Option<u64>) -> Option<Ordering> {
    match (a, b) {
        (None, None) => Some(Ordering::Equal),
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => None,
    }
}

/// A member list is smaller than the same list with members appended (existing values keep their index).
fn prefix_order(a: &[String], b: &[String]) -> Option<Ordering> {
    let n = a.len().min(b.len());
    (a[..n] == b[..n]).then(|| a.len().cmp(&b.len()))
}

/// Resolves MySQL aliases to one base name.
fn canonical_base(first: &str, second: Option<&str>) -> String {
    let base = match (first, second) {
        ("double", Some("precision")) => "double",
        ("character" | "char", Some("varying")) => "varchar",
        ("national", Some("char" | "character")) | ("nchar", _) => "char",
        ("national", Some("varchar")) | ("nvarchar", _) => "varchar",
        ("long", Some("varchar")) => "mediumtext",
        ("integer" | "int4", _) => "int",
        ("int1", _) | ("bool" | "boolean", _) => "tinyint",
        ("int2", _) => "smallint",
        ("int3" | "middleint", _) => "mediumint",
        ("int8", _) => "bigint",
        ("real" | "float8", _) => "double",
        ("float4", _) => "float",
        ("numeric" | "dec" | "fixed", _) => "decimal",
        ("character", _) => "char",
        (other, _) => other,
    };
    base.to_string()
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)?;
        if matches!(self.base.as_str(), "enum" | "set") {
            let vals: Vec<String> = self.values.iter().map(|v| quote_str(v)).collect();
            write!(f, "({})", vals.join(","))?;
        } else {
            match (self.length, self.scale) {
                (Some(l), Some(s)) => write!(f, "({l},{s})")?,
                (Some(l), None) => write!(f, "({l})")?,
                _ => {}
            }
        }
        if self.unsigned {
            f.write_str(" unsigned")?;
        }
        if self.zerofill {
            f.write_str(" zerofill")?;
        }
        Ok(())
    }
}

/// A single-quoted SQL string literal.
pub(crate) fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    fn t(s: &str) -> ColumnType {
        ColumnType::parse(s).unwrap()
    }

    #[test]
    fn parse_normalizes_aliases() {
        let cases = [
            ("INT(11) UNSIGNED", "int(11) unsigned"),
            ("integer", "int"),
            ("BOOLEAN", "tinyint(1)"),
            ("numeric(5)", "decimal(5,0)"),
            ("DECIMAL", "decimal(10,0)"),
            ("DOUBLE PRECISION", "double"),
            ("CHARACTER VARYING(10)", "varchar(10)"),
            ("ENUM('a', 'b''c')", "enum('a','b''c')"),
            ("tinyint(3) zerofill", "tinyint(3) unsigned zerofill"),
            ("datetime(3)", "datetime(3)"),
            ("char", "char(1)"),
        ];
        for (input, want) in cases {
            assert_eq!(t(input).to_string(), want, "{input}");
            assert_eq!(t(want), t(input), "{input} round-trips");
        }
    }

    #[test]
    fn width_order() {
        let cases = [
            ("tinyint", "bigint", Some(Less)),
            ("int(11)", "int(10)", Some(Equal)),
            ("int", "int unsigned", None),
            ("varchar(10)", "varchar(20)", Some(Less)),
            ("char(10)", "varchar(20)", None),
            ("decimal(10,2)", "decimal(12,2)", None),
            ("decimal(10,2)", "decimal(10,2)", Some(Equal)),
            ("float", "double", Some(Less)),
            ("longtext", "text", Some(Greater)),
            ("text", "blob", None),
            ("int", "varchar(10)", None),
            ("enum('a')", "enum('a','b')", Some(Less)),
            ("enum('a','c')", "enum('a','b')", None),
            ("datetime", "datetime(3)", None),
            ("datetime(3)", "datetime(6)", Some(Less)),
            ("double(8,3)", "double(10,2)", None),
        ];
        for (a, b, want) in cases {
            assert_eq!(t(a).compare(&t(b)), want, "{a} vs {b}");
            assert_eq!(t(b).compare(&t(a)), want.map(Ordering::reverse), "{b} vs {a}");
        }
    }
}

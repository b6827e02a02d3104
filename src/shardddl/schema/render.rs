//! `Table` → `CREATE TABLE` text in the shape `SHOW CREATE TABLE` prints, readable back by `parse_create_table`.

use super::parse::strip_prefix_len;
use super::types::quote_str;
use super::{Column, Table};

/// A backquoted identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// An index part: `c(10)` → `` `c`(10) ``.
fn index_part(col: &str) -> String {
    let name = strip_prefix_len(col);
    format!("{}{}", quote_ident(name), &col[col.find('(').unwrap_or(col.len())..])
}

fn index_parts(cols: &[String]) -> String {
    cols.iter().map(|c| index_part(c)).collect::<Vec<_>>().join(",")
}

/// One column definition.
pub(crate) fn column_sql(c: &Column) -> String {
    let mut s = format!("{} {}", quote_ident(&c.name), c.ty);
    if let Some(cs) = &c.charset {
        s += &format!(" CHARACTER SET {cs}");
    }
    if let Some(co) = &c.collation {
        s += &format!(" COLLATE {co}");
    }
    if let Some(g) = &c.generated {
        s += &format!(" GENERATED ALWAYS AS ({g}) VIRTUAL");
    }
    if !c.nullable {
        s += " NOT NULL";
    }
    if let Some(d) = &c.default {
        s += &format!(" DEFAULT {d}");
    }
    if c.auto_increment {
        s += " AUTO_INCREMENT";
    }
    if let Some(cm) = &c.comment {
        s += &format!(" COMMENT {}", quote_str(cm));
    }
    s
}

/// A bare word or number is written as is, anything else as a string literal.
fn option_value(key: &str, v: &str) -> String {
    let plain = !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain && key != "COMMENT" { v.to_string() } else { quote_str(v) }
}

pub(crate) fn create_table(t: &Table) -> String {
    let mut lines: Vec<String> = t.columns.iter().map(column_sql).collect();
    if let Some(pk) = &t.primary_key {
        lines.push(format!("PRIMARY KEY ({})", index_parts(pk)));
    }
    for idx in &t.indexes {
        let kind = if idx.unique { "UNIQUE KEY" } else { "KEY" };
        lines.push(format!("{kind} {} ({})", quote_ident(&idx.name), index_parts(&idx.columns)));
    }
    let mut sql = format!("CREATE TABLE {} (\n  {}\n)", quote_ident(&t.name), lines.join(",\n  "));
    if let Some(engine) = t.options.get("ENGINE") {
        sql += &format!(" ENGINE={}", option_value("ENGINE", engine));
    }
    if let Some(cs) = &t.charset {
        sql += &format!(" DEFAULT CHARSET={cs}");
    }
    if let Some(co) = &t.collation {
        sql += &format!(" COLLATE={co}");
    }
    for (k, v) in t.options.iter().filter(|(k, _)| k.as_str() != "ENGINE") {
        sql += &format!(" {k}={}", option_value(k, v));
    }
    sql
}

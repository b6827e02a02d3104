//! The ALTER TABLE fallback for statements sqlparser 0.64 rejects (`ENGINE=InnoDB`, `CONVERT TO CHARACTER SET`,
//! `RENAME INDEX a TO b`, `DROP KEY k`, `ADD COLUMN (a int, b int)`). The statement is split into its clauses;
//! clauses recognised here are applied by hand, the others are re-parsed one by one by sqlparser. If any clause is
//! still unreadable the table is returned unchanged with `Change::Other`: the lock passes the DDL through.

use super::apply::{apply_statement, drop_index, rename_index};
use super::lexer::{Spanned, Tok, split_top_level};
use super::parse::{normalize, parse_sql, set_table_option};
use super::render::quote_ident;
use super::{Applied, Change, SchemaError, Table};

/// The statement was not understood: the table is unchanged.
pub(crate) fn unparsed(table: &Table) -> Applied {
    Applied { table: table.clone(), changes: vec![Change::Other], fallback: true }
}

/// Applies an ALTER TABLE that sqlparser rejected as a whole.
pub(crate) fn apply_alter(table: &Table, sql: &str, toks: &[Spanned]) -> Result<Applied, SchemaError> {
    let mut toks = toks;
    while let Some((_, rest)) = toks.split_last().filter(|(last, _)| last.tok == Tok::Punct(';')) {
        toks = rest;
    }
    let Some(body) = header_len(toks) else { return Ok(unparsed(table)) };
    let mut t = table.clone();
    let mut changes = Vec::new();
    for clause in split_top_level(&toks[body..]) {
        if clause.is_empty() {
            continue;
        }
        if apply_known_clause(&mut t, clause, &mut changes)? {
            continue;
        }
        for text in expand_add_columns(sql, clause) {
            let stmt_sql = format!("ALTER TABLE {} {text}", quote_ident(&t.name));
            let Ok(stmts) = parse_sql(&stmt_sql) else { return Ok(unparsed(table)) };
            for stmt in &stmts {
                apply_statement(&mut t, stmt, &mut changes)?;
            }
        }
    }
    normalize(&mut t);
    Ok(Applied { table: t, changes, fallback: true })
}

/// Tokens taken by `ALTER [ONLINE|IGNORE] TABLE name`, or `None` when the statement is not an ALTER TABLE.
fn header_len(toks: &[Spanned]) -> Option<usize> {
    let mut i = 1;
    while toks.get(i).is_some_and(|t| t.tok.is_kw("ONLINE") || t.tok.is_kw("IGNORE")) {
        i += 1;
    }
    if !toks.get(i)?.tok.is_kw("TABLE") {
        return None;
    }
    i += 1;
    matches!(toks.get(i)?.tok, Tok::Word { .. }).then_some(())?;
    i += 1;
    while toks.get(i).map(|t| &t.tok) == Some(&Tok::Punct('.')) {
        i += 2;
    }
    Some(i)
}

/// Applies a clause this module knows; false when it does not know it.
fn apply_known_clause(t: &mut Table, c: &[Spanned], changes: &mut Vec<Change>) -> Result<bool, SchemaError> {
    let kw = |i: usize, k: &str| c.get(i).is_some_and(|s| s.tok.is_kw(k));
    let word = |i: usize| c.get(i).and_then(|s| s.tok.value()).map(str::to_string);
    if kw(0, "RENAME") && (kw(1, "INDEX") || kw(1, "KEY")) && kw(3, "TO") && c.len() == 5 {
        let (Some(from), Some(to)) = (word(2), word(4)) else { return Ok(false) };
        rename_index(t, &from, &to, changes)?;
        return Ok(true);
    }
    if kw(0, "DROP") && (kw(1, "INDEX") || kw(1, "KEY")) && c.len() == 3 {
        let Some(name) = word(2) else { return Ok(false) };
        changes.push(drop_index(t, &name)?);
        return Ok(true);
    }
    if kw(0, "CONVERT") && kw(1, "TO") {
        let Some(opts) = table_options(&c[2..]) else { return Ok(false) };
        convert_to(t, &opts);
        changes.push(Change::TableOptions);
        return Ok(true);
    }
    let Some(opts) = table_options(c) else { return Ok(false) };
    for (k, v) in opts {
        set_table_option(t, &k, v);
    }
    changes.push(Change::TableOptions);
    Ok(true)
}

/// `CONVERT TO CHARACTER SET x [COLLATE y]`: the table default and every column with an explicit charset change.
fn convert_to(t: &mut Table, opts: &[(String, String)]) {
    let find = |key: &str| opts.iter().find(|(k, _)| k == key).map(|(_, v)| v.to_ascii_lowercase());
    let (charset, collation) = (find("CHARSET"), find("COLLATE"));
    for col in t.columns.iter_mut().filter(|c| c.charset.is_some()) {
        col.charset.clone_from(&charset);
        col.collation.clone_from(&collation);
    }
    t.charset = charset;
    t.collation = collation;
}

/// Reads a run of table options (`ENGINE=InnoDB DEFAULT CHARSET utf8mb4 …`) as (key, value) pairs; `None` if the
/// clause holds anything else. `CHARACTER SET` is reported as `CHARSET`.
fn table_options(c: &[Spanned]) -> Option<Vec<(String, String)>> {
    const KEYS: [&str; 6] = ["ENGINE", "ROW_FORMAT", "COMMENT", "AUTO_INCREMENT", "CHARSET", "COLLATE"];
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i].tok.is_kw("DEFAULT") {
            i += 1;
        }
        let key = if c.get(i)?.tok.is_kw("CHARACTER") && c.get(i + 1)?.tok.is_kw("SET") {
            i += 1;
            "CHARSET"
        } else {
            KEYS.into_iter().find(|k| c[i].tok.is_kw(k))?
        };
        i += 1;
        if c.get(i).map(|s| &s.tok) == Some(&Tok::Punct('=')) {
            i += 1;
        }
        out.push((key.to_string(), c.get(i)?.tok.value()?.to_string()));
        i += 1;
    }
    (!out.is_empty()).then_some(out)
}

/// `ADD [COLUMN] (a int, b int)` → `ADD COLUMN a int`, `ADD COLUMN b int`; any other clause is returned as is.
fn expand_add_columns(sql: &str, c: &[Spanned]) -> Vec<String> {
    let text = |s: &[Spanned]| sql[s[0].start..s[s.len() - 1].end].to_string();
    let open = if c[0].tok.is_kw("ADD") && c.get(1).is_some_and(|s| s.tok.is_kw("COLUMN")) { 2 } else { 1 };
    let parenthesized = c[0].tok.is_kw("ADD")
        && c.get(open).map(|s| &s.tok) == Some(&Tok::Punct('('))
        && c.last().map(|s| &s.tok) == Some(&Tok::Punct(')'))
        && c.len() > open + 2;
    if !parenthesized {
        return vec![text(c)];
    }
    split_top_level(&c[open + 1..c.len() - 1])
        .into_iter()
        .filter(|d| !d.is_empty())
        .map(|d| format!("ADD COLUMN {}", text(d)))
        .collect()
}

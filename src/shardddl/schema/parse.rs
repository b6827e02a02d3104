//! `CREATE TABLE` → `Table`, and the conversions from sqlparser's AST that `apply` shares: column definitions,
//! key constraints and table options.

use std::collections::BTreeMap;

use sqlparser::ast::{
    ColumnDef, ColumnOption, CreateTable, CreateTableOptions, Expr, IndexColumn, ObjectName, SqlOption, Statement,
    TableConstraint, Value,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::types::{ColumnType, quote_str};
use super::{Column, Index, SchemaError, Table};

/// Parses one `CREATE TABLE` statement (as `SHOW CREATE TABLE` prints it) into a `Table`.
pub fn parse_create_table(sql: &str) -> Result<Table, SchemaError> {
    let stmts = parse_sql(sql)?;
    match stmts.as_slice() {
        [Statement::CreateTable(ct)] => table_from_create(ct),
        _ => Err(SchemaError::NotCreateTable { sql: sql.to_string() }),
    }
}

/// sqlparser with the MySQL dialect, errors mapped to `SchemaError::Parse`.
pub(crate) fn parse_sql(sql: &str) -> Result<Vec<Statement>, SchemaError> {
    Parser::parse_sql(&MySqlDialect {}, sql)
        .map_err(|e| SchemaError::Parse { sql: sql.to_string(), reason: e.to_string() })
}

/// The last part of a possibly schema-qualified name, unquoted.
pub(crate) fn last_name(name: &ObjectName) -> String {
    name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()).unwrap_or_else(|| name.to_string())
}

pub(crate) fn table_from_create(ct: &CreateTable) -> Result<Table, SchemaError> {
    let mut table = Table {
        name: last_name(&ct.name),
        columns: Vec::new(),
        primary_key: None,
        indexes: Vec::new(),
        charset: None,
        collation: None,
        options: BTreeMap::new(),
    };
    for def in &ct.columns {
        let (col, keys) = column_from_def(def)?;
        table.columns.push(col);
        for key in keys {
            add_key(&mut table, key)?;
        }
    }
    for c in &ct.constraints {
        if let Some(key) = key_from_constraint(c) {
            add_key(&mut table, key)?;
        }
    }
    if let CreateTableOptions::Plain(opts) | CreateTableOptions::With(opts) | CreateTableOptions::Options(opts) =
        &ct.table_options
    {
        for opt in opts {
            if let Some((k, v)) = sql_option(opt) {
                set_table_option(&mut table, &k, v);
            }
        }
    }
    normalize(&mut table);
    Ok(table)
}

/// A key from a column or table constraint.
pub(crate) enum Key {
    Primary(Vec<String>),
    Index(Index),
}

/// Adds a key; the primary key marks its columns NOT NULL as MySQL does.
pub(crate) fn add_key(table: &mut Table, key: Key) -> Result<(), SchemaError> {
    match key {
        Key::Primary(cols) => {
            if table.primary_key.is_some() {
                return Err(SchemaError::DuplicateIndex { table: table.name.clone(), index: "PRIMARY".into() });
            }
            for name in &cols {
                let Some(i) = table.column_index(strip_prefix_len(name)) else {
                    return Err(SchemaError::UnknownColumn { table: table.name.clone(), column: name.clone() });
                };
                table.columns[i].nullable = false;
            }
            table.primary_key = Some(cols);
        }
        Key::Index(mut idx) => {
            if let Some(c) = idx.columns.iter().find(|c| table.column(strip_prefix_len(c)).is_none()) {
                return Err(SchemaError::UnknownColumn { table: table.name.clone(), column: c.clone() });
            }
            if idx.name.is_empty() {
                idx.name = unused_index_name(table, &idx.columns[0]);
            }
            if table.index(&idx.name).is_some() {
                return Err(SchemaError::DuplicateIndex { table: table.name.clone(), index: idx.name });
            }
            table.indexes.push(idx);
        }
    }
    Ok(())
}

/// `c(10)` → `c`.
pub(crate) fn strip_prefix_len(col: &str) -> &str {
    col.split('(').next().unwrap_or(col).trim()
}

/// MySQL names an unnamed index after its first column, adding `_2`, `_3`, … on a clash.
fn unused_index_name(table: &Table, first_col: &str) -> String {
    let base = strip_prefix_len(first_col).to_string();
    let mut name = base.clone();
    let mut n = 2;
    while table.index(&name).is_some() {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

pub(crate) fn key_from_constraint(c: &TableConstraint) -> Option<Key> {
    let name = |n: &Option<sqlparser::ast::Ident>| n.as_ref().map(|i| i.value.clone()).unwrap_or_default();
    match c {
        TableConstraint::PrimaryKey(pk) => Some(Key::Primary(index_columns(&pk.columns))),
        TableConstraint::Unique(u) => Some(Key::Index(Index {
            name: if u.index_name.is_some() { name(&u.index_name) } else { name(&u.name) },
            unique: true,
            columns: index_columns(&u.columns),
        })),
        TableConstraint::Index(i) => {
            Some(Key::Index(Index { name: name(&i.name), unique: false, columns: index_columns(&i.columns) }))
        }
        TableConstraint::FulltextOrSpatial(f) => {
            Some(Key::Index(Index { name: name(&f.opt_index_name), unique: false, columns: index_columns(&f.columns) }))
        }
        _ => None,
    }
}

pub(crate) fn index_columns(cols: &[IndexColumn]) -> Vec<String> {
    cols.iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(i) => i.value.clone(),
            other => prefix_part(&other.to_string()),
        })
        .collect()
}

/// A prefix index part as sqlparser prints it (`` `c`(10) ``, a function call) → `c(10)`.
fn prefix_part(text: &str) -> String {
    use super::lexer::{Tok, tokenize};
    match tokenize(text).as_slice() {
        [name, open, len, close] if open.tok == Tok::Punct('(') && close.tok == Tok::Punct(')') => {
            match (&name.tok, &len.tok) {
                (Tok::Word { text: n, .. }, Tok::Num(l)) => format!("{n}({l})"),
                _ => text.to_string(),
            }
        }
        _ => text.to_string(),
    }
}

/// A column and the keys its inline options declare (`PRIMARY KEY`, `UNIQUE`).
pub(crate) fn column_from_def(def: &ColumnDef) -> Result<(Column, Vec<Key>), SchemaError> {
    let name = def.name.value.clone();
    let ty_text = def.data_type.to_string();
    let ty = ColumnType::parse(&ty_text).map_err(|reason| SchemaError::BadType {
        column: name.clone(),
        ty: ty_text.clone(),
        reason,
    })?;
    let mut col = Column {
        name: name.clone(),
        ty,
        nullable: true,
        default: None,
        generated: None,
        charset: None,
        collation: None,
        auto_increment: false,
        comment: None,
    };
    let mut keys = Vec::new();
    for opt in &def.options {
        apply_column_option(&mut col, &opt.option, &mut keys);
    }
    Ok((col, keys))
}

fn apply_column_option(col: &mut Column, opt: &ColumnOption, keys: &mut Vec<Key>) {
    match opt {
        ColumnOption::Null => col.nullable = true,
        ColumnOption::NotNull => col.nullable = false,
        ColumnOption::Default(e) => col.default = default_text(e),
        ColumnOption::CharacterSet(n) => col.charset = Some(last_name(n).to_ascii_lowercase()),
        ColumnOption::Collation(n) => col.collation = Some(last_name(n).to_ascii_lowercase()),
        ColumnOption::Comment(c) => col.comment = Some(c.clone()),
        ColumnOption::Generated { generation_expr: Some(e), .. } => col.generated = Some(e.to_string()),
        ColumnOption::DialectSpecific(toks)
            if toks.iter().any(|t| t.to_string().eq_ignore_ascii_case("AUTO_INCREMENT")) =>
        {
            col.auto_increment = true
        }
        ColumnOption::PrimaryKey(_) => {
            col.nullable = false;
            keys.push(Key::Primary(vec![col.name.clone()]));
        }
        ColumnOption::Unique(u) => {
            let name = u.name.as_ref().map(|i| i.value.clone()).unwrap_or_default();
            keys.push(Key::Index(Index { name, unique: true, columns: vec![col.name.clone()] }))
        }
        _ => {}
    }
}

/// The default as SQL text; `DEFAULT NULL` is no default, and literals are single-quoted (`0` → `'0'`,
/// `"x"` → `'x'`, `TRUE` → `'1'`) the way SHOW CREATE TABLE prints them, so a DDL's `DEFAULT 0` equals a
/// dumped `DEFAULT '0'`. Expressions (`CURRENT_TIMESTAMP`) are kept as sqlparser prints them.
pub(crate) fn default_text(e: &Expr) -> Option<String> {
    use sqlparser::ast::UnaryOperator;
    match e {
        Expr::Value(v) if matches!(v.value, Value::Null) => None,
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => Some(quote_str(n)),
            Value::SingleQuotedString(t) | Value::DoubleQuotedString(t) => Some(quote_str(t)),
            Value::Boolean(b) => Some(quote_str(if *b { "1" } else { "0" })),
            other => Some(other.to_string()),
        },
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => match expr.as_ref() {
            Expr::Value(v) if matches!(v.value, Value::Number(..)) => Some(quote_str(&format!("-{}", v.value))),
            _ => Some(e.to_string()),
        },
        other => Some(other.to_string()),
    }
}

/// MySQL shows a column charset or collation only when it differs from the table's: drop the ones that repeat
/// it, and make primary-key columns NOT NULL, so equal schemas compare equal however they were written.
pub(crate) fn normalize(table: &mut Table) {
    let pk: Vec<String> =
        table.primary_key.iter().flatten().map(|c| strip_prefix_len(c).to_ascii_lowercase()).collect();
    for col in &mut table.columns {
        if col.charset.is_some() && col.charset == table.charset {
            col.charset = None;
        }
        if col.collation.is_some() && col.collation == table.collation {
            col.collation = None;
        }
        if pk.contains(&col.name.to_ascii_lowercase()) {
            col.nullable = false;
        }
    }
}

/// A table option as (upper-case key, unquoted value).
fn sql_option(opt: &SqlOption) -> Option<(String, String)> {
    match opt {
        SqlOption::KeyValue { key, value } => Some((key.to_string(), option_value(value))),
        SqlOption::NamedParenthesizedList(l) => Some((l.key.value.clone(), l.name.as_ref()?.value.clone())),
        SqlOption::Comment(c) => {
            let text = match c {
                sqlparser::ast::CommentDef::WithEq(s) | sqlparser::ast::CommentDef::WithoutEq(s) => s.clone(),
            };
            Some(("COMMENT".to_string(), text))
        }
        _ => None,
    }
}

fn option_value(e: &Expr) -> String {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        Expr::Identifier(i) => i.value.clone(),
        other => other.to_string(),
    }
}

/// Sets a table option by MySQL name: charset and collation go to their fields, the rest to `options`.
pub(crate) fn set_table_option(table: &mut Table, key: &str, value: String) {
    let key = key.trim().to_ascii_uppercase();
    let key = key.strip_prefix("DEFAULT ").unwrap_or(&key).trim();
    match key {
        "CHARSET" | "CHARACTER SET" => table.charset = Some(value.to_ascii_lowercase()),
        "COLLATE" => table.collation = Some(value.to_ascii_lowercase()),
        _ => {
            table.options.insert(key.to_string(), value);
        }
    }
}

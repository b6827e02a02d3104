//! `apply(table, ddl)`: one DDL statement applied to a `Table`, reporting what changed. sqlparser reads the
//! statement; an ALTER it rejects goes to `fallback.rs`, which handles what it knows and passes the rest through.

use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, ColumnDef, ColumnOption, ColumnOptionDef, DataType, Ident,
    MySQLColumnPosition, ObjectType, RenameTableNameKind, Statement,
};

use super::fallback;
use super::lexer::{Spanned, tokenize};
use super::parse::{
    Key, add_key, column_from_def, default_text, index_columns, key_from_constraint, last_name, normalize, parse_sql,
    strip_prefix_len, table_from_create,
};
use super::types::ColumnType;
use super::{Applied, Change, SchemaError, Table};

/// The first words of the statements `apply` accepts; anything else is not DDL on a table.
const DDL_KEYWORDS: [&str; 5] = ["ALTER", "CREATE", "DROP", "RENAME", "TRUNCATE"];

/// Applies one DDL statement (ALTER TABLE …, CREATE INDEX, DROP INDEX … ON, RENAME …) to `table`.
///
/// A DDL statement sqlparser cannot read is not an error: an ALTER goes through the fallback, anything else is
/// returned unchanged with `Change::Other` and `fallback: true`. Only a statement that is not DDL at all is.
pub fn apply(table: &Table, ddl: &str) -> Result<Applied, SchemaError> {
    let toks = tokenize(ddl);
    let Some(parsed) = check(ddl, &toks)? else {
        return if toks[0].tok.is_kw("ALTER") {
            fallback::apply_alter(table, ddl, &toks)
        } else {
            Ok(fallback::unparsed(table))
        };
    };
    let mut t = table.clone();
    let mut changes = Vec::new();
    apply_statement(&mut t, &parsed, &mut changes)?;
    normalize(&mut t);
    Ok(Applied { table: t, changes, fallback: false })
}

/// Checks, without a table, that `ddl` is one statement `apply` accepts: a DDL statement on a table
/// (ALTER/CREATE/DROP/RENAME/TRUNCATE). DDL that sqlparser cannot read passes, as `apply` passes it through.
pub fn check_ddl(ddl: &str) -> Result<(), SchemaError> {
    check(ddl, &tokenize(ddl)).map(|_| ())
}

/// The statement if sqlparser reads it, `None` if it is DDL sqlparser cannot read, or why it is not acceptable.
fn check(ddl: &str, toks: &[Spanned]) -> Result<Option<Statement>, SchemaError> {
    let is_ddl = toks.first().is_some_and(|t| DDL_KEYWORDS.iter().any(|kw| t.tok.is_kw(kw)));
    if !is_ddl {
        return Err(SchemaError::NotTableDdl { sql: ddl.to_string() });
    }
    let Ok(mut stmts) = parse_sql(ddl) else { return Ok(None) };
    if stmts.len() != 1 {
        return Err(SchemaError::Parse { sql: ddl.to_string(), reason: "expected exactly one statement".into() });
    }
    Ok(stmts.pop())
}

/// Applies a parsed statement in place, appending to `changes`.
pub(crate) fn apply_statement(t: &mut Table, stmt: &Statement, changes: &mut Vec<Change>) -> Result<(), SchemaError> {
    match stmt {
        Statement::AlterTable(at) => {
            for op in &at.operations {
                apply_op(t, op, changes)?;
            }
        }
        Statement::CreateIndex(ci) => {
            let name = ci.name.as_ref().map(last_name).unwrap_or_default();
            let idx = super::Index { name, unique: ci.unique, columns: index_columns(&ci.columns) };
            add_key(t, Key::Index(idx))?;
            changes.push(Change::AddIndex(t.indexes.last().map(|i| i.name.clone()).unwrap_or_default()));
        }
        Statement::Drop { object_type: ObjectType::Index, names, .. } => {
            for n in names {
                changes.push(drop_index(t, &last_name(n))?);
            }
        }
        Statement::RenameTable(renames) => {
            for r in renames {
                if last_name(&r.old_name).eq_ignore_ascii_case(&t.name) {
                    t.name = last_name(&r.new_name);
                }
            }
            changes.push(Change::Other);
        }
        Statement::CreateTable(ct) => {
            *t = table_from_create(ct)?;
            changes.push(Change::Other);
        }
        _ => changes.push(Change::Other),
    }
    Ok(())
}

fn apply_op(t: &mut Table, op: &AlterTableOperation, changes: &mut Vec<Change>) -> Result<(), SchemaError> {
    use AlterTableOperation as Op;
    match op {
        Op::AddColumn { column_def, column_position, if_not_exists, .. } => {
            add_column(t, column_def, column_position.as_ref(), *if_not_exists, changes)?
        }
        Op::DropColumn { column_names, if_exists, .. } => {
            for n in column_names {
                match t.column_index(&n.value) {
                    Some(i) => {
                        let col = t.columns.remove(i);
                        remove_from_keys(t, &col.name);
                        changes.push(Change::DropColumn(col.name));
                    }
                    None if *if_exists => {}
                    None => return Err(unknown_column(t, &n.value)),
                }
            }
        }
        Op::ModifyColumn { col_name, data_type, options, column_position } => {
            replace_column(t, col_name, col_name, data_type, options, column_position.as_ref(), changes)?;
        }
        Op::ChangeColumn { old_name, new_name, data_type, options, column_position } => {
            replace_column(t, old_name, new_name, data_type, options, column_position.as_ref(), changes)?;
        }
        Op::RenameColumn { old_column_name: from, new_column_name: to } => {
            rename_column(t, &from.value, &to.value)?;
            changes.push(Change::RenameColumn { from: from.value.clone(), to: to.value.clone() });
        }
        Op::AlterColumn { column_name, op } => alter_column(t, &column_name.value, op, changes)?,
        Op::AddConstraint { constraint, .. } => match key_from_constraint(constraint) {
            Some(Key::Primary(cols)) => {
                add_key(t, Key::Primary(cols))?;
                changes.push(Change::PrimaryKey);
            }
            Some(Key::Index(idx)) => {
                add_key(t, Key::Index(idx))?;
                changes.push(Change::AddIndex(t.indexes.last().map(|i| i.name.clone()).unwrap_or_default()));
            }
            None => changes.push(Change::Other),
        },
        Op::DropPrimaryKey { .. } => changes.push(drop_index(t, "PRIMARY")?),
        Op::DropIndex { name } => changes.push(drop_index(t, &name.value)?),
        Op::DropConstraint { name, if_exists, .. } => match drop_index(t, &name.value) {
            Ok(c) => changes.push(c),
            Err(_) if *if_exists => {}
            // A CHECK or FOREIGN KEY constraint: not in the model.
            Err(_) => changes.push(Change::Other),
        },
        Op::RenameTable { table_name: RenameTableNameKind::As(n) | RenameTableNameKind::To(n) } => {
            t.name = last_name(n);
            changes.push(Change::Other);
        }
        Op::AutoIncrement { value, .. } => {
            t.options.insert("AUTO_INCREMENT".into(), value.value.to_string());
            changes.push(Change::TableOptions);
        }
        _ => changes.push(Change::Other),
    }
    Ok(())
}

fn add_column(
    t: &mut Table,
    def: &ColumnDef,
    pos: Option<&MySQLColumnPosition>,
    if_not_exists: bool,
    changes: &mut Vec<Change>,
) -> Result<(), SchemaError> {
    let (col, keys) = column_from_def(def)?;
    if t.column(&col.name).is_some() {
        if if_not_exists {
            return Ok(());
        }
        return Err(SchemaError::DuplicateColumn { table: t.name.clone(), column: col.name });
    }
    let name = col.name.clone();
    let at = position(t, pos, t.columns.len())?;
    t.columns.insert(at, col);
    for k in keys {
        add_key(t, k)?;
    }
    changes.push(Change::AddColumn(name));
    Ok(())
}

/// ALTER COLUMN … SET/DROP DEFAULT (and the non-MySQL forms sqlparser also reads).
fn alter_column(
    t: &mut Table,
    name: &str,
    op: &AlterColumnOperation,
    changes: &mut Vec<Change>,
) -> Result<(), SchemaError> {
    let i = t.column_index(name).ok_or_else(|| unknown_column(t, name))?;
    let col = &mut t.columns[i];
    match op {
        AlterColumnOperation::SetDefault { value } => col.default = default_text(value),
        AlterColumnOperation::DropDefault => col.default = None,
        AlterColumnOperation::SetNotNull => col.nullable = false,
        AlterColumnOperation::DropNotNull => col.nullable = true,
        AlterColumnOperation::SetDataType { data_type, .. } => {
            let ty = data_type.to_string();
            col.ty = ColumnType::parse(&ty).map_err(|reason| SchemaError::BadType {
                column: col.name.clone(),
                ty,
                reason,
            })?;
        }
        _ => {}
    }
    changes.push(Change::ModifyColumn(col.name.clone()));
    Ok(())
}

fn unknown_column(t: &Table, name: &str) -> SchemaError {
    SchemaError::UnknownColumn { table: t.name.clone(), column: name.to_string() }
}

/// Where a column goes: FIRST, AFTER x, or `default`.
fn position(t: &Table, pos: Option<&MySQLColumnPosition>, default: usize) -> Result<usize, SchemaError> {
    match pos {
        None => Ok(default),
        Some(MySQLColumnPosition::First) => Ok(0),
        Some(MySQLColumnPosition::After(id)) => {
            t.column_index(&id.value).map(|i| i + 1).ok_or_else(|| unknown_column(t, &id.value))
        }
    }
}

/// MODIFY / CHANGE: the column's whole definition is replaced, and it may move and be renamed.
fn replace_column(
    t: &mut Table,
    old: &Ident,
    new: &Ident,
    data_type: &DataType,
    options: &[ColumnOption],
    pos: Option<&MySQLColumnPosition>,
    changes: &mut Vec<Change>,
) -> Result<(), SchemaError> {
    let i = t.column_index(&old.value).ok_or_else(|| unknown_column(t, &old.value))?;
    let renamed = !old.value.eq_ignore_ascii_case(&new.value);
    if renamed && t.column(&new.value).is_some() {
        return Err(SchemaError::DuplicateColumn { table: t.name.clone(), column: new.value.clone() });
    }
    let def = ColumnDef {
        name: new.clone(),
        data_type: data_type.clone(),
        options: options.iter().map(|o| ColumnOptionDef { name: None, option: o.clone() }).collect(),
    };
    let (col, keys) = column_from_def(&def)?;
    let old_name = t.columns.remove(i).name;
    if renamed || old_name != col.name {
        rename_in_keys(t, &old_name, &col.name);
    }
    let at = position(t, pos, i)?;
    t.columns.insert(at, col);
    for k in keys {
        add_key(t, k)?;
    }
    if renamed {
        changes.push(Change::RenameColumn { from: old.value.clone(), to: new.value.clone() });
    } else {
        changes.push(Change::ModifyColumn(new.value.clone()));
    }
    Ok(())
}

fn rename_column(t: &mut Table, from: &str, to: &str) -> Result<(), SchemaError> {
    let i = t.column_index(from).ok_or_else(|| unknown_column(t, from))?;
    if !from.eq_ignore_ascii_case(to) && t.column(to).is_some() {
        return Err(SchemaError::DuplicateColumn { table: t.name.clone(), column: to.to_string() });
    }
    let old = std::mem::replace(&mut t.columns[i].name, to.to_string());
    rename_in_keys(t, &old, to);
    Ok(())
}

/// Index parts naming `from` (with or without a prefix length) now name `to`.
fn rename_in_keys(t: &mut Table, from: &str, to: &str) {
    let rename = |part: &mut String| {
        if strip_prefix_len(part).eq_ignore_ascii_case(from) {
            let suffix = part[part.find('(').unwrap_or(part.len())..].to_string();
            *part = format!("{to}{suffix}");
        }
    };
    t.indexes.iter_mut().flat_map(|i| i.columns.iter_mut()).for_each(rename);
    t.primary_key.iter_mut().flatten().for_each(rename);
}

/// MySQL drops a dropped column from every key, and a key left with no column.
fn remove_from_keys(t: &mut Table, name: &str) {
    let keep = |part: &String| !strip_prefix_len(part).eq_ignore_ascii_case(name);
    for idx in &mut t.indexes {
        idx.columns.retain(keep);
    }
    t.indexes.retain(|i| !i.columns.is_empty());
    if let Some(pk) = &mut t.primary_key {
        pk.retain(keep);
        if pk.is_empty() {
            t.primary_key = None;
        }
    }
}

/// Drops an index by name; `PRIMARY` is the primary key.
pub(crate) fn drop_index(t: &mut Table, name: &str) -> Result<Change, SchemaError> {
    if name.eq_ignore_ascii_case("PRIMARY") {
        if t.primary_key.take().is_none() {
            return Err(SchemaError::UnknownIndex { table: t.name.clone(), index: name.to_string() });
        }
        return Ok(Change::PrimaryKey);
    }
    let i = t
        .indexes
        .iter()
        .position(|i| i.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| SchemaError::UnknownIndex { table: t.name.clone(), index: name.to_string() })?;
    Ok(Change::DropIndex(t.indexes.remove(i).name))
}

/// Renames an index (RENAME INDEX a TO b), reported as a drop and an add.
pub(crate) fn rename_index(t: &mut Table, from: &str, to: &str, changes: &mut Vec<Change>) -> Result<(), SchemaError> {
    if t.index(to).is_some() && !from.eq_ignore_ascii_case(to) {
        return Err(SchemaError::DuplicateIndex { table: t.name.clone(), index: to.to_string() });
    }
    let idx = t
        .indexes
        .iter_mut()
        .find(|i| i.name.eq_ignore_ascii_case(from))
        .ok_or_else(|| SchemaError::UnknownIndex { table: t.name.clone(), index: from.to_string() })?;
    let old = std::mem::replace(&mut idx.name, to.to_string());
    changes.push(Change::DropIndex(old));
    changes.push(Change::AddIndex(to.to_string()));
    Ok(())
}

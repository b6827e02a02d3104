//! DM's schema lattice (TiDB `schemacmp`), written for our model. A table is a tuple of:
//! 1. table charset and collation — singletons (must be equal);
//! 2. a column map — per column a tuple (type by width, nullable > NOT NULL, default / generated expression /
//!    charset / collation / auto-increment as singletons); a column missing on one side is the bottom, allowed
//!    only if it is nullable, has a default, or is generated or auto-increment ("column with no default value
//!    cannot be missing");
//! 3. an index map and the primary key — inverted: a missing index is the top, so the side with the index is
//!    smaller and `join` drops every index not identical on both sides.
//!
//! Table name, table options, column comments and integer display widths are not part of the order.
//! `compare(a, b) == Less` ⇔ `join(a, b) == b` (the tests check it over every pair of their tables).

use std::cmp::Ordering;
use std::collections::HashSet;

use super::{Column, Incomparable, Index, JoinConflict, Table};

/// Orders two tables: `Less` when every row `a` accepts `b` accepts too; incomparable names the first cause.
pub fn compare(a: &Table, b: &Table) -> Result<Ordering, Incomparable> {
    singleton("table charset", &a.charset, &b.charset).map_err(incomparable)?;
    singleton("table collation", &a.collation, &b.collation).map_err(incomparable)?;
    let mut acc = Acc::default();
    for ca in &a.columns {
        let what = format!("column `{}`", ca.name);
        match b.column(&ca.name) {
            Some(cb) => acc.push(what, compare_column(ca, cb)?, "is wider or more permissive")?,
            None => {
                missable(ca).map_err(incomparable)?;
                acc.push(what, Ordering::Greater, "exists only in the first table")?;
            }
        }
    }
    for cb in b.columns.iter().filter(|c| a.column(&c.name).is_none()) {
        missable(cb).map_err(incomparable)?;
        acc.push(format!("column `{}`", cb.name), Ordering::Less, "exists only in the second table")?;
    }
    for (name, ia, ib) in index_pairs(a, b) {
        let what = format!("index `{name}`");
        match (ia, ib) {
            (Some(x), Some(y)) if same_index(x, y) => {}
            (Some(x), Some(y)) => {
                return Err(Incomparable {
                    what,
                    reason: format!("defined as {} and as {}", describe(x), describe(y)),
                });
            }
            (Some(_), None) => acc.push(what, Ordering::Less, "exists only in the first table")?,
            (None, _) => acc.push(what, Ordering::Greater, "exists only in the second table")?,
        }
    }
    match (&a.primary_key, &b.primary_key) {
        (Some(x), Some(y)) if same_cols(x, y) => {}
        (Some(x), Some(y)) => {
            let reason = format!("({}) in one table, ({}) in the other", x.join(","), y.join(","));
            return Err(Incomparable { what: "primary key".into(), reason });
        }
        (Some(_), None) => acc.push("primary key".into(), Ordering::Less, "exists only in the first table")?,
        (None, Some(_)) => acc.push("primary key".into(), Ordering::Greater, "exists only in the second table")?,
        (None, None) => {}
    }
    Ok(acc.ord)
}

/// The least upper bound: the smallest table that accepts the rows of both, or the column that prevents it.
pub fn join(a: &Table, b: &Table) -> Result<Table, JoinConflict> {
    match compare(a, b) {
        Ok(Ordering::Less) => return Ok(b.clone()),
        Ok(_) => return Ok(a.clone()),
        Err(_) => {}
    }
    singleton("table charset", &a.charset, &b.charset)?;
    singleton("table collation", &a.collation, &b.collation)?;
    let mut out = a.clone();
    out.columns.clear();
    for ca in &a.columns {
        match b.column(&ca.name) {
            Some(cb) => out.columns.push(join_column(ca, cb)?),
            None => out.columns.push(missable(ca).map(|()| ca.clone())?),
        }
    }
    // Columns only in `b` go after the column that precedes them in `b`.
    let mut after: Option<usize> = None;
    for cb in &b.columns {
        if let Some(i) = out.column_index(&cb.name) {
            after = Some(i);
            continue;
        }
        missable(cb)?;
        let mut at = after.map_or(0, |i| i + 1);
        while out.columns.get(at).is_some_and(|c| b.column(&c.name).is_none()) {
            at += 1; // keep `a`'s own columns that follow the predecessor before it
        }
        out.columns.insert(at, cb.clone());
        after = Some(at);
    }
    out.indexes = a.indexes.iter().filter(|x| b.index(&x.name).is_some_and(|y| same_index(x, y))).cloned().collect();
    out.primary_key = match (&a.primary_key, &b.primary_key) {
        (Some(x), Some(y)) if same_cols(x, y) => Some(x.clone()),
        _ => None,
    };
    Ok(out)
}

/// Orders two definitions of the same column.
fn compare_column(a: &Column, b: &Column) -> Result<Ordering, Incomparable> {
    let what = || format!("column `{}`", a.name);
    column_singletons(a, b).map_err(|reason| Incomparable { what: what(), reason })?;
    let ty = a.ty.compare(&b.ty).ok_or_else(|| Incomparable { what: what(), reason: type_conflict(a, b) })?;
    let null = a.nullable.cmp(&b.nullable);
    super::types::combine(ty, null).ok_or_else(|| Incomparable {
        what: what(),
        reason: format!(
            "type {} vs {} and nullability ({} vs {}) change in opposite directions",
            a.ty,
            b.ty,
            nullability(a),
            nullability(b)
        ),
    })
}

fn join_column(a: &Column, b: &Column) -> Result<Column, JoinConflict> {
    let what = || format!("column `{}`", a.name);
    column_singletons(a, b).map_err(|reason| JoinConflict { what: what(), reason })?;
    let ty = match a.ty.compare(&b.ty) {
        Some(Ordering::Less) => b.ty.clone(),
        Some(_) => a.ty.clone(),
        None => return Err(JoinConflict { what: what(), reason: type_conflict(a, b) }),
    };
    let mut out = if a.ty.compare(&b.ty) == Some(Ordering::Less) { b.clone() } else { a.clone() };
    out.ty = ty;
    out.nullable = a.nullable || b.nullable;
    Ok(out)
}

/// The parts of a column that must be equal on both sides.
fn column_singletons(a: &Column, b: &Column) -> Result<(), String> {
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
    let pairs = [
        ("default", &a.default, &b.default),
        ("generated expression", &a.generated, &b.generated),
        ("charset", &a.charset, &b.charset),
        ("collation", &a.collation, &b.collation),
    ];
    for (what, x, y) in pairs {
        if x.as_ref().map(|s| s.to_ascii_lowercase()) != y.as_ref().map(|s| s.to_ascii_lowercase()) {
            return Err(format!("{what} {} differs from {}", show(x), show(y)));
        }
    }
    if a.auto_increment != b.auto_increment {
        return Err("AUTO_INCREMENT on one side only".into());
    }
    Ok(())
}

fn type_conflict(a: &Column, b: &Column) -> String {
    format!("type {} is incompatible with {}", a.ty, b.ty)
}

fn nullability(c: &Column) -> &'static str {
    if c.nullable { "NULL" } else { "NOT NULL" }
}

/// A column may be absent from a shard only if inserts without it still get a value.
fn missable(c: &Column) -> Result<(), JoinConflict> {
    if c.nullable || c.default.is_some() || c.generated.is_some() || c.auto_increment {
        return Ok(());
    }
    Err(JoinConflict {
        what: format!("column `{}`", c.name),
        reason: "is NOT NULL without a default value, so it cannot be missing from other tables".into(),
    })
}

fn singleton(what: &str, a: &Option<String>, b: &Option<String>) -> Result<(), JoinConflict> {
    if a == b {
        return Ok(());
    }
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
    Err(JoinConflict { what: what.to_string(), reason: format!("{} differs from {}", show(a), show(b)) })
}

fn incomparable(c: JoinConflict) -> Incomparable {
    Incomparable { what: c.what, reason: c.reason }
}

/// Every index name of either table (lowercased, first spelling kept) with its definition on each side.
fn index_pairs<'a>(a: &'a Table, b: &'a Table) -> Vec<(String, Option<&'a Index>, Option<&'a Index>)> {
    let mut seen = HashSet::new();
    a.indexes
        .iter()
        .chain(&b.indexes)
        .filter(|i| seen.insert(i.name.to_ascii_lowercase()))
        .map(|i| (i.name.clone(), a.index(&i.name), b.index(&i.name)))
        .collect()
}

fn same_index(x: &Index, y: &Index) -> bool {
    x.unique == y.unique && same_cols(&x.columns, &y.columns)
}

fn same_cols(x: &[String], y: &[String]) -> bool {
    x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.eq_ignore_ascii_case(q))
}

fn describe(i: &Index) -> String {
    format!("{}({})", if i.unique { "UNIQUE " } else { "" }, i.columns.join(","))
}

/// Folds per-component orderings into one; the first opposite pair makes the tables incomparable.
struct Acc {
    ord: Ordering,
    first: Option<(String, &'static str)>,
}

impl Default for Acc {
    fn default() -> Self {
        Acc { ord: Ordering::Equal, first: None }
    }
}

impl Acc {
    fn push(&mut self, what: String, ord: Ordering, why: &'static str) -> Result<(), Incomparable> {
        match (self.ord, ord) {
            (_, Ordering::Equal) => Ok(()),
            (Ordering::Equal, _) => {
                self.ord = ord;
                self.first = Some((what, why));
                Ok(())
            }
            (cur, new) if cur == new => Ok(()),
            _ => {
                let (fw, fwhy) = self.first.clone().unwrap_or_default();
                let side = |o: Ordering| if o == Ordering::Less { "second" } else { "first" };
                Err(Incomparable {
                    what,
                    reason: format!(
                        "makes the {} table larger, but {fw} makes the {} table larger ({fwhy})",
                        side(ord),
                        side(self.ord)
                    ),
                })
            }
        }
    }
}

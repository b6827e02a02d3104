//! Table schema model shared by master and worker for shard-DDL coordination.
//!
//! A `Table` is read from `CREATE TABLE` (`parse_create_table`), changed by one DDL at a time (`apply`), ordered
//! by DM's schema lattice (`compare`, `join`; rules in `lattice.rs`) and rendered back (`Table::to_create_sql`).
//! Parsing uses sqlparser's MySQL dialect; ALTERs it cannot read go through a small fallback (`fallback.rs`).

mod apply;
mod error;
mod fallback;
mod lattice;
mod lexer;
mod parse;
mod render;
mod types;

#[cfg(test)]
mod apply_tests;
#[cfg(test)]
mod lattice_tests;
#[cfg(test)]
mod parse_tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use apply::{apply, check_ddl};
pub use error::{Incomparable, JoinConflict, SchemaError};
pub use lattice::{compare, join};
pub use parse::parse_create_table;
pub use types::{ColumnType, TypeFamily};

/// One table's schema, as far as shard-DDL coordination needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// Table name as written, without the schema qualifier; not part of the lattice (shards differ in name).
    pub name: String,
    /// Columns in table order; looked up case-insensitively.
    pub columns: Vec<Column>,
    /// Primary key column names, if the table has one.
    pub primary_key: Option<Vec<String>>,
    /// Unique keys and plain indexes (not the primary key).
    pub indexes: Vec<Index>,
    /// Table default charset, lowercased.
    pub charset: Option<String>,
    /// Table default collation, lowercased.
    pub collation: Option<String>,
    /// Other table options (ENGINE, ROW_FORMAT, COMMENT, AUTO_INCREMENT, …) with upper-case keys; kept for
    /// rendering, ignored by `compare` and `join`.
    pub options: BTreeMap<String, String>,
}

/// One column of a `Table`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Name as written; MySQL column names are case-insensitive, so lookups lowercase it.
    pub name: String,
    /// Normalized type.
    pub ty: ColumnType,
    /// False for `NOT NULL` (and for primary-key columns).
    pub nullable: bool,
    /// Default expression as SQL text (`'a'`, `0`, `CURRENT_TIMESTAMP`); `DEFAULT NULL` is stored as `None`.
    pub default: Option<String>,
    /// Generation expression of a generated column (`STORED`/`VIRTUAL` is not kept).
    pub generated: Option<String>,
    /// Column charset, lowercased, if given explicitly.
    pub charset: Option<String>,
    /// Column collation, lowercased, if given explicitly.
    pub collation: Option<String>,
    /// `AUTO_INCREMENT`.
    pub auto_increment: bool,
    /// Column comment; kept for rendering, ignored by the lattice.
    pub comment: Option<String>,
}

/// A unique key or plain index (the primary key is `Table::primary_key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Index name; looked up case-insensitively.
    pub name: String,
    /// `UNIQUE`.
    pub unique: bool,
    /// Indexed columns in order; a prefix part keeps its length, e.g. `c(10)`.
    pub columns: Vec<String>,
}

/// The result of `apply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The table after the DDL.
    pub table: Table,
    /// What the DDL did, in statement order.
    pub changes: Vec<Change>,
    /// True when sqlparser rejected the statement and the fallback read it (`ALTER TABLE t ENGINE=…`). Then
    /// `changes == [Change::Other]` means it was not understood at all and `table` is unchanged: the lock passes
    /// such a DDL through instead of failing.
    pub fallback: bool,
}

/// What a DDL did, for the optimistic keeper's add/drop-column bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// A column was added (name as written).
    AddColumn(String),
    /// A column was dropped.
    DropColumn(String),
    /// A column's definition changed (MODIFY, ALTER COLUMN … DEFAULT, CHANGE without a new name).
    ModifyColumn(String),
    /// A column was renamed (CHANGE a b … or RENAME COLUMN a TO b).
    RenameColumn { from: String, to: String },
    /// An index or unique key was added (or renamed to this name).
    AddIndex(String),
    /// An index or unique key was dropped (or renamed from this name).
    DropIndex(String),
    /// The primary key was added or dropped.
    PrimaryKey,
    /// Table charset, collation or options changed.
    TableOptions,
    /// Anything else (rename table, statements that do not change the model, not understood).
    Other,
}

impl Table {
    /// The column named `name`, compared case-insensitively.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Position of the column named `name`, compared case-insensitively.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The index named `name`, compared case-insensitively.
    pub fn index(&self, name: &str) -> Option<&Index> {
        self.indexes.iter().find(|i| i.name.eq_ignore_ascii_case(name))
    }

    /// Renders a `CREATE TABLE` that `parse_create_table` reads back to an equal `Table`.
    pub fn to_create_sql(&self) -> String {
        render::create_table(self)
    }
}

//! Errors of the schema model: `SchemaError` for parsing and applying DDL, `Incomparable` and `JoinConflict` for
//! the lattice. Each names the column, index or option at fault so a shard-DDL conflict message can point at it.

use thiserror::Error;

/// Parsing a `CREATE TABLE` or applying a DDL failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaError {
    /// The statement is not valid SQL for the MySQL dialect.
    #[error("DDL `{sql}` could not be parsed: {reason}; check the statement's syntax")]
    Parse { sql: String, reason: String },
    /// `parse_create_table` was given something other than one `CREATE TABLE`.
    #[error("`{sql}` is not a CREATE TABLE statement; pass the output of SHOW CREATE TABLE")]
    NotCreateTable { sql: String },
    /// `apply` was given a statement that is not DDL on a table (a SELECT, garbage, …).
    #[error("`{sql}` is not a DDL statement on a table; only ALTER/CREATE/DROP/RENAME statements can be applied")]
    NotTableDdl { sql: String },
    /// The DDL names a column the table does not have.
    #[error("column `{column}` does not exist in table `{table}`; the DDL does not match the table's schema")]
    UnknownColumn { table: String, column: String },
    /// The DDL adds a column the table already has.
    #[error("column `{column}` already exists in table `{table}`; the DDL does not match the table's schema")]
    DuplicateColumn { table: String, column: String },
    /// The DDL names an index the table does not have.
    #[error("index `{index}` does not exist in table `{table}`; the DDL does not match the table's schema")]
    UnknownIndex { table: String, index: String },
    /// The DDL adds an index (or primary key) the table already has.
    #[error("index `{index}` already exists in table `{table}`; the DDL does not match the table's schema")]
    DuplicateIndex { table: String, index: String },
    /// A column type the model cannot represent.
    #[error("column `{column}`: type `{ty}` is not understood: {reason}")]
    BadType { column: String, ty: String, reason: String },
}

/// `compare` found the two tables incomparable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{what}: {reason}")]
pub struct Incomparable {
    /// What differs, e.g. "column `c`", "index `idx`", "table charset".
    pub what: String,
    /// Why the difference makes the tables incomparable.
    pub reason: String,
}

/// `join` found no table that accepts the rows of both.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{what}: {reason}")]
pub struct JoinConflict {
    /// What conflicts, e.g. "column `c`", "table collation".
    pub what: String,
    /// Why no common schema exists.
    pub reason: String,
}

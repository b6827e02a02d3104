//! Tests of `apply`: every ALTER form against one base table, the fallback for statements sqlparser rejects,
//! and the errors that name the missing or duplicate column or index.

use super::*;
use Change::*;

const BASE: &str = "CREATE TABLE t (id int NOT NULL, a int DEFAULT NULL, b varchar(10) NOT NULL DEFAULT '', \
                    PRIMARY KEY (id), KEY idx_a (a)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

fn base() -> Table {
    parse_create_table(BASE).unwrap()
}

/// (DDL, the table after it as CREATE TABLE, changes, fallback)
fn cases() -> Vec<(&'static str, &'static str, Vec<Change>, bool)> {
    const PK: &str = "PRIMARY KEY (id), KEY idx_a (a)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
    const NO_IDX: &str = "PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
    let t = |cols: &str, keys: &str| -> &'static str {
        Box::leak(format!("CREATE TABLE t ({cols}, {keys}").into_boxed_str())
    };
    let cols = "id int NOT NULL, a int, b varchar(10) NOT NULL DEFAULT ''";
    let s = |x: &str| x.to_string();
    vec![
        ("ALTER TABLE t ADD COLUMN c int", t(&format!("{cols}, c int"), PK), vec![AddColumn(s("c"))], false),
        (
            "ALTER TABLE `db`.`t` ADD COLUMN `c` int FIRST",
            t(&format!("c int, {cols}"), PK),
            vec![AddColumn(s("c"))],
            false,
        ),
        (
            "alter table t add c bigint not null default 1 after id",
            t("id int NOT NULL, c bigint NOT NULL DEFAULT 1, a int, b varchar(10) NOT NULL DEFAULT ''", PK),
            vec![AddColumn(s("c"))],
            false,
        ),
        (
            "ALTER TABLE t ADD c int, ADD d int AFTER a",
            t("id int NOT NULL, a int, d int, b varchar(10) NOT NULL DEFAULT '', c int", PK),
            vec![AddColumn(s("c")), AddColumn(s("d"))],
            false,
        ),
        (
            "ALTER TABLE t ADD COLUMN (c int, d text)",
            t(&format!("{cols}, c int, d text"), PK),
            vec![AddColumn(s("c")), AddColumn(s("d"))],
            true,
        ),
        (
            "ALTER TABLE t DROP COLUMN a",
            t("id int NOT NULL, b varchar(10) NOT NULL DEFAULT ''", NO_IDX),
            vec![DropColumn(s("a"))],
            false,
        ),
        (
            "ALTER TABLE t MODIFY COLUMN b varchar(20)",
            t("id int NOT NULL, a int, b varchar(20)", PK),
            vec![ModifyColumn(s("b"))],
            false,
        ),
        (
            "ALTER TABLE t CHANGE a a2 bigint FIRST",
            t(
                "a2 bigint, id int NOT NULL, b varchar(10) NOT NULL DEFAULT ''",
                "PRIMARY KEY (id), KEY idx_a (a2)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            ),
            vec![RenameColumn { from: s("a"), to: s("a2") }],
            false,
        ),
        (
            "ALTER TABLE t CHANGE COLUMN A a int NOT NULL",
            t("id int NOT NULL, a int NOT NULL, b varchar(10) NOT NULL DEFAULT ''", PK),
            vec![ModifyColumn(s("a"))],
            false,
        ),
        (
            "ALTER TABLE t RENAME COLUMN a TO z",
            t(
                "id int NOT NULL, z int, b varchar(10) NOT NULL DEFAULT ''",
                "PRIMARY KEY (id), KEY idx_a (z)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            ),
            vec![RenameColumn { from: s("a"), to: s("z") }],
            false,
        ),
        (
            "ALTER TABLE t ALTER COLUMN a SET DEFAULT 3",
            t("id int NOT NULL, a int DEFAULT 3, b varchar(10) NOT NULL DEFAULT ''", PK),
            vec![ModifyColumn(s("a"))],
            false,
        ),
        (
            "ALTER TABLE t ADD UNIQUE KEY uk_b (b), ADD INDEX (a, b)",
            t(
                cols,
                "PRIMARY KEY (id), KEY idx_a (a), UNIQUE KEY uk_b (b), KEY a (a, b)) \
                 ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            ),
            vec![AddIndex(s("uk_b")), AddIndex(s("a"))],
            false,
        ),
        ("ALTER TABLE t DROP INDEX idx_a", t(cols, NO_IDX), vec![DropIndex(s("idx_a"))], false),
        ("ALTER TABLE t DROP KEY IDX_A", t(cols, NO_IDX), vec![DropIndex(s("idx_a"))], true),
        (
            "ALTER TABLE t RENAME INDEX idx_a TO idx_a2",
            t(cols, "PRIMARY KEY (id), KEY idx_a2 (a)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"),
            vec![DropIndex(s("idx_a")), AddIndex(s("idx_a2"))],
            true,
        ),
        (
            "ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (id, b)",
            t(cols, "PRIMARY KEY (id, b), KEY idx_a (a)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"),
            vec![PrimaryKey, PrimaryKey],
            false,
        ),
        (
            "CREATE UNIQUE INDEX uk ON t (b)",
            t(cols, "PRIMARY KEY (id), KEY idx_a (a), UNIQUE KEY uk (b)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"),
            vec![AddIndex(s("uk"))],
            false,
        ),
        ("DROP INDEX idx_a ON t", t(cols, NO_IDX), vec![DropIndex(s("idx_a"))], false),
        (
            "ALTER TABLE t ENGINE=MyISAM",
            t(cols, "PRIMARY KEY (id), KEY idx_a (a)) ENGINE=MyISAM DEFAULT CHARSET=utf8mb4"),
            vec![TableOptions],
            true,
        ),
        (
            "ALTER TABLE t DEFAULT CHARSET=latin1 COLLATE latin1_bin, ROW_FORMAT=COMPACT, COMMENT 'c'",
            t(
                cols,
                "PRIMARY KEY (id), KEY idx_a (a)) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_bin \
                 ROW_FORMAT=COMPACT COMMENT='c'",
            ),
            vec![TableOptions, TableOptions, TableOptions],
            true,
        ),
        (
            "ALTER TABLE t CONVERT TO CHARACTER SET utf8 COLLATE utf8_bin;",
            t(cols, "PRIMARY KEY (id), KEY idx_a (a)) ENGINE=InnoDB DEFAULT CHARSET=utf8 COLLATE=utf8_bin"),
            vec![TableOptions],
            true,
        ),
        (
            "ALTER TABLE t ADD COLUMN c int, AUTO_INCREMENT=10",
            t(
                &format!("{cols}, c int"),
                "PRIMARY KEY (id), KEY idx_a (a)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 AUTO_INCREMENT=10",
            ),
            vec![AddColumn(s("c")), TableOptions],
            false,
        ),
        (
            "ALTER TABLE t ADD COLUMN c int, ENGINE=InnoDB",
            t(&format!("{cols}, c int"), PK),
            vec![AddColumn(s("c")), TableOptions],
            true,
        ),
        ("ALTER TABLE t PARTITION BY HASH(id) PARTITIONS 4", BASE, vec![Other], true),
        ("ALTER TABLE t ADD c int, FORCE_SOMETHING", BASE, vec![Other], true),
        ("TRUNCATE TABLE t", BASE, vec![Other], false),
        ("RENAME TABLE t TO t_new", BASE, vec![Other], false),
    ]
}

#[test]
fn t20_apply_each_alter_form() {
    for (ddl, want, changes, fallback) in cases() {
        let got = apply(&base(), ddl).unwrap_or_else(|e| panic!("{ddl}: {e}"));
        let mut want = parse_create_table(want).unwrap();
        if ddl.starts_with("RENAME TABLE") {
            want.name = "t_new".into();
        }
        assert_eq!(got.table, want, "{ddl}");
        assert_eq!(got.changes, changes, "{ddl}");
        assert_eq!(got.fallback, fallback, "{ddl}");
    }
}

#[test]
fn t21_convert_to_changes_explicit_column_charsets() {
    let t =
        parse_create_table("CREATE TABLE t (a varchar(5) CHARACTER SET latin1, b int) DEFAULT CHARSET=latin1").unwrap();
    let got = apply(&t, "ALTER TABLE t CONVERT TO CHARSET utf8mb4").unwrap().table;
    // The column's explicit charset now repeats the table's, so it is dropped as SHOW CREATE TABLE would.
    assert_eq!(got.column("a").unwrap().charset, None);
    assert_eq!(got.column("b").unwrap().charset, None);
    assert_eq!(got.charset.as_deref(), Some("utf8mb4"));
}

#[test]
fn t22_drop_column_leaves_keys() {
    let t = parse_create_table("CREATE TABLE t (a int, b int, KEY k1 (a, b), KEY k2 (b))").unwrap();
    let got = apply(&t, "ALTER TABLE t DROP COLUMN b").unwrap().table;
    assert_eq!(got.indexes, [Index { name: "k1".into(), unique: false, columns: vec!["a".into()] }]);
}

#[test]
fn t23_apply_errors_name_the_culprit() {
    let cases = [
        ("ALTER TABLE t DROP COLUMN nope", "column `nope` does not exist"),
        ("ALTER TABLE t ADD COLUMN A int", "column `A` already exists"),
        ("ALTER TABLE t CHANGE a b int", "column `b` already exists"),
        ("ALTER TABLE t MODIFY zz int", "column `zz` does not exist"),
        ("ALTER TABLE t ADD COLUMN c int AFTER zz", "column `zz` does not exist"),
        ("ALTER TABLE t DROP INDEX nope", "index `nope` does not exist"),
        ("ALTER TABLE t DROP KEY nope", "index `nope` does not exist"),
        ("ALTER TABLE t RENAME INDEX nope TO x", "index `nope` does not exist"),
        ("ALTER TABLE t ADD INDEX idx_a (b)", "index `idx_a` already exists"),
        ("ALTER TABLE t ADD PRIMARY KEY (a)", "index `PRIMARY` already exists"),
        ("ALTER TABLE t ADD INDEX k (zz)", "column `zz` does not exist"),
        ("SELECT * FROM t", "is not a DDL statement"),
        ("hello world", "is not a DDL statement"),
        ("", "is not a DDL statement"),
    ];
    for (ddl, want) in cases {
        let err = apply(&base(), ddl).unwrap_err().to_string();
        assert!(err.contains(want), "{ddl}: {err}");
    }
}

#[test]
fn t24_unparseable_ddl_passes_through() {
    for ddl in ["ALTER TABLE", "CREATE SOMETHING WEIRD", "DROP ???", "ALTER TABLE t ADD COLUMN (a int"] {
        let got = apply(&base(), ddl).unwrap_or_else(|e| panic!("{ddl}: {e}"));
        assert_eq!(got, Applied { table: base(), changes: vec![Other], fallback: true }, "{ddl}");
    }
}

#[test]
fn t25_create_table_replaces_the_model() {
    let got = apply(&base(), "CREATE TABLE t (x int)").unwrap();
    assert_eq!(got.table, parse_create_table("CREATE TABLE t (x int)").unwrap());
    assert_eq!(got.changes, [Other]);
}

#[test]
fn t26_check_ddl_without_a_table() {
    let ok = [
        "ALTER TABLE t ADD c int",
        "ALTER TABLE t ENGINE=InnoDB",
        "CREATE INDEX i ON t (a)",
        "DROP ???",
        "RENAME TABLE a TO b",
    ];
    for ddl in ok {
        assert_eq!(check_ddl(ddl), Ok(()), "{ddl}");
    }
    let bad = [
        ("SELECT 1", "is not a DDL statement"),
        ("  ", "is not a DDL statement"),
        ("ALTER TABLE t ADD c int; ALTER TABLE t ADD d int", "expected exactly one statement"),
    ];
    for (ddl, want) in bad {
        let err = check_ddl(ddl).unwrap_err().to_string();
        assert!(err.contains(want), "{ddl}: {err}");
        assert!(apply(&base(), ddl).is_err(), "{ddl}");
    }
}

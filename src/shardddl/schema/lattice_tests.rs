//! Tests of `compare` and `join` over DM's shard-DDL scenarios, and the property that ties them together:
//! for every pair of tables used here, `compare(a, b) == Less` ⇔ `join(a, b) == b`, and so on.

use std::cmp::Ordering::{self, *};

use super::*;

/// Compare result: an ordering, or incomparable with a message containing the text.
enum Cmp {
    Is(Ordering),
    Not(&'static str),
}
use Cmp::*;

/// Join result: the joined columns and keys (inside `CREATE TABLE t (…)`), or a conflict containing the text.
enum Join {
    To(&'static str),
    Conflict(&'static str),
}
use Join::*;

const ID: &str = "id int NOT NULL, ";

/// (scenario, a, b, compare(a, b), join(a, b)); a and b are the column lists of `CREATE TABLE t (…)`.
fn cases() -> Vec<(&'static str, &'static str, &'static str, Cmp, Join)> {
    vec![
        ("same", "a int", "a int", Is(Equal), To("a int")),
        ("same, other case and comment", "a int COMMENT 'x'", "A int", Is(Equal), To("a int COMMENT 'x'")),
        ("add nullable column", "a int", "a int, b int", Is(Less), To("a int, b int")),
        (
            "add column with default",
            "a int, b int NOT NULL DEFAULT 0",
            "a int",
            Is(Greater),
            To("a int, b int NOT NULL DEFAULT 0"),
        ),
        (
            "add NOT NULL without default",
            "a int",
            "a int, b int NOT NULL",
            Not("column `b`: is NOT NULL without a default"),
            Conflict("column `b`: is NOT NULL without a default"),
        ),
        (
            "add auto-increment",
            "a int",
            "a int, b int NOT NULL AUTO_INCREMENT",
            Is(Less),
            To("a int, b int NOT NULL AUTO_INCREMENT"),
        ),
        (
            "add generated",
            "a int",
            "a int, g int GENERATED ALWAYS AS (a + 1) VIRTUAL NOT NULL",
            Is(Less),
            To("a int, g int GENERATED ALWAYS AS (a + 1) VIRTUAL NOT NULL"),
        ),
        (
            "different new columns",
            "a int, x int",
            "a int, y int",
            Not("column `y`: makes the second table larger"),
            To("a int, x int, y int"),
        ),
        (
            "new column placed after its predecessor",
            "a int, c int",
            "a int, b int, c int",
            Is(Less),
            To("a int, b int, c int"),
        ),
        ("partial drop of nullable", "a int, b int", "a int", Is(Greater), To("a int, b int")),
        ("wider varchar", "a varchar(10)", "a varchar(20)", Is(Less), To("a varchar(20)")),
        ("wider int", "a bigint", "a int", Is(Greater), To("a bigint")),
        ("int display width ignored", "a int(11)", "a int(10)", Is(Equal), To("a int(11)")),
        (
            "int vs varchar",
            "a int",
            "a varchar(10)",
            Not("column `a`: type int is incompatible with varchar(10)"),
            Conflict("column `a`: type int is incompatible with varchar(10)"),
        ),
        (
            "signed vs unsigned",
            "a int",
            "a int unsigned",
            Not("type int is incompatible with int unsigned"),
            Conflict("type int is incompatible with int unsigned"),
        ),
        ("char vs varchar", "a char(10)", "a varchar(10)", Not("incompatible"), Conflict("incompatible")),
        ("text family", "a text", "a mediumtext", Is(Less), To("a mediumtext")),
        ("text vs blob", "a text", "a blob", Not("incompatible"), Conflict("incompatible")),
        ("float vs double", "a double", "a float", Is(Greater), To("a double")),
        (
            "decimal precision",
            "a decimal(10,2)",
            "a decimal(12,2)",
            Not("type decimal(10,2) is incompatible with decimal(12,2)"),
            Conflict("decimal(10,2) is incompatible"),
        ),
        ("enum appended value", "a enum('x','y')", "a enum('x','y','z')", Is(Less), To("a enum('x','y','z')")),
        ("enum reordered", "a enum('x','y')", "a enum('y','x')", Not("incompatible"), Conflict("incompatible")),
        (
            "quoted and bare number defaults",
            "a int DEFAULT 0, b double DEFAULT -1.5, c varchar(3) DEFAULT \"x\", d tinyint(1) DEFAULT TRUE",
            "a int DEFAULT '0', b double DEFAULT '-1.5', c varchar(3) DEFAULT 'x', d bool DEFAULT '1'",
            Is(Equal),
            To("a int DEFAULT 0, b double DEFAULT -1.5, c varchar(3) DEFAULT \"x\", d tinyint(1) DEFAULT TRUE"),
        ),
        (
            "column charset repeating the table's",
            "a varchar(5)",
            "a varchar(5) CHARACTER SET utf8mb4",
            Is(Equal),
            To("a varchar(5)"),
        ),
        ("nullable wider", "a int NOT NULL", "a int", Is(Less), To("a int")),
        ("type wider, nullability narrower", "a bigint NOT NULL", "a int", Not("opposite directions"), To("a bigint")),
        (
            "different defaults",
            "a int DEFAULT 1",
            "a int DEFAULT 2",
            Not("column `a`: default '1' differs from '2'"),
            Conflict("column `a`: default '1' differs from '2'"),
        ),
        (
            "default vs none",
            "a int DEFAULT 1",
            "a int",
            Not("default '1' differs from none"),
            Conflict("default '1' differs from none"),
        ),
        (
            "generated expression",
            "a int, g int GENERATED ALWAYS AS (a + 1) VIRTUAL",
            "a int, g int GENERATED ALWAYS AS (a + 2) VIRTUAL",
            Not("column `g`: generated expression"),
            Conflict("column `g`: generated expression"),
        ),
        (
            "column charset",
            "a varchar(5) CHARACTER SET latin1",
            "a varchar(5) CHARACTER SET ascii",
            Not("column `a`: charset latin1 differs from ascii"),
            Conflict("charset latin1 differs"),
        ),
        (
            "column collation",
            "a varchar(5) COLLATE utf8mb4_bin",
            "a varchar(5) COLLATE utf8mb4_general_ci",
            Not("column `a`: collation"),
            Conflict("column `a`: collation"),
        ),
        (
            "rename via CHANGE",
            "a int NOT NULL",
            "b int NOT NULL",
            Not("column `a`: is NOT NULL without a default"),
            Conflict("column `a`: is NOT NULL without a default"),
        ),
        ("rename of nullable", "a int", "b int", Not("makes the"), To("a int, b int")),
        ("index added on one side", "a int, KEY k (a)", "a int", Is(Less), To("a int")),
        (
            "index differs",
            "a int, b int, KEY k (a)",
            "a int, b int, KEY k (a, b)",
            Not("index `k`: defined as (a) and as (a,b)"),
            To("a int, b int"),
        ),
        ("unique vs plain", "a int, UNIQUE KEY k (a)", "a int, KEY k (a)", Not("index `k`"), To("a int")),
        ("index and column added", "a int, KEY k (a)", "a int, b int", Is(Less), To("a int, b int")),
        ("index vs column", "a int, b int, KEY k (a)", "a int", Not("makes the"), To("a int, b int")),
        ("primary key added", "a int NOT NULL", "a int NOT NULL, PRIMARY KEY (a)", Is(Greater), To("a int NOT NULL")),
        (
            "primary key changed",
            "a int NOT NULL, b int NOT NULL, PRIMARY KEY (a)",
            "a int NOT NULL, b int NOT NULL, PRIMARY KEY (a, b)",
            Not("primary key: (a) in one table, (a,b) in the other"),
            To("a int NOT NULL, b int NOT NULL"),
        ),
        ("wider column, index kept", "a int, KEY k (a)", "a bigint, KEY k (a)", Is(Less), To("a bigint, KEY k (a)")),
    ]
}

fn table(cols: &str) -> Table {
    parse_create_table(&format!("CREATE TABLE t ({ID}{cols}) DEFAULT CHARSET=utf8mb4"))
        .unwrap_or_else(|e| panic!("{cols}: {e}"))
}

#[test]
fn t30_compare_and_join_scenarios() {
    for (name, a, b, cmp, joined) in cases() {
        let (ta, tb) = (table(a), table(b));
        match (compare(&ta, &tb), cmp) {
            (Ok(got), Is(want)) => assert_eq!(got, want, "{name}: compare"),
            (Err(e), Not(want)) => assert!(e.to_string().contains(want), "{name}: compare said {e}"),
            (got, _) => panic!("{name}: compare gave {got:?}"),
        }
        match (join(&ta, &tb), joined) {
            (Ok(got), To(want)) => assert_eq!(got, table(want), "{name}: join"),
            (Err(e), Conflict(want)) => assert!(e.to_string().contains(want), "{name}: join said {e}"),
            (got, _) => panic!("{name}: join gave {got:?}"),
        }
    }
}

#[test]
fn t31_table_charset_and_collation_are_singletons() {
    let cases = [
        ("DEFAULT CHARSET=utf8mb4", "DEFAULT CHARSET=latin1", "table charset: utf8mb4 differs from latin1"),
        ("COLLATE=utf8mb4_bin", "COLLATE=utf8mb4_general_ci", "table collation: utf8mb4_bin differs"),
    ];
    for (a, b, want) in cases {
        let ta = parse_create_table(&format!("CREATE TABLE t (a int) {a}")).unwrap();
        let tb = parse_create_table(&format!("CREATE TABLE t (a int) {b}")).unwrap();
        assert!(compare(&ta, &tb).unwrap_err().to_string().contains(want));
        assert!(join(&ta, &tb).unwrap_err().to_string().contains(want));
    }
}

#[test]
fn t32_name_and_table_options_are_ignored() {
    let a = parse_create_table("CREATE TABLE t_01 (a int) ENGINE=InnoDB COMMENT='x'").unwrap();
    let b = parse_create_table("CREATE TABLE t_02 (a int) ENGINE=MyISAM").unwrap();
    assert_eq!(compare(&a, &b), Ok(Equal));
    assert_eq!(join(&a, &b), Ok(a.clone()));
}

/// Every table of `cases()` against every other: compare and join agree, and both are symmetric.
#[test]
fn t33_compare_is_consistent_with_join() {
    let mut tables: Vec<Table> = cases().iter().flat_map(|(_, a, b, _, _)| [table(a), table(b)]).collect();
    let before = parse_create_table(SHARD_BEFORE).unwrap();
    tables.extend(SHARD_DDLS.iter().map(|(ddl, _, _)| apply(&before, ddl).unwrap().table));
    tables.push(before);
    for a in &tables {
        for b in &tables {
            let (cmp, joined) = (compare(a, b), join(a, b));
            let ctx = || format!("\na = {}\nb = {}", a.to_create_sql(), b.to_create_sql());
            assert_eq!(compare(b, a).map(Ordering::reverse).ok(), cmp.clone().ok(), "compare symmetric{}", ctx());
            assert_eq!(join(b, a).is_ok(), joined.is_ok(), "join symmetric{}", ctx());
            match cmp {
                Ok(Less) => assert_eq!(joined.as_ref(), Ok(b), "Less ⇒ join = b{}", ctx()),
                Ok(Greater) => assert_eq!(joined.as_ref(), Ok(a), "Greater ⇒ join = a{}", ctx()),
                Ok(Equal) => assert_eq!(joined.as_ref(), Ok(a), "Equal ⇒ join = a{}", ctx()),
                Err(_) => {
                    if let Ok(j) = &joined {
                        assert_eq!(compare(a, j), Ok(Less), "incomparable ⇒ a < join{}", ctx());
                        assert_eq!(compare(b, j), Ok(Less), "incomparable ⇒ b < join{}", ctx());
                        assert_eq!(compare(&join(b, a).unwrap(), j), Ok(Equal), "join commutes{}", ctx());
                    }
                }
            }
            if joined.as_ref() == Ok(b) {
                assert!(matches!(cmp, Ok(Less | Equal)), "join = b ⇒ a ≤ b{}", ctx());
            }
        }
    }
}

/// The table every shard starts from in `t34`, and the DDLs one shard runs on it.
const SHARD_BEFORE: &str = "CREATE TABLE t (id int NOT NULL, a int, b varchar(10) NOT NULL DEFAULT '', c int NOT NULL, \
                            PRIMARY KEY (id), KEY idx_a (a)) DEFAULT CHARSET=utf8mb4";
const SHARD_DDLS: [(&str, Result<Ordering, &str>, bool); 15] = [
    ("ALTER TABLE t ADD COLUMN d int", Ok(Greater), true),
    ("ALTER TABLE t ADD COLUMN d int NOT NULL DEFAULT 0", Ok(Greater), true),
    ("ALTER TABLE t ADD COLUMN d int NOT NULL", Err("column `d`: is NOT NULL without a default"), false),
    ("ALTER TABLE t DROP COLUMN b", Ok(Less), true),
    // Dropping an indexed column drops its index too: smaller by the column, larger by the index.
    ("ALTER TABLE t DROP COLUMN a", Err("index `idx_a`: makes the first table larger"), true),
    ("ALTER TABLE t DROP COLUMN c", Err("column `c`: is NOT NULL without a default"), false),
    ("ALTER TABLE t MODIFY b varchar(20) NOT NULL DEFAULT ''", Ok(Greater), true),
    ("ALTER TABLE t MODIFY b varchar(5) NOT NULL DEFAULT ''", Ok(Less), true),
    ("ALTER TABLE t MODIFY a varchar(10)", Err("column `a`: type varchar(10) is incompatible with int"), false),
    ("ALTER TABLE t CHANGE a a2 int", Err("makes the"), true),
    ("ALTER TABLE t CHANGE c c2 int NOT NULL", Err("column `c2`: is NOT NULL without a default"), false),
    ("ALTER TABLE t ADD INDEX idx_b (b)", Ok(Less), true),
    ("ALTER TABLE t DROP INDEX idx_a", Ok(Greater), true),
    ("ALTER TABLE t CONVERT TO CHARACTER SET latin1", Err("table charset: latin1 differs from utf8mb4"), false),
    ("ALTER TABLE t ENGINE=MyISAM", Ok(Equal), true),
];

/// DM's shard-DDL flow: one shard runs a DDL, the others have not yet. `want` is compare(shard that ran it, the
/// others), or the text of the incomparable reason; `join_ok` says whether a joined schema exists.
#[test]
fn t34_one_shard_runs_a_ddl() {
    let old = parse_create_table(SHARD_BEFORE).unwrap();
    for (ddl, want, join_ok) in SHARD_DDLS {
        let new = apply(&old, ddl).unwrap().table;
        match (compare(&new, &old), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{ddl}"),
            (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{ddl}: {e}"),
            (got, _) => panic!("{ddl}: compare gave {got:?}"),
        }
        assert_eq!(join(&new, &old).is_ok(), join_ok, "{ddl}: {:?}", join(&new, &old));
    }
}

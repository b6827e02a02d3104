//! Tests of `parse_create_table` and `Table::to_create_sql`: what is read from SHOW CREATE TABLE output, and the
//! round trip parse → render → parse.

use super::*;

const FULL: &str = "CREATE TABLE `db`.`T1` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT COMMENT 'row id',
  `Name` varchar(20) CHARACTER SET latin1 COLLATE latin1_BIN DEFAULT 'a''b',
  `price` decimal(10,2) NOT NULL DEFAULT '0.00',
  `kind` enum('x','y') DEFAULT NULL,
  `g` int GENERATED ALWAYS AS (id + 1) VIRTUAL,
  `body` text,
  `ts` datetime(3) DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_name` (`Name`),
  KEY `idx_kind` (`kind`,`body`(10))
) ENGINE=InnoDB DEFAULT CHARSET=UTF8MB4 COLLATE=utf8mb4_general_ci AUTO_INCREMENT=5 ROW_FORMAT=DYNAMIC COMMENT='it''s'";

#[test]
fn t10_parse_reads_every_part() {
    let t = parse_create_table(FULL).unwrap();
    assert_eq!(t.name, "T1");
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "Name", "price", "kind", "g", "body", "ts"]);
    let id = t.column("ID").unwrap();
    assert_eq!(id.ty.to_string(), "int(11) unsigned");
    assert!(!id.nullable && id.auto_increment);
    assert_eq!(id.comment.as_deref(), Some("row id"));
    let name = t.column("name").unwrap();
    assert_eq!((name.charset.as_deref(), name.collation.as_deref()), (Some("latin1"), Some("latin1_bin")));
    assert_eq!(name.default.as_deref(), Some("'a''b'"));
    assert_eq!(
        t.column("price").unwrap().ty,
        ColumnType { scale: Some(2), ..ColumnType::parse("decimal(10)").unwrap() }
    );
    let kind = t.column("kind").unwrap();
    assert_eq!(
        (kind.ty.values.clone(), kind.default.clone(), kind.nullable),
        (vec!["x".into(), "y".into()], None, true)
    );
    assert_eq!(t.column("g").unwrap().generated.as_deref(), Some("id + 1"));
    assert_eq!(t.primary_key, Some(vec!["id".to_string()]));
    assert_eq!(t.indexes[0], Index { name: "uk_name".into(), unique: true, columns: vec!["Name".into()] });
    assert_eq!(t.indexes[1].columns, ["kind", "body(10)"]);
    assert_eq!((t.charset.as_deref(), t.collation.as_deref()), (Some("utf8mb4"), Some("utf8mb4_general_ci")));
    let opts: Vec<(&str, &str)> = t.options.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(opts, [("AUTO_INCREMENT", "5"), ("COMMENT", "it's"), ("ENGINE", "InnoDB"), ("ROW_FORMAT", "DYNAMIC")]);
}

#[test]
fn t11_inline_keys_and_defaults() {
    let t = parse_create_table("CREATE TABLE t (a INT PRIMARY KEY, b INT UNIQUE, c INT NULL DEFAULT NULL, KEY (b))")
        .unwrap();
    assert_eq!(t.primary_key, Some(vec!["a".to_string()]));
    assert!(!t.column("a").unwrap().nullable);
    // Unnamed keys are named after their first column, as MySQL does.
    let names: Vec<&str> = t.indexes.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["b", "b_2"]);
    assert_eq!(t.column("c").unwrap().default, None);
}

#[test]
fn t12_round_trip() {
    let cases = [
        FULL,
        "CREATE TABLE t (a int)",
        "CREATE TABLE IF NOT EXISTS `we``ird` (`a b` bigint(20) zerofill NOT NULL, `c` set('p','q') DEFAULT 'p')",
        "CREATE TABLE t (a double(8,3) DEFAULT -1.5, b char(1), c varbinary(16), d json, e bit(1) DEFAULT b'1')",
        "CREATE TABLE t (a int NOT NULL, b int NOT NULL, PRIMARY KEY (a, b), UNIQUE KEY u (b, a)) ENGINE=MyISAM",
        "CREATE TABLE t (a timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, b longblob)",
        "CREATE TABLE t (a int) COMMENT='x y' DEFAULT CHARSET=latin1",
        "CREATE TABLE t (a varchar(5) DEFAULT 'a\\\\b', b varchar(5) DEFAULT \"it's\" COMMENT 'c\\'d')",
    ];
    for sql in cases {
        let t = parse_create_table(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let rendered = t.to_create_sql();
        let back = parse_create_table(&rendered).unwrap_or_else(|e| panic!("{rendered}: {e}"));
        assert_eq!(back, t, "{rendered}");
    }
}

#[test]
fn t13_parse_errors_say_what_is_wrong() {
    let cases: [(&str, &str); 4] = [
        ("CREATE TABLE t (a int", "could not be parsed"),
        ("SELECT 1", "is not a CREATE TABLE statement"),
        ("CREATE TABLE t (a int, KEY k (zz))", "column `zz` does not exist"),
        ("CREATE TABLE t (a int, KEY k (a), KEY K (a))", "index `K` already exists"),
    ];
    for (sql, want) in cases {
        let err = parse_create_table(sql).unwrap_err().to_string();
        assert!(err.contains(want), "{sql}: {err}");
    }
}

#[test]
fn t14_serde_round_trip() {
    let t = parse_create_table(FULL).unwrap();
    let json = serde_json::to_string(&t).unwrap();
    assert_eq!(serde_json::from_str::<Table>(&json).unwrap(), t);
}

#[test]
fn t15_every_mysql_type_parses() {
    let cases = [
        ("tinyint(4)", "tinyint(4)"),
        ("SMALLINT UNSIGNED", "smallint unsigned"),
        ("mediumint(8) unsigned", "mediumint(8) unsigned"),
        ("bigint(20) unsigned zerofill", "bigint(20) unsigned zerofill"),
        ("float", "float"),
        ("double(10,4)", "double(10,4)"),
        ("real", "double"),
        ("bool", "tinyint(1)"),
        ("decimal(65,30)", "decimal(65,30)"),
        ("char(1)", "char(1)"),
        ("binary(16)", "binary(16)"),
        ("varbinary(255)", "varbinary(255)"),
        ("tinytext", "tinytext"),
        ("longtext", "longtext"),
        ("mediumblob", "mediumblob"),
        ("date", "date"),
        ("time(6)", "time(6)"),
        ("timestamp(3)", "timestamp(3)"),
        ("year", "year"),
        ("bit(8)", "bit(8)"),
        ("json", "json"),
        ("set('a','b')", "set('a','b')"),
    ];
    for (ty, want) in cases {
        let t = parse_create_table(&format!("CREATE TABLE t (c {ty})")).unwrap_or_else(|e| panic!("{ty}: {e}"));
        assert_eq!(t.columns[0].ty.to_string(), want, "{ty}");
    }
}

//! DM's task `adjust` as pure functions over the decoded file: task-level values, the named rules,
//! then each instance (references, name-or-inline, unit settings with thread overrides), then
//! global rules nobody uses. The order follows DM so the same file fails on the same rule.

use std::collections::{BTreeMap, BTreeSet};

use super::ConfigError;
use super::source::MAX_SOURCE_ID_LEN;
use super::task::{CollationCompatible, InstanceFile, MysqlInstance, ShardMode, TaskConfig, TaskFile, TaskMode};
use super::yaml::{check_key_safe, invalid};

/// DM's precheck items that `ignore-checking-items` may name (`checking_item.go`).
const CHECKING_ITEMS: &[&str] = &[
    "all",
    "dump_privilege",
    "replication_privilege",
    "version",
    "server_id",
    "binlog_enable",
    "binlog_format",
    "binlog_row_image",
    "table_schema",
    "schema_of_shard_tables",
    "auto_increment_ID",
    "online_ddl",
    "binlog_db",
    "meta_position",
    "conn_number",
    "target_privilege",
    "empty_region",
    "region_distribution",
    "downstream_version",
    "free_space",
    "downstream_mutex_features",
];

/// Task-level values decided before the instances.
struct Head {
    task_mode: TaskMode,
    shard_mode: Option<ShardMode>,
    collation: CollationCompatible,
    online_ddl: bool,
}

/// Checks and resolves a decoded task file.
pub(crate) fn adjust(mut f: TaskFile) -> Result<TaskConfig, ConfigError> {
    let mut warnings = Vec::new();
    let head = check_head(&f, &mut warnings)?;
    let target_database = f
        .target_database
        .take()
        .ok_or_else(|| invalid("target-database", "is missing; give the downstream's host, port, user and password"))?;
    target_database.check("target-database")?;
    if f.mysql_instances.is_empty() {
        return Err(invalid("mysql-instances", "is empty; list at least one source to migrate from"));
    }
    check_global_rules(&mut f, &mut warnings)?;
    let raw = std::mem::take(&mut f.mysql_instances);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut instances = Vec::with_capacity(raw.len());
    for (i, inst) in raw.into_iter().enumerate() {
        let inst = check_instance(&f, i, inst, head.task_mode, &mut warnings)?;
        if let Some(&first) = seen.get(&inst.source_id) {
            return Err(ConfigError::DuplicateSourceId { source_id: inst.source_id, first, second: i });
        }
        seen.insert(inst.source_id.clone(), i);
        instances.push(inst);
    }
    check_unused(&f, &instances)?;
    check_timezone(&f.timezone)?;
    check_import_modes(&instances)?;
    legacy_warnings(&f, &mut warnings);
    Ok(build(f, head, target_database, instances, warnings))
}

fn build(
    f: TaskFile,
    head: Head,
    target_database: super::db::DbConfig,
    instances: Vec<MysqlInstance>,
    warnings: Vec<String>,
) -> TaskConfig {
    TaskConfig {
        name: f.name,
        task_mode: head.task_mode,
        shard_mode: head.shard_mode,
        strict_optimistic_shard_mode: f.strict_optimistic_shard_mode,
        ignore_checking_items: f.ignore_checking_items,
        meta_schema: if f.meta_schema.is_empty() { "dm_meta".into() } else { f.meta_schema },
        timezone: f.timezone,
        case_sensitive: f.case_sensitive,
        collation_compatible: head.collation,
        online_ddl: head.online_ddl,
        shadow_table_rules: f.shadow_table_rules,
        trash_table_rules: f.trash_table_rules,
        clean_dump_file: f.clean_dump_file,
        target_database,
        mysql_instances: instances,
        routes: f.routes,
        filters: f.filters,
        block_allow_list: f.block_allow_list,
        expression_filter: f.expression_filter,
        mydumpers: f.mydumpers,
        loaders: f.loaders,
        syncers: f.syncers,
        validators: f.validators,
        experimental: f.experimental,
        mariadb2tidb: f.mariadb2tidb.unwrap_or_default(),
        warnings,
    }
}

/// name, task-mode, shard-mode, column-mappings, collation, checking items, online DDL.
fn check_head(f: &TaskFile, warnings: &mut Vec<String>) -> Result<Head, ConfigError> {
    if f.name.trim().is_empty() {
        return Err(invalid("name", "is empty; give the task a name that is unique in the cluster"));
    }
    let task_mode = TaskMode::parse(&f.task_mode).ok_or_else(|| {
        invalid("task-mode", format!("\"{}\": use full, incremental or all (or dump, load, load&sync)", f.task_mode))
    })?;
    let shard_mode = match f.shard_mode.as_str() {
        "" if f.is_sharding => Some(ShardMode::Pessimistic),
        "" => None,
        "pessimistic" => Some(ShardMode::Pessimistic),
        "optimistic" => Some(ShardMode::Optimistic),
        other => return Err(invalid("shard-mode", format!("\"{other}\": use pessimistic or optimistic"))),
    };
    if f.strict_optimistic_shard_mode && shard_mode != Some(ShardMode::Optimistic) {
        let reason = "is true but shard-mode is not optimistic; set shard-mode: optimistic or remove it";
        return Err(invalid("strict-optimistic-shard-mode", reason));
    }
    let mapping_rules = f.mysql_instances.iter().any(|i| !i.column_mapping_rules.is_empty());
    if !f.column_mappings.is_empty() || mapping_rules {
        let hint = "DM removed column mapping; remove column-mappings and column-mapping-rules \
                    (routes can extract-table/extract-schema/extract-source into a column)";
        return Err(ConfigError::Deprecated { key: "column-mappings", hint });
    }
    let collation = match f.collation_compatible.as_str() {
        "" | "loose" => CollationCompatible::Loose,
        "strict" => CollationCompatible::Strict,
        other => return Err(invalid("collation_compatible", format!("\"{other}\": use loose or strict"))),
    };
    for item in &f.ignore_checking_items {
        if !CHECKING_ITEMS.contains(&item.as_str()) {
            let reason = format!("unknown item \"{item}\"; use one of {}", CHECKING_ITEMS.join(", "));
            return Err(invalid("ignore-checking-items", reason));
        }
    }
    let online_ddl = match f.online_ddl_scheme.as_str() {
        "" => f.online_ddl,
        "pt" | "gh-ost" => {
            warnings.push("online-ddl-scheme is deprecated; use online-ddl: true instead".into());
            true
        }
        other => return Err(invalid("online-ddl-scheme", format!("\"{other}\": remove it and set online-ddl: true"))),
    };
    Ok(Head { task_mode, shard_mode, collation, online_ddl })
}

/// Checks every named rule and unit config once, where it is defined.
fn check_global_rules(f: &mut TaskFile, warnings: &mut Vec<String>) -> Result<(), ConfigError> {
    if f.block_allow_list.is_empty() && !f.black_white_list.is_empty() {
        f.block_allow_list = std::mem::take(&mut f.black_white_list);
    }
    for (name, rule) in &f.routes {
        rule.check(&format!("routes.{name}"))?;
    }
    for (name, rule) in &mut f.filters {
        rule.check(&format!("filters.{name}"))?;
    }
    for (name, rule) in &f.block_allow_list {
        rule.check(&format!("block-allow-list.{name}"))?;
    }
    for (name, rule) in &f.expression_filter {
        rule.check(&format!("expression-filter.{name}"))?;
    }
    for (name, cfg) in &mut f.mydumpers {
        cfg.adjust(&format!("mydumpers.{name}"))?;
    }
    for (name, cfg) in &mut f.loaders {
        cfg.adjust(&format!("loaders.{name}"))?;
    }
    for (name, cfg) in &mut f.syncers {
        warnings.extend(cfg.adjust(&format!("syncers.{name}"))?);
    }
    for (name, cfg) in &mut f.validators {
        cfg.adjust(&format!("validators.{name}"))?;
    }
    if let Some(m) = f.mariadb2tidb.as_mut() {
        m.mode = if m.mode.is_empty() { "auto".into() } else { m.mode.to_ascii_lowercase() };
        if !matches!(m.mode.as_str(), "auto" | "on" | "off") {
            return Err(invalid("mariadb2tidb.mode", format!("\"{}\": use auto, on or off", m.mode)));
        }
    }
    Ok(())
}

/// One instance: source-id, meta, references, name-or-inline, resolved unit settings.
fn check_instance(
    f: &TaskFile,
    i: usize,
    inst: InstanceFile,
    mode: TaskMode,
    warnings: &mut Vec<String>,
) -> Result<MysqlInstance, ConfigError> {
    let at = format!("mysql-instances[{i}]");
    if inst.source_id.is_empty() {
        return Err(invalid(format!("{at}.source-id"), "is empty; give the source-id used with operate-source"));
    }
    check_key_safe(&format!("{at}.source-id"), &inst.source_id, MAX_SOURCE_ID_LEN)?;
    let who = format!("{at} (source {})", inst.source_id);
    match (&inst.meta, mode) {
        (Some(meta), _) => meta.check(&format!("{at}.meta"))?,
        (None, TaskMode::Incremental) => {
            warnings.push(format!("{who} has no meta in incremental mode; start the task with --start-time"));
        }
        (None, _) => {}
    }
    if inst.meta.is_some() && !matches!(mode, TaskMode::Incremental | TaskMode::LoadSync) {
        warnings.push(format!("{who}: meta is not used in task-mode {}", mode.as_str()));
    }
    check_name_and_inline(&who, &inst)?;
    check_references(f, &who, &inst)?;
    resolve_units(f, &at, &who, inst, warnings)
}

fn check_name_and_inline(who: &str, inst: &InstanceFile) -> Result<(), ConfigError> {
    let pairs = [
        (!inst.mydumper_config_name.is_empty() && inst.mydumper.is_some(), "mydumper-config-name", "mydumper"),
        (!inst.loader_config_name.is_empty() && inst.loader.is_some(), "loader-config-name", "loader"),
        (!inst.syncer_config_name.is_empty() && inst.syncer.is_some(), "syncer-config-name", "syncer"),
    ];
    match pairs.into_iter().find(|p| p.0) {
        Some((_, name_key, inline_key)) => {
            Err(ConfigError::NameAndInline { instance: who.to_string(), name_key, inline_key })
        }
        None => Ok(()),
    }
}

/// Every referenced name exists, and no list names a rule twice.
fn check_references(f: &TaskFile, who: &str, inst: &InstanceFile) -> Result<(), ConfigError> {
    let missing = |list: &'static str, section: &'static str, name: &str| ConfigError::RuleNotFound {
        instance: who.to_string(),
        list,
        name: name.to_string(),
        section,
    };
    let lists: [(&'static str, &'static str, &Vec<String>, BTreeSet<&String>); 3] = [
        ("route-rules", "routes", &inst.route_rules, f.routes.keys().collect()),
        ("filter-rules", "filters", &inst.filter_rules, f.filters.keys().collect()),
        ("expression-filters", "expression-filter", &inst.expression_filters, f.expression_filter.keys().collect()),
    ];
    for (list, section, names, defined) in &lists {
        if let Some(name) = names.iter().find(|n| !defined.contains(n)) {
            return Err(missing(list, section, name));
        }
    }
    let singles = [
        ("block-allow-list", "block-allow-list", ba_name(inst), f.block_allow_list.contains_key(ba_name(inst))),
        (
            "mydumper-config-name",
            "mydumpers",
            &inst.mydumper_config_name,
            f.mydumpers.contains_key(&inst.mydumper_config_name),
        ),
        ("loader-config-name", "loaders", &inst.loader_config_name, f.loaders.contains_key(&inst.loader_config_name)),
        ("syncer-config-name", "syncers", &inst.syncer_config_name, f.syncers.contains_key(&inst.syncer_config_name)),
        (
            "validator-config-name",
            "validators",
            &inst.validator_config_name,
            f.validators.contains_key(&inst.validator_config_name),
        ),
    ];
    if let Some((list, section, name, _)) = singles.iter().find(|s| !s.2.is_empty() && !s.3) {
        return Err(missing(list, section, name));
    }
    for (list, _, names, _) in &lists {
        let dups = duplicates(names);
        if !dups.is_empty() {
            return Err(ConfigError::DuplicateRuleRef { instance: who.to_string(), list, names: dups.join(", ") });
        }
    }
    Ok(())
}

/// `block-allow-list`, or DM's older `black-white-list`.
fn ba_name(inst: &InstanceFile) -> &String {
    if inst.block_allow_list.is_empty() { &inst.black_white_list } else { &inst.block_allow_list }
}

fn duplicates(names: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut dups: Vec<String> = Vec::new();
    for n in names {
        if !seen.insert(n) && !dups.contains(n) {
            dups.push(n.clone());
        }
    }
    dups
}

fn some(name: String) -> Option<String> {
    if name.is_empty() { None } else { Some(name) }
}

/// Named, inline or default settings for each unit; thread overrides last, as in DM.
fn resolve_units(
    f: &TaskFile,
    at: &str,
    who: &str,
    inst: InstanceFile,
    warnings: &mut Vec<String>,
) -> Result<MysqlInstance, ConfigError> {
    let block_allow_list = some(ba_name(&inst).clone());
    let (mydumper_config_name, loader_config_name) = (some(inst.mydumper_config_name), some(inst.loader_config_name));
    let (syncer_config_name, validator_config_name) = (some(inst.syncer_config_name), some(inst.validator_config_name));
    let mut mydumper = match &mydumper_config_name {
        Some(name) => f.mydumpers[name].clone(),
        None => unit_or_default(inst.mydumper, &f.mydumpers, who, "mydumper", warnings),
    };
    mydumper.adjust(&format!("{at}.mydumper"))?;
    if inst.mydumper_thread != 0 {
        mydumper.threads = inst.mydumper_thread;
    }
    let mut loader = match &loader_config_name {
        Some(name) => f.loaders[name].clone(),
        None => unit_or_default(inst.loader, &f.loaders, who, "loader", warnings),
    };
    loader.adjust(&format!("{at}.loader"))?;
    if inst.loader_thread != 0 {
        loader.pool_size = inst.loader_thread;
    }
    let mut syncer = match &syncer_config_name {
        Some(name) => f.syncers[name].clone(),
        None => {
            let mut s = unit_or_default(inst.syncer, &f.syncers, who, "syncer", warnings);
            warnings.extend(s.adjust(&format!("{at}.syncer"))?);
            s
        }
    };
    if inst.syncer_thread != 0 {
        syncer.worker_count = inst.syncer_thread;
    }
    let validator = validator_config_name.as_ref().map(|n| f.validators[n].clone()).unwrap_or_default();
    Ok(MysqlInstance {
        source_id: inst.source_id,
        meta: inst.meta,
        route_rules: inst.route_rules,
        filter_rules: inst.filter_rules,
        block_allow_list,
        expression_filters: inst.expression_filters,
        mydumper_config_name,
        loader_config_name,
        syncer_config_name,
        validator_config_name,
        mydumper,
        loader,
        syncer,
        validator,
    })
}

/// The inline settings, or DM's defaults (with DM's warning when named ones exist but go unused here).
fn unit_or_default<T: Default>(
    inline: Option<T>,
    globals: &BTreeMap<String, T>,
    who: &str,
    unit: &str,
    warnings: &mut Vec<String>,
) -> T {
    inline.unwrap_or_else(|| {
        if !globals.is_empty() {
            warnings.push(format!("{who} names no {unit} config; it uses the default {unit} settings"));
        }
        T::default()
    })
}

/// DM refuses a task that defines rules no instance uses (block-allow lists excepted, as in DM).
fn check_unused(f: &TaskFile, instances: &[MysqlInstance]) -> Result<(), ConfigError> {
    let mut used: BTreeSet<(&str, &str)> = BTreeSet::new();
    for inst in instances {
        used.extend(inst.route_rules.iter().map(|n| ("routes", n.as_str())));
        used.extend(inst.filter_rules.iter().map(|n| ("filters", n.as_str())));
        used.extend(inst.expression_filters.iter().map(|n| ("expression-filter", n.as_str())));
        used.extend(inst.mydumper_config_name.iter().map(|n| ("mydumpers", n.as_str())));
        used.extend(inst.loader_config_name.iter().map(|n| ("loaders", n.as_str())));
        used.extend(inst.syncer_config_name.iter().map(|n| ("syncers", n.as_str())));
        used.extend(inst.validator_config_name.iter().map(|n| ("validators", n.as_str())));
    }
    let defined = [
        ("routes", f.routes.keys().collect::<Vec<_>>()),
        ("filters", f.filters.keys().collect()),
        ("expression-filter", f.expression_filter.keys().collect()),
        ("mydumpers", f.mydumpers.keys().collect()),
        ("loaders", f.loaders.keys().collect()),
        ("syncers", f.syncers.keys().collect()),
        ("validators", f.validators.keys().collect()),
    ];
    let unused: Vec<String> = defined
        .iter()
        .flat_map(|(section, names)| names.iter().map(move |n| (*section, n.as_str())))
        .filter(|key| !used.contains(key))
        .map(|(section, name)| format!("{section}.{name}"))
        .collect();
    if unused.is_empty() { Ok(()) } else { Err(ConfigError::RulesUnused(unused.join(", "))) }
}

/// All instances load the same way (DM checks this when it generates subtasks).
fn check_import_modes(instances: &[MysqlInstance]) -> Result<(), ConfigError> {
    let first = &instances[0].loader.import_mode;
    match instances.iter().find(|i| &i.loader.import_mode != first) {
        Some(other) => Err(invalid(
            "import-mode",
            format!(
                "source {} loads {first} but source {} loads {}; use one import-mode for all instances",
                instances[0].source_id, other.source_id, other.loader.import_mode
            ),
        )),
        None => Ok(()),
    }
}

fn legacy_warnings(f: &TaskFile, warnings: &mut Vec<String>) {
    if f.enable_heartbeat || f.heartbeat_update_interval.is_some() || f.heartbeat_report_interval.is_some() {
        warnings.push("heartbeat is deprecated and ignored; remove enable-heartbeat and heartbeat-*".into());
    }
    if f.remove_meta {
        warnings.push("remove-meta in the task file is deprecated; use start-task --remove-meta".into());
    }
    if f.ansi_quotes {
        warnings.push("ansi-quotes is deprecated and ignored (ANSI_QUOTES is detected)".into());
    }
}

/// Legacy single-name zones Go's `time.LoadLocation` knows besides `Area/City` names.
const SINGLE_ZONES: &[&str] = &[
    "UTC",
    "UCT",
    "GMT",
    "GMT0",
    "GMT+0",
    "GMT-0",
    "Greenwich",
    "Universal",
    "Zulu",
    "Local",
    "EST",
    "MST",
    "HST",
    "EST5EDT",
    "CST6CDT",
    "MST7MDT",
    "PST8PDT",
    "CET",
    "EET",
    "MET",
    "WET",
    "PRC",
    "ROC",
    "ROK",
    "NZ",
    "NZ-CHAT",
    "GB",
    "GB-Eire",
    "Eire",
    "Japan",
    "Singapore",
    "Turkey",
    "Egypt",
    "Iran",
    "Israel",
    "Jamaica",
    "Libya",
    "Navajo",
    "Poland",
    "Portugal",
    "Hongkong",
    "Iceland",
    "Cuba",
    "W-SU",
    "Kwajalein",
];

/// Top-level areas of the IANA database.
const ZONE_AREAS: &[&str] = &[
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Brazil",
    "Canada",
    "Chile",
    "Etc",
    "Europe",
    "Indian",
    "Mexico",
    "Pacific",
    "US",
];

/// DM's `ParseTimeZone` without a zone database: `SYSTEM`, known names, `Area/City` shapes, and
/// UTC offsets from -12:59 to +14:00.
pub(crate) fn check_timezone(tz: &str) -> Result<(), ConfigError> {
    if tz.is_empty() || tz.eq_ignore_ascii_case("system") || SINGLE_ZONES.contains(&tz) {
        return Ok(());
    }
    let named = tz.split_once('/').is_some_and(|(area, rest)| {
        ZONE_AREAS.contains(&area)
            && rest.split('/').all(|seg| {
                seg.starts_with(|c: char| c.is_ascii_alphabetic())
                    && seg.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
            })
    });
    if named || is_utc_offset(tz) {
        return Ok(());
    }
    Err(invalid("timezone", format!("\"{tz}\": use a zone name like Asia/Shanghai or UTC, or an offset like +08:00")))
}

fn is_utc_offset(tz: &str) -> bool {
    let (sign, rest) = tz.split_at(tz.len().min(1));
    let Some((h, m)) = rest.split_once(':') else { return false };
    let digits =
        |s: &str, n: std::ops::RangeInclusive<usize>| n.contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit());
    if !digits(h, 1..=2) || !digits(m, 2..=2) {
        return false;
    }
    let (h, m): (u32, u32) = (h.parse().unwrap_or(99), m.parse().unwrap_or(99));
    match sign {
        "+" => m < 60 && h * 60 + m <= 14 * 60,
        "-" => m < 60 && h * 60 + m <= 12 * 60 + 59,
        _ => false,
    }
}

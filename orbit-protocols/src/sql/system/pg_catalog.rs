//! The system catalogs clients read: `pg_catalog` and
//! `information_schema` tables built from the `sql:table` catalog actors,
//! and the PostgreSQL functions psql and drivers call on them. The
//! rewrites that let DataFusion plan PostgreSQL's catalog SQL are in
//! `rewrite.rs`.
//!
//! The tables are a snapshot taken when a statement that names them is
//! planned. Catalogs of features Orbit does not have (inheritance,
//! partitions, policies, publications, extended statistics, comments) exist
//! and are empty, as they are in a PostgreSQL database that uses none.

use crate::sql::catalog::{Column, Table};
use crate::sql::types::SqlType;
use datafusion::arrow::array::{Array, ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{MemTable, SchemaProvider, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use sqlparser::ast::{self, ObjectName};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

/// OIDs of the built-in objects Orbit shows (PostgreSQL's own).
const PG_CATALOG_NS: i64 = 11;
const PUBLIC_NS: i64 = 2200;
const INFORMATION_SCHEMA_NS: i64 = 13_000;
const OWNER: i64 = 10;
/// The role standing for the database's owner, which owns `public`.
const DATABASE_OWNER: i64 = 6171;
const HEAP_AM: i64 = 2;
const BTREE_AM: i64 = 403;
const DEFAULT_COLLATION: i64 = 100;
const DATABASE_OID: i64 = 5;
const UTF8_ENCODING: i64 = 6;

/// What the catalog tables show: the tables, and who and where the client is.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub tables: Vec<Table>,
    /// The role that owns everything (the first configured user, or
    /// `postgres` when authentication is trust).
    pub owner: String,
    pub database: String,
}

impl Snapshot {
    fn table_by_oid(&self, oid: i64) -> Option<&Table> {
        self.tables.iter().find(|t| i64::from(t.oid()) == oid)
    }

    /// The index with this OID in `pg_class`, and its table.
    fn index_by_oid(&self, oid: i64) -> Option<(&Table, IndexInfo)> {
        self.tables
            .iter()
            .find_map(|t| table_indexes(t).into_iter().find(|ix| ix.oid == oid).map(|ix| (t, ix)))
    }

    /// The index behind the constraint with this OID in `pg_constraint`
    /// (a primary key or UNIQUE), and its table.
    fn constraint_by_oid(&self, oid: i64) -> Option<(&Table, IndexInfo)> {
        self.tables.iter().find_map(|t| {
            table_indexes(t).into_iter().find(|ix| ix.constraint == Some(oid)).map(|ix| (t, ix))
        })
    }

    fn relation_name(&self, oid: i64) -> Option<String> {
        if let Some(t) = self.table_by_oid(oid) {
            return Some(t.name.clone());
        }
        if let Some((_, ix)) = self.index_by_oid(oid) {
            return Some(ix.name);
        }
        self.tables.iter().flat_map(sequences).find(|(o, _)| *o == oid).map(|(_, name)| name)
    }

    fn relation_oid(&self, name: &str) -> Option<i64> {
        let name = name.strip_prefix("public.").unwrap_or(name).trim_matches('"');
        if let Some(t) = self.tables.iter().find(|t| t.name == name) {
            return Some(i64::from(t.oid()));
        }
        self.tables.iter().flat_map(table_indexes).find(|ix| ix.name == name).map(|ix| ix.oid)
    }
}

/// The built-in types, as `pg_type` lists them: OID, name, length, category,
/// element type (arrays).
const TYPES: &[(i64, &str, i64, &str, i64)] = &[
    (16, "bool", 1, "B", 0),
    (17, "bytea", -1, "U", 0),
    (18, "char", 1, "Z", 0),
    (19, "name", 64, "S", 0),
    (20, "int8", 8, "N", 0),
    (21, "int2", 2, "N", 0),
    (23, "int4", 4, "N", 0),
    (25, "text", -1, "S", 0),
    (26, "oid", 4, "N", 0),
    (114, "json", -1, "U", 0),
    (700, "float4", 4, "N", 0),
    (701, "float8", 8, "N", 0),
    (1000, "_bool", -1, "A", 16),
    (1001, "_bytea", -1, "A", 17),
    (1005, "_int2", -1, "A", 21),
    (1007, "_int4", -1, "A", 23),
    (1009, "_text", -1, "A", 25),
    (1014, "_bpchar", -1, "A", 1042),
    (1015, "_varchar", -1, "A", 1043),
    (1016, "_int8", -1, "A", 20),
    (1021, "_float4", -1, "A", 700),
    (1022, "_float8", -1, "A", 701),
    (1042, "bpchar", -1, "S", 0),
    (1043, "varchar", -1, "S", 0),
    (1082, "date", 4, "D", 0),
    (1083, "time", 8, "D", 0),
    (1114, "timestamp", 8, "D", 0),
    (1115, "_timestamp", -1, "A", 1114),
    (1182, "_date", -1, "A", 1082),
    (1184, "timestamptz", 8, "D", 0),
    (1185, "_timestamptz", -1, "A", 1184),
    (1231, "_numeric", -1, "A", 1700),
    (1700, "numeric", -1, "N", 0),
    (2950, "uuid", 16, "U", 0),
    (2951, "_uuid", -1, "A", 2950),
    (3802, "jsonb", -1, "U", 0),
    (3807, "_jsonb", -1, "A", 3802),
];

/// `array_length(a, 1)` of a one-dimensional array: NULL when it is empty
/// or NULL, or for another dimension.
fn array_length(args: &[ScalarValue]) -> ScalarValue {
    match (args.first(), int_arg(args, 1)) {
        (Some(ScalarValue::List(list)), Some(1)) if !list.is_null(0) => {
            let n = list.value(0).len();
            ScalarValue::Int32((n > 0).then(|| i32::try_from(n).ok()).flatten())
        }
        _ => ScalarValue::Int32(None),
    }
}

/// PostgreSQL's `format_type(oid, typmod)`.
fn format_type(oid: i64, typmod: Option<i64>) -> Option<String> {
    let name = match oid {
        16 => "boolean",
        17 => "bytea",
        18 => "\"char\"",
        19 => "name",
        20 => "bigint",
        21 => "smallint",
        23 => "integer",
        25 => "text",
        26 => "oid",
        114 => "json",
        700 => "real",
        701 => "double precision",
        1042 | 1043 => {
            let base = if oid == 1042 { "character" } else { "character varying" };
            return Some(match typmod {
                Some(m) if m >= 4 => format!("{base}({})", m - 4),
                _ => base.to_string(),
            });
        }
        1082 => "date",
        1083 => "time without time zone",
        1114 => "timestamp without time zone",
        1184 => "timestamp with time zone",
        1700 => {
            // (precision << 16 | scale) + 4, as PostgreSQL packs it.
            return Some(match typmod {
                Some(m) if m >= 4 => format!("numeric({},{})", ((m - 4) >> 16) & 0xffff, (m - 4) & 0xffff),
                _ => "numeric".to_string(),
            });
        }
        2950 => "uuid",
        3802 => "jsonb",
        other => {
            let (_, name, _, _, elem) = TYPES.iter().find(|t| t.0 == other)?;
            return match elem {
                0 => Some((*name).to_string()),
                elem => format_type(*elem, typmod).map(|n| format!("{n}[]")),
            };
        }
    };
    Some(name.to_string())
}

/// The sequences behind a table's serial columns: OID and name.
fn sequences(table: &Table) -> Vec<(i64, String)> {
    let oid = i64::from(table.oid());
    table
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.serial)
        .map(|(i, c)| (oid * 1000 + 500 + i as i64, table.sequence_key(&c.name)))
        .collect()
}

/// One index of a table as the catalogs show it: the primary key's
/// (implicit, `<table>_pkey`) or a secondary one ([`Table::indexes`]).
struct IndexInfo {
    name: String,
    /// Its OID in `pg_class`.
    oid: i64,
    /// The indexed columns' positions in the table's columns (from 0), in
    /// index order.
    columns: Vec<usize>,
    unique: bool,
    primary: bool,
    /// The OID in `pg_constraint` of the PRIMARY KEY or UNIQUE constraint
    /// the index was made for, if it was made for one.
    constraint: Option<i64>,
}

impl IndexInfo {
    /// The columns' numbers in the table (`pg_attribute.attnum`).
    fn attnums(&self) -> Vec<String> {
        self.columns.iter().map(|c| (c + 1).to_string()).collect()
    }

    /// `pg_index.indkey`: the attnums as `int2vector` text.
    fn indkey(&self) -> String {
        self.attnums().join(" ")
    }

    /// `pg_constraint.conkey`: the attnums as array text.
    fn conkey(&self) -> String {
        format!("{{{}}}", self.attnums().join(","))
    }

    /// `pg_constraint.contype` of its constraint.
    fn contype(&self) -> &'static str {
        if self.primary { "p" } else { "u" }
    }

    /// The indexed columns' names, quoted as needed, comma separated.
    fn column_list(&self, table: &Table) -> String {
        let names: Vec<String> = self.columns.iter().map(|&c| quote_ident(&table.columns[c].name)).collect();
        names.join(", ")
    }

    /// `pg_get_indexdef(oid, column, pretty)`: the whole CREATE INDEX for
    /// column 0 (the table unqualified when pretty, as `public` is on the
    /// search path), else just that column's name (empty past the last).
    fn definition(&self, table: &Table, column: i64, pretty: bool) -> String {
        if column != 0 {
            return usize::try_from(column)
                .ok()
                .and_then(|n| self.columns.get(n.checked_sub(1)?))
                .map_or_else(String::new, |&c| quote_ident(&table.columns[c].name));
        }
        format!(
            "CREATE {}INDEX {} ON {}{} USING btree ({})",
            if self.unique { "UNIQUE " } else { "" },
            quote_ident(&self.name),
            if pretty { "" } else { "public." },
            quote_ident(&table.name),
            self.column_list(table)
        )
    }

    /// `pg_get_constraintdef` of its constraint.
    fn constraint_definition(&self, table: &Table) -> String {
        let kind = if self.primary { "PRIMARY KEY" } else { "UNIQUE" };
        format!("{kind} ({})", self.column_list(table))
    }
}

/// A table's indexes, as every catalog shows them: the primary key's first
/// (OID the table's + 1; its constraint's the table's * 1000 + 999), then
/// the secondary ones in creation order (a UNIQUE constraint's OID is its
/// index's + 1). An index on a column the table no longer has is left out.
fn table_indexes(table: &Table) -> Vec<IndexInfo> {
    let oid = i64::from(table.oid());
    let primary = table.primary_key.map(|pk| IndexInfo {
        name: format!("{}_pkey", table.name),
        oid: oid + 1,
        columns: vec![pk],
        unique: true,
        primary: true,
        constraint: Some(oid * 1000 + 999),
    });
    let secondary = table.indexes.iter().filter_map(|ix| {
        let columns =
            ix.columns.iter().map(|name| table.column(name).map(|(i, _)| i)).collect::<Option<Vec<_>>>()?;
        let oid = i64::from(ix.oid);
        Some(IndexInfo {
            name: ix.name.clone(),
            oid,
            columns,
            unique: ix.unique,
            primary: ix.primary,
            constraint: ix.constraint.then_some(oid + 1),
        })
    });
    let mut indexes: Vec<IndexInfo> = primary.into_iter().chain(secondary).collect();
    // A primary key of several columns is an index of the list: first too.
    indexes.sort_by_key(|i| !i.primary);
    indexes
}

/// The keywords PostgreSQL 16's `quote_identifier` quotes: all but the
/// unreserved ones.
const QUOTED_KEYWORDS: &str = "\
    all analyse analyze and any array as asc asymmetric authorization between bigint binary bit boolean \
    both case cast char character check coalesce collate collation column concurrently constraint create \
    cross current_catalog current_date current_role current_schema current_time current_timestamp \
    current_user dec decimal default deferrable desc distinct do else end except exists extract false \
    fetch float for foreign freeze from full grant greatest group grouping having ilike in initially \
    inner inout int integer intersect interval into is isnull join json json_array json_arrayagg \
    json_object json_objectagg lateral leading least left like limit localtime localtimestamp national \
    natural nchar none normalize not notnull null nullif numeric offset on only or order out outer \
    overlaps overlay placing position precision primary real references returning right row select \
    session_user setof similar smallint some substring symmetric system_user table tablesample then time \
    timestamp to trailing treat trim true union unique user using values varchar variadic verbose when \
    where window with xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse \
    xmlpi xmlroot xmlserialize xmltable";

/// PostgreSQL's `quote_identifier`: a name of lowercase ASCII letters,
/// digits and underscores, not starting with a digit and not a keyword,
/// as it is; any other in double quotes (those inside doubled).
fn quote_ident(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !QUOTED_KEYWORDS.split_whitespace().any(|k| k == name);
    if plain { name.to_string() } else { format!("\"{}\"", name.replace('"', "\"\"")) }
}

fn typmod(table: &Table, column: usize) -> i64 {
    let c = &table.columns[column];
    match c.numeric {
        Some(t) => ((i64::from(t.precision) << 16) | i64::from(t.scale)) + 4,
        None => c.length.map_or(-1, |n| i64::from(n) + 4),
    }
}

/// `information_schema.columns`' `numeric_precision`, `_radix` and
/// `_scale` of a column, as PostgreSQL gives them.
fn numeric_precision(c: &Column) -> [Option<i64>; 3] {
    match c.sql_type {
        SqlType::Int2 => [Some(16), Some(2), Some(0)],
        SqlType::Int4 => [Some(32), Some(2), Some(0)],
        SqlType::Int8 => [Some(64), Some(2), Some(0)],
        SqlType::Float4 => [Some(24), Some(2), None],
        SqlType::Float8 => [Some(53), Some(2), None],
        SqlType::Numeric => {
            [c.numeric.map(|t| i64::from(t.precision)), Some(10), c.numeric.map(|t| i64::from(t.scale))]
        }
        _ => [None; 3],
    }
}

fn collation(sql_type: SqlType) -> i64 {
    if sql_type.element().unwrap_or(sql_type).is_text() { DEFAULT_COLLATION } else { 0 }
}

/// A column's default as `pg_get_expr` shows it.
fn default_text(table: &Table, column: usize) -> Option<String> {
    let c = &table.columns[column];
    if c.identity.is_some() {
        return None;
    }
    if c.serial {
        return Some(format!("nextval('{}'::regclass)", table.sequence_key(&c.name)));
    }
    if let Some(sql) = &c.default_expr {
        return Some(sql.clone());
    }
    let value = c.default.as_ref()?;
    let text = crate::sql::types::text_of(c.sql_type, value)?;
    Some(match c.sql_type {
        SqlType::Int2
        | SqlType::Int4
        | SqlType::Int8
        | SqlType::Float4
        | SqlType::Float8
        | SqlType::Numeric => text,
        SqlType::Bool => if text == "t" { "true" } else { "false" }.to_string(),
        t => format!("'{}'::{}", text.replace('\'', "''"), format_type(i64::from(t.oid()), None)?),
    })
}

// --- tables ------------------------------------------------------------

use DataType::{Boolean as B, Float32 as F4, Int16 as I2, Int32 as I4, Int64 as I8, Utf8 as T};

/// A table under construction: columns, then rows of scalars.
struct Builder {
    fields: Vec<Field>,
    rows: Vec<Vec<ScalarValue>>,
}

impl Builder {
    fn new(columns: &[(&str, DataType)]) -> Self {
        Builder {
            fields: columns.iter().map(|(n, t)| Field::new(*n, t.clone(), true)).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, values: Vec<ScalarValue>) {
        debug_assert_eq!(values.len(), self.fields.len());
        self.rows.push(values);
    }

    fn build(self) -> DfResult<Arc<dyn TableProvider>> {
        let schema: SchemaRef = Arc::new(Schema::new(self.fields));
        if self.rows.is_empty() {
            // An empty catalog is a view of no rows, which the optimizer
            // sees through: queries over it (psql's over pg_policy, with a
            // correlated ARRAY(...) DataFusion cannot run) reduce to no rows.
            let empty = datafusion::logical_expr::EmptyRelation {
                produce_one_row: false,
                schema: Arc::new(datafusion::common::DFSchema::try_from(schema.as_ref().clone())?),
            };
            let plan = datafusion::logical_expr::LogicalPlan::EmptyRelation(empty);
            return Ok(Arc::new(datafusion::datasource::ViewTable::new(plan, None)));
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        for (i, field) in schema.fields().iter().enumerate() {
            let array = if self.rows.is_empty() {
                datafusion::arrow::array::new_empty_array(field.data_type())
            } else {
                ScalarValue::iter_to_array(self.rows.iter().map(|r| r[i].clone()))?
            };
            arrays.push(array);
        }
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

fn i8v(n: i64) -> ScalarValue {
    ScalarValue::Int64(Some(n))
}
fn i4v(n: i64) -> ScalarValue {
    ScalarValue::Int32(Some(n as i32))
}
fn i2v(n: i64) -> ScalarValue {
    ScalarValue::Int16(Some(n as i16))
}
fn tv(s: &str) -> ScalarValue {
    ScalarValue::Utf8(Some(s.to_string()))
}
fn bv(b: bool) -> ScalarValue {
    ScalarValue::Boolean(Some(b))
}
fn null(t: &DataType) -> ScalarValue {
    ScalarValue::try_from(t).unwrap_or(ScalarValue::Null)
}

/// The names of the tables of `pg_catalog`.
pub(crate) const PG_TABLES: &[&str] = &[
    "pg_am",
    "pg_attrdef",
    "pg_attribute",
    "pg_auth_members",
    "pg_class",
    "pg_collation",
    "pg_constraint",
    "pg_database",
    "pg_description",
    "pg_index",
    "pg_inherits",
    "pg_namespace",
    "pg_partitioned_table",
    "pg_policy",
    "pg_publication",
    "pg_publication_namespace",
    "pg_publication_rel",
    "pg_roles",
    "pg_statistic_ext",
    "pg_tables",
    "pg_type",
    "pg_user",
];

/// The catalogs of features Orbit does not have: always empty.
pub(crate) const EMPTY_TABLES: &[&str] = &[
    "pg_auth_members",
    "pg_description",
    "pg_inherits",
    "pg_partitioned_table",
    "pg_policy",
    "pg_publication",
    "pg_publication_namespace",
    "pg_publication_rel",
    "pg_statistic_ext",
];

/// The names of the tables of `information_schema`.
const INFORMATION_TABLES: &[&str] = &["columns", "schemata", "tables"];

/// Builds `pg_catalog.name` from the snapshot.
fn pg_table(name: &str, s: &Snapshot) -> DfResult<Option<Arc<dyn TableProvider>>> {
    let mut b;
    match name {
        "pg_namespace" => {
            b = Builder::new(&[("oid", I8), ("nspname", T), ("nspowner", I8), ("nspacl", T)]);
            for (oid, name, owner) in [
                (PG_CATALOG_NS, "pg_catalog", OWNER),
                (PUBLIC_NS, "public", DATABASE_OWNER),
                (INFORMATION_SCHEMA_NS, "information_schema", OWNER),
            ] {
                b.row(vec![i8v(oid), tv(name), i8v(owner), null(&T)]);
            }
        }
        "pg_class" => {
            b = Builder::new(&[
                ("oid", I8),
                ("relname", T),
                ("relnamespace", I8),
                ("reltype", I8),
                ("reloftype", I8),
                ("relowner", I8),
                ("relam", I8),
                ("relfilenode", I8),
                ("reltablespace", I8),
                ("relpages", I4),
                ("reltuples", F4),
                ("relallvisible", I4),
                ("reltoastrelid", I8),
                ("relhasindex", B),
                ("relisshared", B),
                ("relpersistence", T),
                ("relkind", T),
                ("relnatts", I2),
                ("relchecks", I2),
                ("relhasrules", B),
                ("relhastriggers", B),
                ("relhassubclass", B),
                ("relrowsecurity", B),
                ("relforcerowsecurity", B),
                ("relispopulated", B),
                ("relreplident", T),
                ("relispartition", B),
                ("relacl", T),
                ("reloptions", T),
                ("relpartbound", T),
            ]);
            for t in &s.tables {
                let oid = i64::from(t.oid());
                let indexes = table_indexes(t);
                let has_index = !indexes.is_empty();
                let relation = |oid: i64, name: &str, am: i64, kind: &str, natts: usize, has_index: bool| {
                    vec![
                        i8v(oid),
                        tv(name),
                        i8v(PUBLIC_NS),
                        i8v(0),
                        i8v(0),
                        i8v(OWNER),
                        i8v(am),
                        i8v(oid),
                        i8v(0),
                        i4v(0),
                        ScalarValue::Float32(Some(-1.0)),
                        i4v(0),
                        i8v(0),
                        bv(has_index),
                        bv(false),
                        tv("p"),
                        tv(kind),
                        i2v(natts as i64),
                        i2v(0),
                        bv(false),
                        bv(false),
                        bv(false),
                        bv(false),
                        bv(false),
                        bv(true),
                        tv(if kind == "r" { "d" } else { "n" }),
                        bv(false),
                        null(&T),
                        null(&T),
                        null(&T),
                    ]
                };
                b.row(relation(oid, &t.name, HEAP_AM, "r", t.columns.len(), has_index));
                for ix in &indexes {
                    b.row(relation(ix.oid, &ix.name, BTREE_AM, "i", ix.columns.len(), false));
                }
                // Serial columns' counters, shown as the sequences they stand for.
                for (seq_oid, name) in sequences(t) {
                    b.row(relation(seq_oid, &name, 0, "S", 3, false));
                }
            }
        }
        "pg_attribute" => {
            b = Builder::new(&[
                ("attrelid", I8),
                ("attname", T),
                ("atttypid", I8),
                ("attstattarget", I4),
                ("attlen", I2),
                ("attnum", I2),
                ("attndims", I4),
                ("atttypmod", I4),
                ("attbyval", B),
                ("attalign", T),
                ("attstorage", T),
                ("attnotnull", B),
                ("atthasdef", B),
                ("attidentity", T),
                ("attgenerated", T),
                ("attisdropped", B),
                ("attislocal", B),
                ("attinhcount", I4),
                ("attcollation", I8),
                ("attacl", T),
                ("attoptions", T),
            ]);
            for t in &s.tables {
                let oid = i64::from(t.oid());
                let indexes = table_indexes(t);
                for (i, c) in t.columns.iter().enumerate() {
                    let type_oid = i64::from(c.sql_type.oid());
                    let len = TYPES.iter().find(|x| x.0 == type_oid).map_or(-1, |x| x.2);
                    // An identity column's numbers are not a default (no pg_attrdef row).
                    let has_default =
                        (c.serial && c.identity.is_none()) || c.default.is_some() || c.default_expr.is_some();
                    let identity = match c.identity {
                        Some(crate::sql::catalog::Identity::Always) => "a",
                        Some(crate::sql::catalog::Identity::ByDefault) => "d",
                        None => "",
                    };
                    let attribute = |relid: i64, num: i64| {
                        vec![
                            i8v(relid),
                            tv(&c.name),
                            i8v(type_oid),
                            i4v(-1),
                            i2v(len),
                            i2v(num),
                            i4v(0),
                            i4v(typmod(t, i)),
                            bv(len > 0),
                            tv(if len == 8 { "d" } else { "i" }),
                            tv(if len > 0 { "p" } else { "x" }),
                            bv(c.not_null),
                            bv(has_default && relid == oid),
                            tv(if relid == oid { identity } else { "" }),
                            tv(""),
                            bv(false),
                            bv(true),
                            i4v(0),
                            i8v(collation(c.sql_type)),
                            null(&T),
                            null(&T),
                        ]
                    };
                    b.row(attribute(oid, i as i64 + 1));
                    // The column's attributes in the indexes on it, numbered in index order.
                    for ix in &indexes {
                        for (k, _) in ix.columns.iter().enumerate().filter(|&(_, &col)| col == i) {
                            b.row(attribute(ix.oid, k as i64 + 1));
                        }
                    }
                }
            }
        }
        "pg_attrdef" => {
            b = Builder::new(&[("oid", I8), ("adrelid", I8), ("adnum", I2), ("adbin", T)]);
            for t in &s.tables {
                for i in 0..t.columns.len() {
                    if let Some(text) = default_text(t, i) {
                        let oid = i64::from(t.oid());
                        b.row(vec![i8v(oid * 1000 + i as i64), i8v(oid), i2v(i as i64 + 1), tv(&text)]);
                    }
                }
            }
        }
        "pg_type" => {
            b = Builder::new(&[
                ("oid", I8),
                ("typname", T),
                ("typnamespace", I8),
                ("typowner", I8),
                ("typlen", I2),
                ("typbyval", B),
                ("typtype", T),
                ("typcategory", T),
                ("typisdefined", B),
                ("typdelim", T),
                ("typrelid", I8),
                ("typelem", I8),
                ("typarray", I8),
                ("typbasetype", I8),
                ("typtypmod", I4),
                ("typndims", I4),
                ("typcollation", I8),
                ("typnotnull", B),
            ]);
            for (oid, name, len, category, elem) in TYPES {
                let array = TYPES.iter().find(|t| t.4 == *oid).map_or(0, |t| t.0);
                // Text types and arrays of them collate.
                let text = [*oid, *elem].iter().any(|t| matches!(t, 25 | 1042 | 1043 | 19));
                b.row(vec![
                    i8v(*oid),
                    tv(name),
                    i8v(PG_CATALOG_NS),
                    i8v(OWNER),
                    i2v(*len),
                    bv(*len > 0 && *len <= 8),
                    tv("b"),
                    tv(category),
                    bv(true),
                    tv(","),
                    i8v(0),
                    i8v(*elem),
                    i8v(array),
                    i8v(0),
                    i4v(-1),
                    i4v(0),
                    i8v(if text { DEFAULT_COLLATION } else { 0 }),
                    bv(false),
                ]);
            }
        }
        "pg_am" => {
            b = Builder::new(&[("oid", I8), ("amname", T), ("amtype", T)]);
            b.row(vec![i8v(HEAP_AM), tv("heap"), tv("t")]);
            b.row(vec![i8v(BTREE_AM), tv("btree"), tv("i")]);
        }
        "pg_index" => {
            b = Builder::new(&[
                ("indexrelid", I8),
                ("indrelid", I8),
                ("indnatts", I2),
                ("indnkeyatts", I2),
                ("indisunique", B),
                ("indisprimary", B),
                ("indisexclusion", B),
                ("indimmediate", B),
                ("indisclustered", B),
                ("indisvalid", B),
                ("indcheckxmin", B),
                ("indisready", B),
                ("indislive", B),
                ("indisreplident", B),
                ("indkey", T),
                ("indexprs", T),
                ("indpred", T),
            ]);
            for t in &s.tables {
                let oid = i64::from(t.oid());
                for ix in table_indexes(t) {
                    let natts = ix.columns.len() as i64;
                    b.row(vec![
                        i8v(ix.oid),
                        i8v(oid),
                        i2v(natts),
                        i2v(natts),
                        bv(ix.unique),
                        bv(ix.primary),
                        bv(false),
                        bv(true),
                        bv(false),
                        bv(true),
                        bv(false),
                        bv(true),
                        bv(true),
                        bv(false),
                        tv(&ix.indkey()),
                        null(&T),
                        null(&T),
                    ]);
                }
            }
        }
        "pg_constraint" => {
            b = Builder::new(&[
                ("oid", I8),
                ("conname", T),
                ("connamespace", I8),
                ("contype", T),
                ("condeferrable", B),
                ("condeferred", B),
                ("convalidated", B),
                ("conrelid", I8),
                ("contypid", I8),
                ("conindid", I8),
                ("conparentid", I8),
                ("confrelid", I8),
                ("conislocal", B),
                ("coninhcount", I4),
                ("connoinherit", B),
                ("conkey", T),
            ]);
            for t in &s.tables {
                let oid = i64::from(t.oid());
                for ix in table_indexes(t) {
                    let Some(constraint) = ix.constraint else { continue };
                    b.row(vec![
                        i8v(constraint),
                        tv(&ix.name),
                        i8v(PUBLIC_NS),
                        tv(ix.contype()),
                        bv(false),
                        bv(false),
                        bv(true),
                        i8v(oid),
                        i8v(0),
                        i8v(ix.oid),
                        i8v(0),
                        i8v(0),
                        bv(true),
                        i4v(0),
                        bv(true),
                        tv(&ix.conkey()),
                    ]);
                }
            }
        }
        "pg_collation" => {
            b = Builder::new(&[("oid", I8), ("collname", T), ("collnamespace", I8), ("collprovider", T)]);
            for (oid, name) in [(DEFAULT_COLLATION, "default"), (950, "C"), (951, "POSIX")] {
                b.row(vec![i8v(oid), tv(name), i8v(PG_CATALOG_NS), tv(if oid == 100 { "d" } else { "c" })]);
            }
        }
        "pg_database" => {
            b = Builder::new(&[
                ("oid", I8),
                ("datname", T),
                ("datdba", I8),
                ("encoding", I4),
                ("datlocprovider", T),
                ("datistemplate", B),
                ("datallowconn", B),
                ("datconnlimit", I4),
                ("datcollate", T),
                ("datctype", T),
                ("daticulocale", T),
                ("datacl", DataType::List(Arc::new(Field::new_list_field(T, true)))),
            ]);
            b.row(vec![
                i8v(DATABASE_OID),
                tv(&s.database),
                i8v(OWNER),
                i4v(UTF8_ENCODING),
                tv("c"),
                bv(false),
                bv(true),
                i4v(-1),
                tv("C.UTF-8"),
                tv("C.UTF-8"),
                null(&T),
                null(&DataType::List(Arc::new(Field::new_list_field(T, true)))),
            ]);
        }
        "pg_roles" | "pg_user" => {
            let name = if name == "pg_roles" { "rolname" } else { "usename" };
            b = Builder::new(&[
                ("oid", I8),
                (name, T),
                ("rolsuper", B),
                ("rolinherit", B),
                ("rolcreaterole", B),
                ("rolcreatedb", B),
                ("rolcanlogin", B),
                ("rolreplication", B),
                ("rolconnlimit", I4),
                ("rolvaliduntil", T),
                ("rolbypassrls", B),
            ]);
            for (oid, role, login) in
                [(OWNER, s.owner.as_str(), true), (DATABASE_OWNER, "pg_database_owner", false)]
            {
                b.row(vec![
                    i8v(oid),
                    tv(role),
                    bv(false),
                    bv(true),
                    bv(false),
                    bv(false),
                    bv(login),
                    bv(false),
                    i4v(-1),
                    null(&T),
                    bv(false),
                ]);
            }
        }
        "pg_tables" => {
            b = Builder::new(&[
                ("schemaname", T),
                ("tablename", T),
                ("tableowner", T),
                ("tablespace", T),
                ("hasindexes", B),
                ("hasrules", B),
                ("hastriggers", B),
                ("rowsecurity", B),
            ]);
            for t in &s.tables {
                b.row(vec![
                    tv("public"),
                    tv(&t.name),
                    tv(&s.owner),
                    null(&T),
                    bv(!table_indexes(t).is_empty()),
                    bv(false),
                    bv(false),
                    bv(false),
                ]);
            }
        }
        // Features Orbit does not have: the catalogs exist, empty.
        "pg_auth_members" => {
            b = Builder::new(&[
                ("oid", I8),
                ("roleid", I8),
                ("member", I8),
                ("grantor", I8),
                ("admin_option", B),
            ]);
        }
        "pg_description" => {
            b = Builder::new(&[("objoid", I8), ("classoid", I8), ("objsubid", I4), ("description", T)]);
        }
        "pg_inherits" => {
            b = Builder::new(&[
                ("inhrelid", I8),
                ("inhparent", I8),
                ("inhseqno", I4),
                ("inhdetachpending", B),
            ]);
        }
        "pg_partitioned_table" => {
            b = Builder::new(&[("partrelid", I8), ("partstrat", T), ("partnatts", I2), ("partdefid", I8)]);
        }
        "pg_policy" => {
            b = Builder::new(&[
                ("oid", I8),
                ("polname", T),
                ("polrelid", I8),
                ("polcmd", T),
                ("polpermissive", B),
                ("polroles", DataType::List(Arc::new(Field::new_list_field(I8, true)))),
                ("polqual", T),
                ("polwithcheck", T),
            ]);
        }
        "pg_statistic_ext" => {
            b = Builder::new(&[
                ("oid", I8),
                ("stxrelid", I8),
                ("stxname", T),
                ("stxnamespace", I8),
                ("stxowner", I8),
                ("stxstattarget", I4),
                ("stxkind", DataType::List(Arc::new(Field::new_list_field(T, true)))),
            ]);
        }
        "pg_publication" => {
            b = Builder::new(&[("oid", I8), ("pubname", T), ("pubowner", I8), ("puballtables", B)]);
        }
        "pg_publication_namespace" => {
            b = Builder::new(&[("oid", I8), ("pnpubid", I8), ("pnnspid", I8)]);
        }
        "pg_publication_rel" => {
            b = Builder::new(&[
                ("oid", I8),
                ("prpubid", I8),
                ("prrelid", I8),
                ("prqual", T),
                ("prattrs", DataType::List(Arc::new(Field::new_list_field(I2, true)))),
            ]);
        }
        _ => return Ok(None),
    }
    b.build().map(Some)
}

/// Builds `information_schema.name` from the snapshot.
fn information_table(name: &str, s: &Snapshot) -> DfResult<Option<Arc<dyn TableProvider>>> {
    let mut b;
    match name {
        "schemata" => {
            b = Builder::new(&[("catalog_name", T), ("schema_name", T), ("schema_owner", T)]);
            for schema in ["pg_catalog", "public", "information_schema"] {
                b.row(vec![tv(&s.database), tv(schema), tv(&s.owner)]);
            }
        }
        "tables" => {
            b = Builder::new(&[
                ("table_catalog", T),
                ("table_schema", T),
                ("table_name", T),
                ("table_type", T),
            ]);
            for t in &s.tables {
                b.row(vec![tv(&s.database), tv("public"), tv(&t.name), tv("BASE TABLE")]);
            }
        }
        "columns" => {
            b = Builder::new(&[
                ("table_catalog", T),
                ("table_schema", T),
                ("table_name", T),
                ("column_name", T),
                ("ordinal_position", I4),
                ("column_default", T),
                ("is_nullable", T),
                ("data_type", T),
                ("character_maximum_length", I4),
                ("numeric_precision", I4),
                ("numeric_precision_radix", I4),
                ("numeric_scale", I4),
                ("udt_name", T),
            ]);
            for t in &s.tables {
                for (i, c) in t.columns.iter().enumerate() {
                    let udt = TYPES.iter().find(|x| x.0 == i64::from(c.sql_type.oid())).map_or("", |x| x.1);
                    let [precision, radix, scale] = numeric_precision(c);
                    let int = |n: Option<i64>| n.map_or_else(|| null(&I4), i4v);
                    b.row(vec![
                        tv(&s.database),
                        tv("public"),
                        tv(&t.name),
                        tv(&c.name),
                        i4v(i as i64 + 1),
                        default_text(t, i).map_or_else(|| null(&T), |d| tv(&d)),
                        tv(if c.not_null { "NO" } else { "YES" }),
                        tv(c.sql_type.name()),
                        c.length.map_or_else(|| null(&I4), |n| i4v(i64::from(n))),
                        int(precision),
                        int(radix),
                        int(scale),
                        tv(udt),
                    ]);
                }
            }
        }
        _ => return Ok(None),
    }
    b.build().map(Some)
}

/// The current snapshot, shared by the schemas and functions of one
/// connection's DataFusion context.
pub(crate) type SnapshotCell = Arc<Mutex<Arc<Snapshot>>>;

fn current(cell: &SnapshotCell) -> Arc<Snapshot> {
    cell.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// `pg_catalog` or `information_schema` as a DataFusion schema.
#[derive(Debug)]
pub(crate) struct SystemSchema {
    pub snapshot: SnapshotCell,
    information: bool,
}

impl SystemSchema {
    pub fn pg_catalog(snapshot: SnapshotCell) -> Self {
        SystemSchema { snapshot, information: false }
    }

    pub fn information_schema(snapshot: SnapshotCell) -> Self {
        SystemSchema { snapshot, information: true }
    }

    /// A `pg_catalog` table, for unqualified names (`pg_catalog` is on
    /// every search path, first).
    pub fn pg_table(snapshot: &SnapshotCell, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        pg_table(name, &current(snapshot))
    }
}

#[async_trait::async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        let names = if self.information { INFORMATION_TABLES } else { PG_TABLES };
        names.iter().map(|n| n.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let snapshot = current(&self.snapshot);
        if self.information { information_table(name, &snapshot) } else { pg_table(name, &snapshot) }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.table_names().iter().any(|n| n == name)
    }
}

/// Whether a statement (or part of one) reads the system catalogs (so the
/// snapshot must be taken before it is planned).
pub(crate) fn reads_catalog<V: ast::Visit>(node: &V) -> bool {
    let mut found = false;
    let _ = ast::visit_relations(node, |name: &ObjectName| {
        let text = name.to_string().to_lowercase();
        let last = text.rsplit('.').next().unwrap_or_default();
        if text.starts_with("pg_catalog.")
            || text.starts_with("information_schema.")
            || PG_TABLES.contains(&last)
        {
            found = true;
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

// --- functions ---------------------------------------------------------

/// A function's body: the snapshot and one row's arguments in, a value out.
type Body = Box<dyn Fn(&Snapshot, &[ScalarValue]) -> ScalarValue + Send + Sync>;

/// A PostgreSQL function evaluated row by row over scalars.
struct PgFunction {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    body: Body,
    snapshot: SnapshotCell,
}

impl std::fmt::Debug for PgFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgFunction").field("name", &self.name).finish()
    }
}

impl PartialEq for PgFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for PgFunction {}

impl std::hash::Hash for PgFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for PgFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let snapshot = current(&self.snapshot);
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args.args.iter().map(|a| a.to_array(rows)).collect::<DfResult<_>>()?;
        let mut out = Vec::with_capacity(rows);
        for row in 0..rows {
            let values: Vec<ScalarValue> =
                arrays.iter().map(|a| ScalarValue::try_from_array(a, row)).collect::<DfResult<_>>()?;
            let value = (self.body)(&snapshot, &values);
            // A NULL of the declared type, so the array is well typed.
            out.push(if value.is_null() { ScalarValue::try_from(&self.returns)? } else { value });
        }
        if out.is_empty() {
            return Ok(ColumnarValue::Array(datafusion::arrow::array::new_empty_array(&self.returns)));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}

fn int_arg(values: &[ScalarValue], i: usize) -> Option<i64> {
    match values.get(i)? {
        ScalarValue::Int8(v) => v.map(i64::from),
        ScalarValue::Int16(v) => v.map(i64::from),
        ScalarValue::Int32(v) => v.map(i64::from),
        ScalarValue::Int64(v) => *v,
        ScalarValue::UInt32(v) => v.map(i64::from),
        ScalarValue::UInt64(v) => v.and_then(|n| i64::try_from(n).ok()),
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => {
            s.trim().parse().ok()
        }
        _ => None,
    }
}

fn text_arg(values: &[ScalarValue], i: usize) -> Option<String> {
    match values.get(i)? {
        ScalarValue::Utf8(v) | ScalarValue::Utf8View(v) | ScalarValue::LargeUtf8(v) => v.clone(),
        v if v.is_null() => None,
        v => Some(v.to_string()),
    }
}

/// A boolean argument: false when absent or NULL.
fn flag_arg(values: &[ScalarValue], i: usize) -> bool {
    matches!(values.get(i), Some(ScalarValue::Boolean(Some(true))))
}

fn text(value: Option<String>) -> ScalarValue {
    ScalarValue::Utf8(value)
}

/// Registers PostgreSQL's catalog functions on `ctx`.
pub(crate) fn register_functions(ctx: &SessionContext, snapshot: &SnapshotCell, version: &str) {
    let any = |n: usize| Signature::any(n, Volatility::Stable);
    let some = || Signature::variadic_any(Volatility::Stable);
    let version = version.to_string();
    let list_of_text = DataType::List(Arc::new(Field::new_list_field(T, true)));
    let functions: Vec<(&'static str, Signature, DataType, Body)> = vec![
        (
            "pg_get_userbyid",
            any(1),
            T,
            Box::new(|s, v| {
                text(int_arg(v, 0).map(|oid| match oid {
                    OWNER => s.owner.clone(),
                    DATABASE_OWNER => "pg_database_owner".to_string(),
                    _ => format!("unknown (OID={oid})"),
                }))
            }),
        ),
        (
            "pg_table_is_visible",
            any(1),
            B,
            Box::new(|s, v| ScalarValue::Boolean(int_arg(v, 0).map(|oid| s.relation_name(oid).is_some()))),
        ),
        ("pg_type_is_visible", any(1), B, Box::new(|_, v| ScalarValue::Boolean(int_arg(v, 0).map(|_| true)))),
        (
            "format_type",
            any(2),
            T,
            Box::new(|_, v| text(int_arg(v, 0).and_then(|oid| format_type(oid, int_arg(v, 1))))),
        ),
        // Expressions are stored as their SQL text.
        ("pg_get_expr", some(), T, Box::new(|_, v| text(text_arg(v, 0)))),
        (
            "pg_get_indexdef",
            some(),
            T,
            Box::new(|s, v| {
                text(int_arg(v, 0).and_then(|oid| {
                    let (t, ix) = s.index_by_oid(oid)?;
                    Some(ix.definition(t, int_arg(v, 1).unwrap_or(0), flag_arg(v, 2)))
                }))
            }),
        ),
        (
            "pg_get_constraintdef",
            some(),
            T,
            Box::new(|s, v| {
                text(int_arg(v, 0).and_then(|oid| {
                    let (t, ix) = s.constraint_by_oid(oid)?;
                    Some(ix.constraint_definition(t))
                }))
            }),
        ),
        (
            "pg_encoding_to_char",
            any(1),
            T,
            Box::new(|_, v| {
                text(int_arg(v, 0).map(|e| if e == UTF8_ENCODING { "UTF8".into() } else { String::new() }))
            }),
        ),
        (
            "to_regclass",
            any(1),
            I8,
            Box::new(|s, v| ScalarValue::Int64(text_arg(v, 0).and_then(|n| s.relation_oid(&n)))),
        ),
        (
            "to_regtype",
            any(1),
            I8,
            Box::new(|_, v| {
                ScalarValue::Int64(text_arg(v, 0).and_then(|n| {
                    TYPES
                        .iter()
                        .find(|t| t.1 == n || format_type(t.0, None).as_deref() == Some(n.as_str()))
                        .map(|t| t.0)
                }))
            }),
        ),
        (
            "pg_relation_name",
            any(1),
            T,
            Box::new(|s, v| text(int_arg(v, 0).and_then(|oid| s.relation_name(oid)))),
        ),
        (
            "pg_namespace_name",
            any(1),
            T,
            Box::new(|_, v| {
                text(int_arg(v, 0).and_then(|oid| match oid {
                    PG_CATALOG_NS => Some("pg_catalog".into()),
                    PUBLIC_NS => Some("public".into()),
                    INFORMATION_SCHEMA_NS => Some("information_schema".into()),
                    _ => None,
                }))
            }),
        ),
        ("pg_proc_name", any(1), T, Box::new(|_, v| text(int_arg(v, 0).map(|oid| oid.to_string())))),
        (
            "pg_relation_is_publishable",
            any(1),
            B,
            Box::new(|_, v| ScalarValue::Boolean(int_arg(v, 0).map(|_| false))),
        ),
        ("pg_get_statisticsobjdef_columns", any(1), T, Box::new(|_, _| text(None))),
        ("obj_description", some(), T, Box::new(|_, _| text(None))),
        ("col_description", any(2), T, Box::new(|_, _| text(None))),
        ("shobj_description", any(2), T, Box::new(|_, _| text(None))),
        // Orbit's arrays have one dimension and start at 1, so both are
        // the length; NULL for an empty array (it has no dimensions).
        ("array_upper", any(2), I4, Box::new(|_, v| array_length(v))),
        ("array_length", any(2), I4, Box::new(|_, v| array_length(v))),
        (
            "current_schema",
            Signature::nullary(Volatility::Stable),
            T,
            Box::new(|_, _| text(Some("public".into()))),
        ),
        (
            "current_database",
            Signature::nullary(Volatility::Stable),
            T,
            Box::new(|s, _| text(Some(s.database.clone()))),
        ),
        (
            "current_schemas",
            any(1),
            list_of_text.clone(),
            Box::new(|_, v| {
                let implicit = matches!(v.first(), Some(ScalarValue::Boolean(Some(true))));
                let names: Vec<ScalarValue> =
                    if implicit { vec![tv("pg_catalog"), tv("public")] } else { vec![tv("public")] };
                ScalarValue::List(ScalarValue::new_list_nullable(&names, &T))
            }),
        ),
        (
            "version",
            Signature::nullary(Volatility::Stable),
            T,
            Box::new(move |_, _| text(Some(version.clone()))),
        ),
    ];
    for (name, signature, returns, body) in functions {
        let udf = PgFunction { name, signature, returns, body, snapshot: snapshot.clone() };
        ctx.register_udf(ScalarUDF::new_from_impl(udf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::catalog::Index;
    use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider};
    use datafusion::prelude::SessionConfig;

    fn column(name: &str, sql_type: SqlType, not_null: bool) -> Column {
        Column { not_null, ..Column::new(name, sql_type) }
    }

    #[test]
    fn numeric_typmods_print_and_list_as_postgresql_does() {
        let mut amount = column("amount", SqlType::Numeric, false);
        amount.numeric = Some(crate::sql::types::NumericTypmod { precision: 10, scale: 2 });
        let columns = vec![amount, column("n", SqlType::Numeric, false), column("i", SqlType::Int4, false)];
        let table = Table { name: "t".into(), columns, primary_key: None, oid: 16400, indexes: Vec::new() };
        let packed = typmod(&table, 0);
        assert_eq!(packed, ((10 << 16) | 2) + 4);
        assert_eq!(format_type(1700, Some(packed)).as_deref(), Some("numeric(10,2)"));
        assert_eq!(typmod(&table, 1), -1);
        assert_eq!(format_type(1700, Some(-1)).as_deref(), Some("numeric"));
        assert_eq!(numeric_precision(&table.columns[0]), [Some(10), Some(10), Some(2)]);
        assert_eq!(numeric_precision(&table.columns[1]), [None, Some(10), None]);
        assert_eq!(numeric_precision(&table.columns[2]), [Some(32), Some(2), Some(0)]);
    }

    fn accounts() -> Table {
        let mut filler = column("filler", SqlType::Char, false);
        filler.length = Some(84);
        let mut balance = column("abalance", SqlType::Int4, false);
        balance.default = Some(serde_json::json!(0));
        Table {
            name: "pgbench_accounts".into(),
            columns: vec![
                column("aid", SqlType::Int4, true),
                column("bid", SqlType::Int4, false),
                balance,
                filler,
            ],
            primary_key: Some(0),
            oid: 16390,
            indexes: Vec::new(),
        }
    }

    /// [`accounts`] with a UNIQUE constraint on `bid` and a plain index on
    /// `(bid, abalance)`.
    fn indexed_accounts() -> Table {
        fn index(name: &str, columns: &[&str], unique: bool, oid: u32) -> Index {
            let columns = columns.iter().map(|c| c.to_string()).collect();
            Index { name: name.into(), columns, unique, constraint: unique, primary: false, oid }
        }
        Table {
            indexes: vec![
                index("pgbench_accounts_bid_key", &["bid"], true, 16500),
                index("accounts_bid_abalance_idx", &["bid", "abalance"], false, 16502),
            ],
            ..accounts()
        }
    }

    fn context() -> SessionContext {
        context_of(vec![accounts()])
    }

    /// A context whose catalogs show `tables`.
    fn context_of(tables: Vec<Table>) -> SessionContext {
        let config = SessionConfig::new().with_default_catalog_and_schema("orbit", "public");
        let ctx = SessionContext::new_with_config(config);
        let snapshot = Snapshot { tables, owner: "postgres".into(), database: "postgres".into() };
        let cell: SnapshotCell = Arc::new(Mutex::new(Arc::new(snapshot)));
        let catalog = MemoryCatalogProvider::new();
        // Unqualified names resolve to pg_catalog here (the real `public`
        // schema does the same for pg_ names).
        let _ = catalog.register_schema("public", Arc::new(SystemSchema::pg_catalog(cell.clone())));
        let _ = catalog.register_schema("pg_catalog", Arc::new(SystemSchema::pg_catalog(cell.clone())));
        let _ = catalog
            .register_schema("information_schema", Arc::new(SystemSchema::information_schema(cell.clone())));
        ctx.register_catalog("orbit", Arc::new(catalog));
        register_functions(&ctx, &cell, "PostgreSQL 16.6 (Orbit test)");
        ctx
    }

    /// Runs one statement the way the planner does and returns its rows as
    /// text (NULL as `NULL`).
    async fn run(ctx: &SessionContext, sql: &str) -> Result<Vec<Vec<String>>, String> {
        let mut statements =
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, sql)
                .map_err(|e| format!("parse: {e}"))?;
        let mut statement = statements.pop().ok_or("no statement")?;
        crate::sql::plan::rewrite::rewrite(&mut statement);
        let _ = crate::sql::plan::output_names(&mut statement);
        let plan = ctx
            .state()
            .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(statement)))
            .await
            .map_err(|e| format!("plan: {e}"))?;
        let batches = ctx
            .execute_logical_plan(plan)
            .await
            .map_err(|e| format!("execute: {e}"))?
            .collect()
            .await
            .map_err(|e| format!("collect: {e}"))?;
        let mut rows = Vec::new();
        let options = datafusion::arrow::util::display::FormatOptions::default().with_null("NULL");
        for batch in batches {
            let formatters: Vec<_> = batch
                .columns()
                .iter()
                .map(|c| datafusion::arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            for r in 0..batch.num_rows() {
                rows.push(formatters.iter().map(|f| f.value(r).to_string()).collect());
            }
        }
        Ok(rows)
    }

    #[tokio::test]
    async fn psql_and_pgbench_catalog_queries_plan_and_answer() {
        let ctx = context();
        let corpus = include_str!("testdata/psql15_catalog.sql");
        let queries: Vec<&str> = corpus.split("-- next\n").skip(1).collect();
        assert_eq!(queries.len(), 15);
        let mut failures = Vec::new();
        let mut results = Vec::new();
        for q in &queries {
            match run(&ctx, q).await {
                Ok(rows) => results.push(rows),
                Err(e) => {
                    failures.push(format!("{}\n  -> {e}", q.lines().next().unwrap_or_default()));
                    results.push(Vec::new());
                }
            }
        }
        assert!(failures.is_empty(), "{} failed:\n{}", failures.len(), failures.join("\n"));
        // pgbench: the table is found first on the search path, unpartitioned.
        assert_eq!(results[0], vec![vec!["2".to_string(), "NULL".into(), "0".into()]]);
        // \l
        assert_eq!(results[1][0][..3], ["postgres".to_string(), "postgres".into(), "UTF8".into()]);
        // \dt
        assert_eq!(results[2], vec![vec!["public", "pgbench_accounts", "table", "postgres"]]);
        // \d pgbench_accounts: the columns, types, defaults and NOT NULL
        let columns: Vec<Vec<&str>> =
            results[6].iter().map(|r| r.iter().take(4).map(String::as_str).collect()).collect();
        assert_eq!(
            columns,
            vec![
                vec!["aid", "integer", "NULL", "true"],
                vec!["bid", "integer", "NULL", "false"],
                vec!["abalance", "integer", "0", "false"],
                vec!["filler", "character(84)", "NULL", "false"],
            ]
        );
        // ... and its primary key index (pretty: the table unqualified)
        assert_eq!(results[7][0][0], "pgbench_accounts_pkey");
        assert_eq!(
            results[7][0][5],
            "CREATE UNIQUE INDEX pgbench_accounts_pkey ON pgbench_accounts USING btree (aid)"
        );
        assert_eq!(results[7][0][6], "PRIMARY KEY (aid)");
        // \dn
        assert_eq!(results[13], vec![vec!["public", "pg_database_owner"]]);
        // information_schema, as ORMs and drivers read it
        let columns = run(
            &ctx,
            "SELECT table_name, column_name, ordinal_position, is_nullable, data_type, character_maximum_length, \
             column_default FROM information_schema.columns WHERE table_schema = 'public' ORDER BY ordinal_position",
        )
        .await
        .unwrap();
        assert_eq!(columns[0], ["pgbench_accounts", "aid", "1", "NO", "integer", "NULL", "NULL"]);
        assert_eq!(columns[2][6], "0");
        assert_eq!(columns[3][4..6], ["character".to_string(), "84".into()]);
        let tables =
            run(&ctx, "SELECT table_schema, table_name, table_type FROM information_schema.tables").await;
        assert_eq!(tables.unwrap(), vec![vec!["public", "pgbench_accounts", "BASE TABLE"]]);
    }

    #[test]
    fn identifiers_are_quoted_as_postgresql_quotes_them() {
        assert_eq!(quote_ident("email_2"), "email_2");
        assert_eq!(quote_ident("_x"), "_x");
        assert_eq!(quote_ident("name"), "name");
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("Email"), "\"Email\"");
        assert_eq!(quote_ident("2x"), "\"2x\"");
        assert_eq!(quote_ident("a b\"c"), "\"a b\"\"c\"");
        assert_eq!(quote_ident(""), "\"\"");
    }

    #[tokio::test]
    async fn secondary_indexes_list_as_postgresql_lists_them() {
        let ctx = context_of(vec![indexed_accounts()]);
        assert_eq!(
            run(
                &ctx,
                "SELECT oid, relname, relkind, relam, relnatts FROM pg_catalog.pg_class \
                 WHERE relkind = 'i' ORDER BY oid"
            )
            .await
            .unwrap(),
            vec![
                vec!["16391", "pgbench_accounts_pkey", "i", "403", "1"],
                vec!["16500", "pgbench_accounts_bid_key", "i", "403", "1"],
                vec!["16502", "accounts_bid_abalance_idx", "i", "403", "2"],
            ]
        );
        assert_eq!(
            run(
                &ctx,
                "SELECT indexrelid, indrelid, indnatts, indnkeyatts, indisunique, indisprimary, indkey \
                 FROM pg_catalog.pg_index ORDER BY indexrelid"
            )
            .await
            .unwrap(),
            vec![
                vec!["16391", "16390", "1", "1", "true", "true", "1"],
                vec!["16500", "16390", "1", "1", "true", "false", "2"],
                vec!["16502", "16390", "2", "2", "false", "false", "2 3"],
            ]
        );
        // Only the UNIQUE constraint's index has a constraint (OID its index's + 1).
        assert_eq!(
            run(
                &ctx,
                "SELECT oid, conname, contype, conrelid, conindid, conkey FROM pg_catalog.pg_constraint \
                 ORDER BY oid"
            )
            .await
            .unwrap(),
            vec![
                vec!["16501", "pgbench_accounts_bid_key", "u", "16390", "16500", "{2}"],
                vec!["16390999", "pgbench_accounts_pkey", "p", "16390", "16391", "{1}"],
            ]
        );
        // An index's attributes are its columns, in index order.
        assert_eq!(
            run(
                &ctx,
                "SELECT attname, attnum FROM pg_catalog.pg_attribute WHERE attrelid = 16502 ORDER BY attnum"
            )
            .await
            .unwrap(),
            vec![vec!["bid", "1"], vec!["abalance", "2"]]
        );
        assert_eq!(
            run(
                &ctx,
                "SELECT pg_get_indexdef(16500), pg_get_indexdef(16502, 0, true), \
                 pg_get_indexdef(16502, 2, true), pg_get_indexdef(16502, 3, true), \
                 pg_get_constraintdef(16501), to_regclass('pgbench_accounts_bid_key'), \
                 pg_relation_name(16502)"
            )
            .await
            .unwrap(),
            vec![vec![
                "CREATE UNIQUE INDEX pgbench_accounts_bid_key ON public.pgbench_accounts USING btree (bid)",
                "CREATE INDEX accounts_bid_abalance_idx ON pgbench_accounts USING btree (bid, abalance)",
                "abalance",
                "",
                "UNIQUE (bid)",
                "16500",
                "accounts_bid_abalance_idx",
            ]]
        );
        // psql's \d: the primary key first, then the others by name.
        let corpus = include_str!("testdata/psql15_catalog.sql");
        let describe = corpus.split("-- next\n").nth(8).unwrap_or_default();
        let indexes = run(&ctx, describe).await.unwrap();
        let shown: Vec<Vec<&str>> =
            indexes.iter().map(|r| [0, 1, 2, 5, 6, 7].iter().map(|&i| r[i].as_str()).collect()).collect();
        assert_eq!(
            shown,
            vec![
                vec![
                    "pgbench_accounts_pkey",
                    "true",
                    "true",
                    "CREATE UNIQUE INDEX pgbench_accounts_pkey ON pgbench_accounts USING btree (aid)",
                    "PRIMARY KEY (aid)",
                    "p",
                ],
                vec![
                    "accounts_bid_abalance_idx",
                    "false",
                    "false",
                    "CREATE INDEX accounts_bid_abalance_idx ON pgbench_accounts USING btree (bid, abalance)",
                    "NULL",
                    "NULL",
                ],
                vec![
                    "pgbench_accounts_bid_key",
                    "false",
                    "true",
                    "CREATE UNIQUE INDEX pgbench_accounts_bid_key ON pgbench_accounts USING btree (bid)",
                    "UNIQUE (bid)",
                    "u",
                ],
            ]
        );
    }
}

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
//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | the snapshot, the table of system tables, the schemas DataFusion sees |
//! | `tables.rs` | each `pg_catalog` and `information_schema` table, built from the snapshot |
//! | `functions.rs` | PostgreSQL's catalog functions |

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

pub(crate) mod functions;
mod tables;

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

    /// The FOREIGN KEY constraint with this OID in `pg_constraint`, and
    /// its table.
    fn foreign_key_by_oid(&self, oid: i64) -> Option<(&Table, &crate::sql::catalog::ForeignKey)> {
        self.tables
            .iter()
            .find_map(|t| t.foreign_keys.iter().find(|k| i64::from(k.oid) == oid).map(|k| (t, k)))
    }

    /// The CHECK constraint with this OID in `pg_constraint`, and its table.
    fn check_by_oid(&self, oid: i64) -> Option<(&Table, &crate::sql::catalog::Check)> {
        self.tables.iter().find_map(|t| t.checks.iter().find(|c| i64::from(c.oid) == oid).map(|c| (t, c)))
    }

    /// The OID of the index a foreign key's referenced columns are found
    /// by (`pg_constraint.conindid`): the referenced table's primary key's
    /// or unique index's.
    fn referenced_index(&self, key: &crate::sql::catalog::ForeignKey) -> Option<(i64, Vec<usize>)> {
        let parent = self.tables.iter().find(|t| t.name == key.table)?;
        let columns =
            key.references.iter().map(|c| parent.column(c).map(|(i, _)| i)).collect::<Option<Vec<_>>>()?;
        let index = table_indexes(parent).into_iter().find(|ix| {
            ix.unique && ix.columns.len() == columns.len() && columns.iter().all(|c| ix.columns.contains(c))
        })?;
        Some((index.oid, columns))
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
        if let Some(&(oid, _)) =
            SYSTEM_RELATIONS.iter().find(|(_, n)| *n == name.strip_prefix("pg_catalog.").unwrap_or(name))
        {
            return Some(oid);
        }
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
    match (args.first(), functions::int_arg(args, 1)) {
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

/// System catalogs by OID, as `regclass` names them (`pg_description.classoid`,
/// `pg_depend.classid`).
const SYSTEM_RELATIONS: &[(i64, &str)] = &[
    (1247, "pg_type"),
    (1249, "pg_attribute"),
    (1255, "pg_proc"),
    (1259, "pg_class"),
    (2224, "pg_sequence"),
    (2601, "pg_am"),
    (2604, "pg_attrdef"),
    (2606, "pg_constraint"),
    (2608, "pg_depend"),
    (2609, "pg_description"),
    (2610, "pg_index"),
    (2611, "pg_inherits"),
    (2615, "pg_namespace"),
    (2616, "pg_opclass"),
];

/// `pg_class`'s OID, the class of every relation in `pg_depend`.
const PG_CLASS_OID: i64 = 1259;

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

    /// `pg_index.indkey`: the attnums, as an array.
    fn indkey(&self) -> ScalarValue {
        let numbers: Vec<ScalarValue> =
            self.columns.iter().map(|c| ScalarValue::Int16(Some(*c as i16 + 1))).collect();
        ScalarValue::List(ScalarValue::new_list_nullable(&numbers, &I2))
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
    pub(super) fn constraint_definition(&self, table: &Table) -> String {
        let kind = if self.primary { "PRIMARY KEY" } else { "UNIQUE" };
        format!("{kind} ({})", self.column_list(table))
    }
}

/// `pg_get_constraintdef` of a FOREIGN KEY, as PostgreSQL prints it (its
/// actions other than NO ACTION, ON UPDATE first).
pub(super) fn foreign_key_definition(key: &crate::sql::catalog::ForeignKey) -> String {
    let list = |columns: &[String]| columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ");
    let mut text = format!(
        "FOREIGN KEY ({}) REFERENCES {}({})",
        list(&key.columns),
        quote_ident(&key.table),
        list(&key.references)
    );
    use crate::sql::catalog::RefAction;
    if key.on_update != RefAction::NoAction {
        text.push_str(&format!(" ON UPDATE {}", key.on_update.words()));
    }
    if key.on_delete != RefAction::NoAction {
        text.push_str(&format!(" ON DELETE {}", key.on_delete.words()));
    }
    text
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
    if let Some(sql) = c.default_expr.as_ref().or(c.generated.as_ref()) {
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

/// A system catalog table: its name, whether it is always empty (a catalog
/// of a feature Orbit does not have), and how it is built from the snapshot.
pub(crate) struct SystemTable {
    pub name: &'static str,
    pub empty: bool,
    build: fn(&Snapshot) -> Builder,
}

/// The tables of `pg_catalog`, each named once.
const PG_TABLES: &[SystemTable] = &[
    SystemTable { name: "pg_am", empty: false, build: tables::pg_am },
    SystemTable { name: "pg_attrdef", empty: false, build: tables::pg_attrdef },
    SystemTable { name: "pg_attribute", empty: false, build: tables::pg_attribute },
    SystemTable { name: "pg_auth_members", empty: true, build: tables::pg_auth_members },
    SystemTable { name: "pg_class", empty: false, build: tables::pg_class },
    SystemTable { name: "pg_collation", empty: false, build: tables::pg_collation },
    SystemTable { name: "pg_constraint", empty: false, build: tables::pg_constraint },
    SystemTable { name: "pg_database", empty: false, build: tables::pg_database },
    SystemTable { name: "pg_depend", empty: false, build: tables::pg_depend },
    SystemTable { name: "pg_description", empty: false, build: tables::pg_description },
    SystemTable { name: "pg_index", empty: false, build: tables::pg_index },
    SystemTable { name: "pg_inherits", empty: true, build: tables::pg_inherits },
    SystemTable { name: "pg_proc", empty: true, build: tables::pg_proc },
    SystemTable { name: "pg_namespace", empty: false, build: tables::pg_namespace },
    SystemTable { name: "pg_opclass", empty: true, build: tables::pg_opclass },
    SystemTable { name: "pg_partitioned_table", empty: true, build: tables::pg_partitioned_table },
    SystemTable { name: "pg_policy", empty: true, build: tables::pg_policy },
    SystemTable { name: "pg_publication", empty: true, build: tables::pg_publication },
    SystemTable { name: "pg_publication_namespace", empty: true, build: tables::pg_publication_namespace },
    SystemTable { name: "pg_publication_rel", empty: true, build: tables::pg_publication_rel },
    SystemTable { name: "pg_roles", empty: false, build: tables::pg_roles },
    SystemTable { name: "pg_sequence", empty: false, build: tables::pg_sequence },
    SystemTable { name: "pg_statistic_ext", empty: true, build: tables::pg_statistic_ext },
    SystemTable { name: "pg_tables", empty: false, build: tables::pg_tables },
    SystemTable { name: "pg_tablespace", empty: false, build: tables::pg_tablespace },
    SystemTable { name: "pg_type", empty: false, build: tables::pg_type },
    SystemTable { name: "pg_user", empty: false, build: tables::pg_user },
    SystemTable { name: "pg_views", empty: false, build: tables::pg_views },
];

/// The tables of `information_schema`.
const INFORMATION_TABLES: &[SystemTable] = &[
    SystemTable { name: "columns", empty: false, build: tables::columns },
    SystemTable { name: "schemata", empty: false, build: tables::schemata },
    SystemTable { name: "tables", empty: false, build: tables::tables },
    SystemTable { name: "views", empty: false, build: tables::views },
];

/// Whether `name` is a table of `pg_catalog`.
pub(crate) fn is_pg_table(name: &str) -> bool {
    PG_TABLES.iter().any(|t| t.name == name)
}

/// Whether `name` is a `pg_catalog` table that is always empty.
pub(crate) fn is_empty_table(name: &str) -> bool {
    PG_TABLES.iter().any(|t| t.name == name && t.empty)
}

/// Builds table `name` of `tables` from the snapshot.
fn build(tables: &[SystemTable], name: &str, s: &Snapshot) -> DfResult<Option<Arc<dyn TableProvider>>> {
    match tables.iter().find(|t| t.name == name) {
        Some(table) => (table.build)(s).build().map(Some),
        None => Ok(None),
    }
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
        build(PG_TABLES, name, &current(snapshot))
    }
}

#[async_trait::async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        let tables = if self.information { INFORMATION_TABLES } else { PG_TABLES };
        tables.iter().map(|t| t.name.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let snapshot = current(&self.snapshot);
        build(if self.information { INFORMATION_TABLES } else { PG_TABLES }, name, &snapshot)
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
        if text.starts_with("pg_catalog.") || text.starts_with("information_schema.") || is_pg_table(last) {
            found = true;
        }
        ControlFlow::<()>::Continue(())
    });
    // Functions answering from the catalog, and names cast to `regclass`.
    let _ = ast::visit_expressions(node, |expr: &ast::Expr| {
        let reads = match expr {
            ast::Expr::Function(function) => {
                let name = function.name.to_string().to_lowercase();
                CATALOG_FUNCTIONS.contains(&name.strip_prefix("pg_catalog.").unwrap_or(&name))
            }
            ast::Expr::Cast { data_type, .. } => {
                matches!(data_type, ast::DataType::Regclass)
                    || matches!(data_type, ast::DataType::Custom(n, _) if n.to_string().eq_ignore_ascii_case("regclass"))
            }
            _ => false,
        };
        found |= reads;
        ControlFlow::<()>::Continue(())
    });
    found
}

/// The functions that read the catalog's snapshot for their answer.
const CATALOG_FUNCTIONS: [&str; 7] = [
    "pg_get_serial_sequence",
    "pg_get_viewdef",
    "pg_get_indexdef",
    "pg_get_constraintdef",
    "to_regclass",
    "pg_relation_name",
    "pg_table_is_visible",
];

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
        let table = Table { columns, oid: 16400, ..Table::named("t") };
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
            columns: vec![
                column("aid", SqlType::Int4, true),
                column("bid", SqlType::Int4, false),
                balance,
                filler,
            ],
            primary_key: Some(0),
            oid: 16390,
            ..Table::named("pgbench_accounts")
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
        functions::register_functions(&ctx, &cell, "PostgreSQL 16.6 (Orbit test)", Arc::new(|_| None));
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
                vec!["16391", "16390", "1", "1", "true", "true", "[1]"],
                vec!["16500", "16390", "1", "1", "true", "false", "[2]"],
                vec!["16502", "16390", "2", "2", "false", "false", "[2, 3]"],
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

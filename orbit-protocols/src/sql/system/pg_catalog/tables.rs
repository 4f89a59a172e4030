//! How each system catalog table is built from the snapshot: one function
//! per table, named as the table.

use super::*;

pub(super) fn pg_namespace(_s: &Snapshot) -> Builder {
    let mut b = Builder::new(&[("oid", I8), ("nspname", T), ("nspowner", I8), ("nspacl", T)]);
    for (oid, name, owner) in [
        (PG_CATALOG_NS, "pg_catalog", OWNER),
        (PUBLIC_NS, "public", DATABASE_OWNER),
        (INFORMATION_SCHEMA_NS, "information_schema", OWNER),
    ] {
        b.row(vec![i8v(oid), tv(name), i8v(owner), null(&T)]);
    }
    b
}

pub(super) fn pg_class(s: &Snapshot) -> Builder {
    let mut b = Builder::new(&[
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
            let checks = if kind == "r" { t.checks.len() } else { 0 };
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
                i2v(checks as i64),
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
        if t.view.is_some() {
            b.row(relation(oid, &t.name, 0, "v", t.columns.len(), false));
            continue;
        }
        if t.sequence.is_some() {
            b.row(relation(oid, &t.name, 0, "S", 3, false));
            continue;
        }
        b.row(relation(oid, &t.name, HEAP_AM, "r", t.columns.len(), has_index));
        for ix in &indexes {
            b.row(relation(ix.oid, &ix.name, BTREE_AM, "i", ix.columns.len(), false));
        }
        // Serial columns' counters, shown as the sequences they stand for.
        for (seq_oid, name) in sequences(t) {
            b.row(relation(seq_oid, &name, 0, "S", 3, false));
        }
    }
    b
}

pub(super) fn pg_attribute(s: &Snapshot) -> Builder {
    let mut b = Builder::new(&[
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
            let has_default = (c.serial && c.identity.is_none())
                || c.default.is_some()
                || c.default_expr.is_some()
                || c.generated.is_some();
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
                    tv(if relid == oid && c.generated.is_some() { "s" } else { "" }),
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
    b
}

pub(super) fn pg_attrdef(s: &Snapshot) -> Builder {
    let mut b = Builder::new(&[("oid", I8), ("adrelid", I8), ("adnum", I2), ("adbin", T)]);
    for t in &s.tables {
        for i in 0..t.columns.len() {
            if let Some(text) = default_text(t, i) {
                let oid = i64::from(t.oid());
                b.row(vec![i8v(oid * 1000 + i as i64), i8v(oid), i2v(i as i64 + 1), tv(&text)]);
            }
        }
    }
    b
}

pub(super) fn pg_type(_s: &Snapshot) -> Builder {
    let mut b = Builder::new(&[
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
    b
}

pub(super) fn pg_am(_s: &Snapshot) -> Builder {
    let mut b = Builder::new(&[("oid", I8), ("amname", T), ("amtype", T)]);
    b.row(vec![i8v(HEAP_AM), tv("heap"), tv("t")]);
    b.row(vec![i8v(BTREE_AM), tv("btree"), tv("i")]);
    b
}

pub(super) fn pg_index(s: &Snapshot) -> Builder {
    let mut b = Builder::new(&[
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
        ("indkey", int2_array()),
        ("indclass", int8_array()),
        ("indoption", T),
        ("indnullsnotdistinct", B),
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
                ix.indkey(),
                list_of(&vec![ScalarValue::Int64(Some(0)); ix.columns.len()], &I8),
                // int2vector text: clients split it (all ascending).
                tv(&vec!["0"; ix.columns.len()].join(" ")),
                bv(false),
                null(&T),
                null(&T),
            ]);
        }
    }
    b
}

fn int2_array() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(I2, true)))
}

fn int8_array() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(I8, true)))
}

fn list_of(values: &[ScalarValue], element: &DataType) -> ScalarValue {
    ScalarValue::List(ScalarValue::new_list_nullable(values, element))
}

/// The sequences: `CREATE SEQUENCE`'s with their rules, and serial
/// columns' as `SERIAL`'s (from 1, by 1, up to the type's maximum, no
/// cycle).
pub(super) fn pg_sequence(s: &Snapshot) -> Builder {
    let mut b = Builder::new(&[
        ("seqrelid", I8),
        ("seqtypid", I8),
        ("seqstart", I8),
        ("seqincrement", I8),
        ("seqmax", I8),
        ("seqmin", I8),
        ("seqcache", I8),
        ("seqcycle", B),
    ]);
    let type_oid = |sql_type: SqlType| match sql_type {
        SqlType::Int2 => 21,
        SqlType::Int4 => 23,
        _ => 20,
    };
    for t in &s.tables {
        let oid = i64::from(t.oid());
        if let Some(rules) = &t.sequence {
            b.row(vec![
                i8v(oid),
                i8v(type_oid(rules.sql_type)),
                i8v(rules.start),
                i8v(rules.increment),
                i8v(rules.max),
                i8v(rules.min),
                i8v(rules.cache),
                bv(rules.cycle),
            ]);
        }
        for (i, c) in t.columns.iter().enumerate().filter(|(_, c)| c.serial) {
            let (type_oid, max) = match c.sql_type {
                SqlType::Int2 => (21, i64::from(i16::MAX)),
                SqlType::Int4 => (23, i64::from(i32::MAX)),
                _ => (20, i64::MAX),
            };
            let row = vec![
                i8v(oid * 1000 + 500 + i as i64),
                i8v(type_oid),
                i8v(1),
                i8v(1),
                i8v(max),
                i8v(1),
                i8v(1),
                bv(false),
            ];
            b.row(row);
        }
    }
    b
}

/// Dependencies PostgreSQL records that clients read: each serial
/// column's sequence belongs to its column (`a`; `i` for identity).
pub(super) fn pg_depend(s: &Snapshot) -> Builder {
    let mut b = Builder::new(&[
        ("classid", I8),
        ("objid", I8),
        ("objsubid", I4),
        ("refclassid", I8),
        ("refobjid", I8),
        ("refobjsubid", I4),
        ("deptype", T),
    ]);
    for t in &s.tables {
        let oid = i64::from(t.oid());
        // A sequence OWNED BY a column.
        if let Some((table, column)) = t.sequence.as_ref().and_then(|r| r.owned_by.as_ref())
            && let Some(owner) = s.tables.iter().find(|o| o.name == *table)
            && let Some((attnum, _)) = owner.column(column)
        {
            b.row(vec![
                i8v(PG_CLASS_OID),
                i8v(oid),
                i4v(0),
                i8v(PG_CLASS_OID),
                i8v(i64::from(owner.oid())),
                i4v(attnum as i64 + 1),
                tv("a"),
            ]);
        }
        for (i, c) in t.columns.iter().enumerate().filter(|(_, c)| c.serial) {
            let kind = if c.identity.is_some() { "i" } else { "a" };
            b.row(vec![
                i8v(PG_CLASS_OID),
                i8v(oid * 1000 + 500 + i as i64),
                i4v(0),
                i8v(PG_CLASS_OID),
                i8v(oid),
                i4v(i as i64 + 1),
                tv(kind),
            ]);
        }
    }
    b
}

/// Operator classes: none but the defaults, which clients never list.
pub(super) fn pg_opclass(_s: &Snapshot) -> Builder {
    Builder::new(&[
        ("oid", I8),
        ("opcmethod", I8),
        ("opcname", T),
        ("opcnamespace", I8),
        ("opcowner", I8),
        ("opcfamily", I8),
        ("opcintype", I8),
        ("opcdefault", B),
        ("opckeytype", I8),
    ])
}

pub(super) fn pg_tablespace(_s: &Snapshot) -> Builder {
    let mut b =
        Builder::new(&[("oid", I8), ("spcname", T), ("spcowner", I8), ("spcacl", T), ("spcoptions", T)]);
    for (oid, name) in [(1663, "pg_default"), (1664, "pg_global")] {
        b.row(vec![i8v(oid), tv(name), i8v(OWNER), null(&T), null(&T)]);
    }
    b
}

pub(super) fn pg_constraint(s: &Snapshot) -> Builder {
    let mut b = Builder::new(&[
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
        ("confkey", T),
        ("confupdtype", T),
        ("confdeltype", T),
        ("confmatchtype", T),
    ]);
    for t in &s.tables {
        let oid = i64::from(t.oid());
        for key in &t.foreign_keys {
            let Some((index, referenced)) = s.referenced_index(key) else { continue };
            let Some(parent) = s.tables.iter().find(|p| p.name == key.table) else { continue };
            let attnums = |table: &Table, columns: &[String]| {
                let numbers: Vec<String> = columns
                    .iter()
                    .filter_map(|c| table.column(c).map(|(i, _)| (i + 1).to_string()))
                    .collect();
                format!("{{{}}}", numbers.join(","))
            };
            let confkey: Vec<String> = referenced.iter().map(|i| (i + 1).to_string()).collect();
            b.row(vec![
                i8v(i64::from(key.oid)),
                tv(&key.name),
                i8v(PUBLIC_NS),
                tv("f"),
                bv(false),
                bv(false),
                bv(true),
                i8v(oid),
                i8v(0),
                i8v(index),
                i8v(0),
                i8v(i64::from(parent.oid())),
                bv(true),
                i4v(0),
                bv(true),
                tv(&attnums(t, &key.columns)),
                tv(&format!("{{{}}}", confkey.join(","))),
                tv(key.on_update.code()),
                tv(key.on_delete.code()),
                tv("s"),
            ]);
        }
        for check in &t.checks {
            let read = crate::sql::parse::parse_expr(&check.expr)
                .map(|e| crate::sql::exec::checks::columns_read(&e))
                .unwrap_or_default();
            let numbers: Vec<String> =
                read.iter().filter_map(|c| t.column(c).map(|(i, _)| (i + 1).to_string())).collect();
            b.row(vec![
                i8v(i64::from(check.oid)),
                tv(&check.name),
                i8v(PUBLIC_NS),
                tv("c"),
                bv(false),
                bv(false),
                bv(true),
                i8v(oid),
                i8v(0),
                i8v(0),
                i8v(0),
                i8v(0),
                bv(true),
                i4v(0),
                bv(false),
                tv(&format!("{{{}}}", numbers.join(","))),
                null(&T),
                tv(" "),
                tv(" "),
                tv(" "),
            ]);
        }
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
                null(&T),
                tv(" "),
                tv(" "),
                tv(" "),
            ]);
        }
    }
    b
}

pub(super) fn pg_collation(_s: &Snapshot) -> Builder {
    let mut b = Builder::new(&[("oid", I8), ("collname", T), ("collnamespace", I8), ("collprovider", T)]);
    for (oid, name) in [(DEFAULT_COLLATION, "default"), (950, "C"), (951, "POSIX")] {
        b.row(vec![i8v(oid), tv(name), i8v(PG_CATALOG_NS), tv(if oid == 100 { "d" } else { "c" })]);
    }
    b
}

pub(super) fn pg_database(s: &Snapshot) -> Builder {
    let mut b = Builder::new(&[
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
    b
}

/// `pg_roles` and `pg_user`: the same rows, the name column named apart.
fn roles(s: &Snapshot, name: &str) -> Builder {
    let mut b = Builder::new(&[
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
    for (oid, role, login) in [(OWNER, s.owner.as_str(), true), (DATABASE_OWNER, "pg_database_owner", false)]
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
    b
}

pub(super) fn pg_roles(s: &Snapshot) -> Builder {
    roles(s, "rolname")
}

pub(super) fn pg_user(s: &Snapshot) -> Builder {
    roles(s, "usename")
}

pub(super) fn pg_tables(s: &Snapshot) -> Builder {
    let mut b = Builder::new(&[
        ("schemaname", T),
        ("tablename", T),
        ("tableowner", T),
        ("tablespace", T),
        ("hasindexes", B),
        ("hasrules", B),
        ("hastriggers", B),
        ("rowsecurity", B),
    ]);
    for t in s.tables.iter().filter(|t| t.has_rows()) {
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
    b
}

pub(super) fn pg_views(s: &Snapshot) -> Builder {
    let mut b = Builder::new(&[("schemaname", T), ("viewname", T), ("viewowner", T), ("definition", T)]);
    for t in &s.tables {
        if let Some(view) = &t.view {
            b.row(vec![tv("public"), tv(&t.name), tv(&s.owner), tv(&view_definition(&view.query))]);
        }
    }
    b
}

/// A view's query as `pg_get_viewdef` and `pg_views` show it.
pub(super) fn view_definition(query: &str) -> String {
    format!(" {query};")
}

pub(super) fn views(s: &Snapshot) -> Builder {
    let mut b =
        Builder::new(&[("table_catalog", T), ("table_schema", T), ("table_name", T), ("view_definition", T)]);
    for t in &s.tables {
        if let Some(view) = &t.view {
            b.row(vec![tv(&s.database), tv("public"), tv(&t.name), tv(&view_definition(&view.query))]);
        }
    }
    b
}

pub(super) fn pg_auth_members(_s: &Snapshot) -> Builder {
    Builder::new(&[("oid", I8), ("roleid", I8), ("member", I8), ("grantor", I8), ("admin_option", B)])
}

/// `COMMENT ON`'s texts: a relation's (`objsubid` 0) and its columns'.
pub(super) fn pg_description(s: &Snapshot) -> Builder {
    let mut b = Builder::new(&[("objoid", I8), ("classoid", I8), ("objsubid", I4), ("description", T)]);
    for t in &s.tables {
        let oid = i64::from(t.oid());
        if let Some(comment) = &t.comment {
            b.row(vec![i8v(oid), i8v(PG_CLASS_OID), i4v(0), tv(comment)]);
        }
        for (i, c) in t.columns.iter().enumerate() {
            if let Some(comment) = &c.comment {
                b.row(vec![i8v(oid), i8v(PG_CLASS_OID), i4v(i as i64 + 1), tv(comment)]);
            }
        }
    }
    b
}

/// Functions: none a user made (Orbit has no `CREATE FUNCTION`), so psql's
/// `\df` lists none, as PostgreSQL does for a database without any.
pub(super) fn pg_proc(_s: &Snapshot) -> Builder {
    Builder::new(&[
        ("oid", I8),
        ("proname", T),
        ("pronamespace", I8),
        ("proowner", I8),
        ("prolang", I8),
        ("prokind", T),
        ("prosecdef", B),
        ("proretset", B),
        ("provolatile", T),
        ("pronargs", I2),
        ("prorettype", I8),
        ("proargtypes", T),
        ("prosrc", T),
    ])
}

pub(super) fn pg_inherits(_s: &Snapshot) -> Builder {
    Builder::new(&[("inhrelid", I8), ("inhparent", I8), ("inhseqno", I4), ("inhdetachpending", B)])
}

pub(super) fn pg_partitioned_table(_s: &Snapshot) -> Builder {
    Builder::new(&[("partrelid", I8), ("partstrat", T), ("partnatts", I2), ("partdefid", I8)])
}

pub(super) fn pg_policy(_s: &Snapshot) -> Builder {
    Builder::new(&[
        ("oid", I8),
        ("polname", T),
        ("polrelid", I8),
        ("polcmd", T),
        ("polpermissive", B),
        ("polroles", DataType::List(Arc::new(Field::new_list_field(I8, true)))),
        ("polqual", T),
        ("polwithcheck", T),
    ])
}

pub(super) fn pg_statistic_ext(_s: &Snapshot) -> Builder {
    Builder::new(&[
        ("oid", I8),
        ("stxrelid", I8),
        ("stxname", T),
        ("stxnamespace", I8),
        ("stxowner", I8),
        ("stxstattarget", I4),
        ("stxkind", DataType::List(Arc::new(Field::new_list_field(T, true)))),
    ])
}

pub(super) fn pg_publication(_s: &Snapshot) -> Builder {
    Builder::new(&[("oid", I8), ("pubname", T), ("pubowner", I8), ("puballtables", B)])
}

pub(super) fn pg_publication_namespace(_s: &Snapshot) -> Builder {
    Builder::new(&[("oid", I8), ("pnpubid", I8), ("pnnspid", I8)])
}

pub(super) fn pg_publication_rel(_s: &Snapshot) -> Builder {
    Builder::new(&[
        ("oid", I8),
        ("prpubid", I8),
        ("prrelid", I8),
        ("prqual", T),
        ("prattrs", DataType::List(Arc::new(Field::new_list_field(I2, true)))),
    ])
}

pub(super) fn schemata(s: &Snapshot) -> Builder {
    let mut b = Builder::new(&[("catalog_name", T), ("schema_name", T), ("schema_owner", T)]);
    for schema in ["pg_catalog", "public", "information_schema"] {
        b.row(vec![tv(&s.database), tv(schema), tv(&s.owner)]);
    }
    b
}

pub(super) fn tables(s: &Snapshot) -> Builder {
    let mut b =
        Builder::new(&[("table_catalog", T), ("table_schema", T), ("table_name", T), ("table_type", T)]);
    for t in s.tables.iter().filter(|t| t.sequence.is_none()) {
        let kind = if t.view.is_some() { "VIEW" } else { "BASE TABLE" };
        b.row(vec![tv(&s.database), tv("public"), tv(&t.name), tv(kind)]);
    }
    b
}

pub(super) fn columns(s: &Snapshot) -> Builder {
    let mut b = Builder::new(&[
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
    b
}

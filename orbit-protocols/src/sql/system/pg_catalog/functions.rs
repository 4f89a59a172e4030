//! PostgreSQL's catalog functions (`format_type`, `pg_get_indexdef`,
//! `has_table_privilege`...), answered from the snapshot.

use super::*;

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

pub(super) fn int_arg(values: &[ScalarValue], i: usize) -> Option<i64> {
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

/// A session's setting by name (`current_setting`).
pub(crate) type Setting = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A scalar as a JSON value (`json_build_object`).
fn json_of(value: &ScalarValue) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        v if v.is_null() => Json::Null,
        ScalarValue::Boolean(Some(b)) => Json::Bool(*b),
        ScalarValue::Int16(Some(n)) => Json::from(*n),
        ScalarValue::Int32(Some(n)) => Json::from(*n),
        ScalarValue::Int64(Some(n)) => Json::from(*n),
        ScalarValue::Float64(Some(n)) => Json::from(*n),
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => {
            Json::String(s.clone())
        }
        v => Json::String(v.to_string()),
    }
}

/// PostgreSQL's name of a value's type (`pg_typeof`).
fn type_name_of(value: &ScalarValue) -> &'static str {
    match value.data_type() {
        DataType::Boolean => "boolean",
        DataType::Int16 => "smallint",
        DataType::Int32 => "integer",
        DataType::Int64 => "bigint",
        DataType::Float32 => "real",
        DataType::Float64 => "double precision",
        DataType::Decimal128(..) => "numeric",
        DataType::Date32 => "date",
        DataType::Timestamp(_, None) => "timestamp without time zone",
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone",
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "bytea",
        DataType::Null => "unknown",
        DataType::List(_) => "anyarray",
        _ => "text",
    }
}

/// Registers PostgreSQL's catalog functions on `ctx`; `setting` answers
/// `current_setting`.
pub(crate) fn register_functions(
    ctx: &SessionContext,
    snapshot: &SnapshotCell,
    version: &str,
    setting: Setting,
) {
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
        // No function is in `pg_proc` (see there): none has a signature.
        ("pg_function_is_visible", any(1), B, Box::new(|_, _| ScalarValue::Boolean(None))),
        ("pg_get_function_result", any(1), T, Box::new(|_, _| text(None))),
        ("pg_get_function_arguments", any(1), T, Box::new(|_, _| text(None))),
        ("pg_type_is_visible", any(1), B, Box::new(|_, v| ScalarValue::Boolean(int_arg(v, 0).map(|_| true)))),
        // One collation, visible.
        (
            "pg_collation_is_visible",
            any(1),
            B,
            Box::new(|_, v| ScalarValue::Boolean(int_arg(v, 0).map(|_| true))),
        ),
        ("pg_typeof", any(1), T, Box::new(|_, v| text(v.first().map(|v| type_name_of(v).to_string())))),
        (
            "json_build_object",
            some(),
            T,
            Box::new(|_, v| {
                let mut object = serde_json::Map::new();
                for pair in v.chunks(2) {
                    let key = match &pair[0] {
                        k if k.is_null() => continue,
                        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => s.clone(),
                        k => k.to_string(),
                    };
                    object.insert(key, pair.get(1).map_or(serde_json::Value::Null, json_of));
                }
                text(Some(serde_json::Value::Object(object).to_string()))
            }),
        ),
        ("quote_ident", any(1), T, Box::new(|_, v| text(text_arg(v, 0).map(|name| quote_ident(&name))))),
        (
            "pg_get_serial_sequence",
            any(2),
            T,
            Box::new(|s, v| {
                text(text_arg(v, 0).zip(text_arg(v, 1)).and_then(|(table, column)| {
                    let table = table.strip_prefix("public.").unwrap_or(&table).trim_matches('"').to_string();
                    let t = s.tables.iter().find(|t| t.name == table)?;
                    let (_, c) = t.column(&column)?;
                    c.serial.then(|| format!("public.{}", quote_ident(&t.sequence_key(&c.name))))
                }))
            }),
        ),
        (
            "current_setting",
            some(),
            T,
            Box::new(move |_, v| text(text_arg(v, 0).and_then(|name| setting(&name)))),
        ),
        (
            "format_type",
            any(2),
            T,
            Box::new(|_, v| text(int_arg(v, 0).and_then(|oid| format_type(oid, int_arg(v, 1))))),
        ),
        // Expressions are stored as their SQL text.
        ("pg_get_expr", some(), T, Box::new(|_, v| text(text_arg(v, 0)))),
        (
            "pg_get_viewdef",
            some(),
            T,
            Box::new(|s, v| {
                text(int_arg(v, 0).and_then(|oid| {
                    let view = s.table_by_oid(oid)?.view.as_ref()?;
                    Some(super::tables::view_definition(&view.query))
                }))
            }),
        ),
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
                text(int_arg(v, 0).and_then(|oid| match s.constraint_by_oid(oid) {
                    Some((t, ix)) => Some(ix.constraint_definition(t)),
                    None => match s.foreign_key_by_oid(oid) {
                        Some((_, key)) => Some(super::foreign_key_definition(key)),
                        None => s.check_by_oid(oid).map(|(_, check)| format!("CHECK ({})", check.expr)),
                    },
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
        (
            "obj_description",
            some(),
            T,
            Box::new(|s, v| text(int_arg(v, 0).and_then(|oid| s.table_by_oid(oid)?.comment.clone()))),
        ),
        (
            "col_description",
            any(2),
            T,
            Box::new(|s, v| {
                text(int_arg(v, 0).zip(int_arg(v, 1)).and_then(|(oid, attnum)| {
                    let column = usize::try_from(attnum).ok()?.checked_sub(1)?;
                    s.table_by_oid(oid)?.columns.get(column)?.comment.clone()
                }))
            }),
        ),
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

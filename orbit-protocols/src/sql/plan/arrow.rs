//! Rows and Arrow: a table's schema and rows (JSON values) as Arrow
//! batches for DataFusion's scans, and Arrow results back as JSON values
//! with their SQL types.

use super::*;

/// The Arrow type a scalar column of `sql_type` scans as (arrays and
/// numerics take their column's typmod: [`column_field`]).
pub(super) fn arrow_type(sql_type: SqlType) -> DataType {
    match sql_type {
        SqlType::Bool => DataType::Boolean,
        SqlType::Int2 => DataType::Int16,
        SqlType::Int4 => DataType::Int32,
        SqlType::Int8 => DataType::Int64,
        SqlType::Float4 => DataType::Float32,
        SqlType::Float8 => DataType::Float64,
        SqlType::Date => DataType::Date32,
        SqlType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        SqlType::Bytea => DataType::Binary,
        SqlType::Numeric => crate::sql::types::numeric::arrow_type(None),
        SqlType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        _ => DataType::Utf8,
    }
}

/// The SQL type a result column of Arrow type `data_type` is sent as;
/// types without an Orbit column type are sent as their text.
pub(crate) fn sql_type_of(data_type: &DataType) -> SqlType {
    match data_type {
        DataType::Boolean => SqlType::Bool,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => SqlType::Int2,
        DataType::Int32 | DataType::UInt16 => SqlType::Int4,
        DataType::Int64 | DataType::UInt32 => SqlType::Int8,
        DataType::Float16 | DataType::Float32 => SqlType::Float4,
        DataType::Float64 => SqlType::Float8,
        DataType::Date32 | DataType::Date64 => SqlType::Date,
        DataType::Timestamp(_, None) => SqlType::Timestamp,
        DataType::Timestamp(_, Some(_)) => SqlType::TimestampTz,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            SqlType::Bytea
        }
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => SqlType::Numeric,
        DataType::List(field) | DataType::LargeList(field) | DataType::FixedSizeList(field, _) => {
            SqlType::array_of(field_sql_type(field)).unwrap_or(SqlType::Text)
        }
        _ => SqlType::Text,
    }
}

/// The SQL type a result field is sent as: jsonb and uuid by their
/// metadata, else by its Arrow type ([`sql_type_of`]).
pub(crate) fn field_sql_type(field: &Field) -> SqlType {
    if crate::sql::types::jsonb::is_jsonb(field) {
        SqlType::Jsonb
    } else if crate::sql::types::uuid::is_uuid(field) {
        SqlType::Uuid
    } else {
        sql_type_of(field.data_type())
    }
}

/// A column's Arrow field. An array column is a list of fields of its
/// element type (with its typmod), named `item` as Arrow names them; one
/// of numerics without a typmod is marked as such too.
pub(super) fn column_field(column: &catalog::Column) -> Field {
    if let Some(element) = column.sql_type.element() {
        let item = column_field(&catalog::Column { name: "item".into(), ..column.of_element(element) });
        let field = Field::new(&column.name, DataType::List(Arc::new(item)), !column.not_null);
        return match (element, column.numeric) {
            (SqlType::Numeric, None) => crate::sql::types::numeric::mark_unconstrained(field),
            _ => field,
        };
    }
    match column.sql_type {
        SqlType::Jsonb => crate::sql::types::jsonb::field(&column.name, !column.not_null),
        SqlType::Uuid => crate::sql::types::uuid::field(&column.name, !column.not_null),
        SqlType::Numeric => crate::sql::types::numeric::field(&column.name, column.numeric, !column.not_null),
        t => Field::new(&column.name, arrow_type(t), !column.not_null),
    }
}

/// A table's Arrow schema; with `keyed`, a table without a primary key
/// shows its hidden row keys as a last column, [`ROW_KEY`].
pub(super) fn table_schema(table: &Table, keyed: bool) -> SchemaRef {
    let mut fields: Vec<Field> = table.columns.iter().map(column_field).collect();
    if keyed && table.primary_key.is_none() {
        fields.push(Field::new(ROW_KEY, DataType::Utf8, false));
    }
    Arc::new(Schema::new(fields))
}

/// A table's rows (and their keys) as one Arrow batch of `schema`.
pub(super) fn to_batch(
    table: &Table,
    schema: SchemaRef,
    keyed: &[(Vec<u8>, Map<String, Json>)],
) -> DfResult<RecordBatch> {
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    let rows: Vec<&Map<String, Json>> = keyed.iter().map(|(_, r)| r).collect();
    for column in &table.columns {
        let values: Vec<Option<&Json>> =
            rows.iter().map(|row| row.get(&column.name).filter(|v| !v.is_null())).collect();
        arrays.push(column_array(column, values)?);
    }
    if schema.fields().len() > table.columns.len() {
        let mut b = StringBuilder::new();
        keyed.iter().for_each(|(key, _)| b.append_value(String::from_utf8_lossy(key)));
        arrays.push(Arc::new(b.finish()));
    }
    Ok(RecordBatch::try_new(schema, arrays)?)
}

/// One column's values as an Arrow array of the column's type.
pub(super) fn column_array(column: &catalog::Column, values: Vec<Option<&Json>>) -> DfResult<ArrayRef> {
    let count = values.len();
    let values = values.into_iter();
    Ok(match column.sql_type {
        SqlType::Bool => {
            let mut b = BooleanBuilder::with_capacity(count);
            values.for_each(|v| b.append_option(v.and_then(Json::as_bool)));
            Arc::new(b.finish())
        }
        SqlType::Int2 => {
            let mut b = Int16Builder::with_capacity(count);
            values.for_each(|v| b.append_option(v.and_then(Json::as_i64).map(|n| n as i16)));
            Arc::new(b.finish())
        }
        SqlType::Int4 => {
            let mut b = Int32Builder::with_capacity(count);
            values.for_each(|v| b.append_option(v.and_then(Json::as_i64).map(|n| n as i32)));
            Arc::new(b.finish())
        }
        SqlType::Int8 => {
            let mut b = Int64Builder::with_capacity(count);
            values.for_each(|v| b.append_option(v.and_then(Json::as_i64)));
            Arc::new(b.finish())
        }
        SqlType::Float4 => {
            let mut b = Float32Builder::with_capacity(count);
            values.for_each(|v| b.append_option(v.and_then(Json::as_f64).map(|f| f as f32)));
            Arc::new(b.finish())
        }
        SqlType::Float8 => {
            let mut b = Float64Builder::with_capacity(count);
            values.for_each(|v| b.append_option(v.and_then(Json::as_f64)));
            Arc::new(b.finish())
        }
        SqlType::Text | SqlType::Varchar | SqlType::Char | SqlType::Jsonb | SqlType::Uuid => {
            let mut b = StringBuilder::new();
            values.for_each(|v| b.append_option(v.and_then(Json::as_str)));
            Arc::new(b.finish())
        }
        SqlType::Numeric => {
            let DataType::Decimal128(precision, scale) =
                crate::sql::types::numeric::arrow_type(column.numeric)
            else {
                return Err(DataFusionError::Internal("numeric scans as Decimal128".into()));
            };
            let values: Vec<Option<i128>> = values
                .map(|v| v.and_then(Json::as_str).and_then(|t| crate::sql::types::numeric::to_i128(t, scale)))
                .collect();
            Arc::new(Decimal128Array::from(values).with_precision_and_scale(precision, scale)?)
        }
        SqlType::Bytea => {
            let mut b = BinaryBuilder::new();
            values.for_each(|v| {
                b.append_option(
                    v.and_then(Json::as_str).and_then(|t| crate::sql::types::bytea::parse(t).ok()),
                )
            });
            Arc::new(b.finish())
        }
        SqlType::Date => {
            let mut b = Date32Builder::with_capacity(count);
            values.for_each(|v| {
                let date =
                    v.and_then(Json::as_str).and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok());
                b.append_option(date.map(|d| (d - NaiveDate::default()).num_days() as i32));
            });
            Arc::new(b.finish())
        }
        SqlType::Timestamp | SqlType::TimestampTz => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(count);
            values.for_each(|v| {
                let text = v.and_then(Json::as_str);
                let micros = match column.sql_type {
                    SqlType::Timestamp => {
                        text.and_then(time::parse_naive).map(|t| t.and_utc().timestamp_micros())
                    }
                    _ => text.and_then(time::parse_utc).map(|t| t.timestamp_micros()),
                };
                b.append_option(micros);
            });
            let array = b.finish();
            match column.sql_type {
                SqlType::TimestampTz => Arc::new(array.with_timezone("+00:00")),
                _ => Arc::new(array),
            }
        }
        // The arrays (every scalar type has its arm above).
        array_type => {
            let (Some(element), DataType::List(field)) =
                (array_type.element(), column_field(column).data_type().clone())
            else {
                return Err(DataFusionError::Internal("an array column scans as a list".into()));
            };
            let element = catalog::Column { name: "item".into(), ..column.of_element(element) };
            let mut offsets = Vec::with_capacity(count + 1);
            let mut present = Vec::with_capacity(count);
            let mut items: Vec<Option<&Json>> = Vec::new();
            offsets.push(0i32);
            for value in values {
                let list = value.and_then(Json::as_array);
                present.push(list.is_some());
                items.extend(list.into_iter().flatten().map(|v| Some(v).filter(|v| !v.is_null())));
                offsets.push(i32::try_from(items.len()).map_err(|_| {
                    DataFusionError::Execution("an array column holds more than 2^31 elements".into())
                })?);
            }
            Arc::new(ListArray::try_new(
                field,
                OffsetBuffer::new(offsets.into()),
                column_array(&element, items)?,
                Some(NullBuffer::from(present)),
            )?)
        }
    })
}

/// An Arrow column as JSON values (null for NULL); types without an Orbit
/// column type become their text. Decimals are their numeric text, without
/// trailing zeros when `trimmed`.
pub(super) fn json_values(array: &dyn Array, trimmed: bool) -> DfResult<Vec<Json>> {
    macro_rules! each {
        ($t:ty, $f:expr) => {{
            let a = array
                .as_any()
                .downcast_ref::<$t>()
                .ok_or_else(|| DataFusionError::Internal("unexpected array type".into()))?;
            (0..a.len()).map(|i| if a.is_null(i) { Json::Null } else { $f(a.value(i)) }).collect()
        }};
    }
    let number =
        |f: f64| serde_json::Number::from_f64(f).map_or_else(|| Json::String(f.to_string()), Json::Number);
    Ok(match array.data_type() {
        DataType::Null => vec![Json::Null; array.len()],
        DataType::List(_) => {
            let a = array
                .as_any()
                .downcast_ref::<ListArray>()
                .ok_or_else(|| DataFusionError::Internal("unexpected array type".into()))?;
            (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        Ok(Json::Null)
                    } else {
                        json_values(a.value(i).as_ref(), trimmed).map(Json::Array)
                    }
                })
                .collect::<DfResult<_>>()?
        }
        DataType::Boolean => each!(BooleanArray, Json::Bool),
        DataType::Int8 => each!(Int8Array, |v: i8| Json::from(v)),
        DataType::Int16 => each!(Int16Array, |v: i16| Json::from(v)),
        DataType::Int32 => each!(Int32Array, |v: i32| Json::from(v)),
        DataType::Int64 => each!(Int64Array, |v: i64| Json::from(v)),
        DataType::UInt8 => each!(UInt8Array, |v: u8| Json::from(v)),
        DataType::UInt16 => each!(UInt16Array, |v: u16| Json::from(v)),
        DataType::UInt32 => each!(UInt32Array, |v: u32| Json::from(v)),
        DataType::UInt64 => each!(UInt64Array, |v: u64| Json::String(v.to_string())),
        DataType::Float32 => each!(Float32Array, |v: f32| number(f64::from(v))),
        DataType::Float64 => each!(Float64Array, number),
        DataType::Utf8 => each!(StringArray, |v: &str| Json::String(v.to_string())),
        DataType::LargeUtf8 => each!(LargeStringArray, |v: &str| Json::String(v.to_string())),
        DataType::Utf8View => each!(StringViewArray, |v: &str| Json::String(v.to_string())),
        DataType::Binary => each!(BinaryArray, |v: &[u8]| Json::String(crate::sql::types::bytea::format(v))),
        DataType::LargeBinary => {
            each!(LargeBinaryArray, |v: &[u8]| Json::String(crate::sql::types::bytea::format(v)))
        }
        DataType::BinaryView => {
            each!(BinaryViewArray, |v: &[u8]| Json::String(crate::sql::types::bytea::format(v)))
        }
        DataType::FixedSizeBinary(_) => {
            each!(FixedSizeBinaryArray, |v: &[u8]| Json::String(crate::sql::types::bytea::format(v)))
        }
        DataType::Decimal128(_, scale) => {
            let scale = *scale;
            each!(Decimal128Array, |v: i128| Json::String(crate::sql::types::numeric::text_of_i128(
                v, scale, trimmed
            )))
        }
        DataType::Date32 => each!(Date32Array, |v: i32| Json::String(
            NaiveDate::default()
                .checked_add_signed(chrono::TimeDelta::days(i64::from(v)))
                .map_or_else(String::new, |d| d.format("%Y-%m-%d").to_string())
        )),
        DataType::Timestamp(_, zone) => {
            let micros =
                datafusion::arrow::compute::cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            let zoned = zone.is_some();
            let show = move |v: i64| {
                let t = chrono::DateTime::from_timestamp_micros(v).unwrap_or_default();
                Json::String(if zoned {
                    time::show_timestamptz(&t)
                } else {
                    time::show_timestamp(&t.naive_utc())
                })
            };
            let a = micros
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .ok_or_else(|| DataFusionError::Internal("unexpected array type".into()))?;
            (0..a.len()).map(|i| if a.is_null(i) { Json::Null } else { show(a.value(i)) }).collect()
        }
        _ => {
            let options = FormatOptions::default();
            let formatter = ArrayFormatter::try_new(array, &options)?;
            (0..array.len())
                .map(
                    |i| {
                        if array.is_null(i) {
                            Json::Null
                        } else {
                            Json::String(formatter.value(i).to_string())
                        }
                    },
                )
                .collect()
        }
    })
}

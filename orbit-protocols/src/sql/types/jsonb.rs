//! `jsonb`: values are stored and scanned as their canonical text (keys in
//! PostgreSQL's jsonb order — shorter first, then bytewise — the last of
//! duplicate keys kept, `", "` and `": "` between items, as PostgreSQL
//! prints them), so equal documents have equal text. In DataFusion a jsonb
//! value is a `Utf8` whose field carries [`JSONB_METADATA`]; its operators
//! and casts are rewritten into the functions registered here.
//!
//! | SQL | function |
//! |---|---|
//! | `x::jsonb`, `CAST(x AS jsonb)` | `jsonb_in(x)` |
//! | `x -> k` (key or array index) | `jsonb_extract_path(x, k)` |
//! | `x ->> k` | `jsonb_extract_path_text(x, k)` |
//! | `x @> y` | `jsonb_contains(x, y)` |
//! | `x ? k` | `jsonb_exists(x, k)` |
//! | | `jsonb_typeof`, `jsonb_array_length` |

use crate::sql::plan::rewrite::function;
use datafusion::arrow::array::{Array, ArrayRef, BooleanBuilder, Int32Builder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use serde_json::Value as Json;
use sqlparser::ast::{self, BinaryOperator, Expr};
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

/// The Arrow field metadata that marks a `Utf8` column as jsonb.
pub(crate) const JSONB_METADATA: (&str, &str) = ("orbit.sql_type", "jsonb");

/// A jsonb field of `name`.
pub(crate) fn field(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable).with_metadata(metadata())
}

fn metadata() -> HashMap<String, String> {
    HashMap::from([(JSONB_METADATA.0.to_string(), JSONB_METADATA.1.to_string())])
}

/// Whether an Arrow field holds jsonb.
pub(crate) fn is_jsonb(field: &Field) -> bool {
    field.metadata().get(JSONB_METADATA.0).is_some_and(|v| v == JSONB_METADATA.1)
}

/// Reads JSON text; `None` when it is not JSON.
pub(crate) fn parse(text: &str) -> Option<Json> {
    serde_json::from_str(text).ok()
}

/// A JSON value's canonical jsonb text.
pub(crate) fn canonical(value: &Json) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Json, out: &mut String) {
    match value {
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(item, out);
            }
            out.push(']');
        }
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.as_bytes().cmp(b.as_bytes())));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Json::String(key.clone()).to_string());
                out.push_str(": ");
                write(&map[key], out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The value `->` finds: an object's key, or an array's element by index
/// (negative from the end).
fn step<'a>(value: &'a Json, key: &str) -> Option<&'a Json> {
    match value {
        Json::Object(map) => map.get(key),
        Json::Array(items) => {
            let index: i64 = key.parse().ok()?;
            let index = if index < 0 { items.len() as i64 + index } else { index };
            usize::try_from(index).ok().and_then(|i| items.get(i))
        }
        _ => None,
    }
}

/// `->>`'s text of a value: a string unquoted, JSON null as NULL.
fn as_text(value: &Json) -> Option<String> {
    match value {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        other => Some(canonical(other)),
    }
}

/// jsonb's `@>`: every part of `b` is in `a` (arrays: each element of `b`
/// is contained in some element of `a`; a scalar array contains its scalar).
fn contains(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Object(a), Json::Object(b)) => {
            b.iter().all(|(k, bv)| a.get(k).is_some_and(|av| contains(av, bv)))
        }
        (Json::Array(a), Json::Array(b)) => b.iter().all(|bv| a.iter().any(|av| contains_element(av, bv))),
        (Json::Array(a), b) if !b.is_object() && !b.is_array() => a.iter().any(|av| av == b),
        (a, b) => a == b,
    }
}

fn contains_element(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Object(_), Json::Object(_)) | (Json::Array(_), Json::Array(_)) => contains(a, b),
        _ => a == b,
    }
}

/// `?`: a key of an object, a string element of an array, or the string.
fn exists(value: &Json, key: &str) -> bool {
    match value {
        Json::Object(map) => map.contains_key(key),
        Json::Array(items) => items.iter().any(|v| v.as_str() == Some(key)),
        Json::String(s) => s == key,
        _ => false,
    }
}

fn type_name(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

/// PostgreSQL's error for text that is not JSON.
pub(crate) fn bad_input(text: &str) -> DataFusionError {
    crate::sql::error::error(
        crate::sql::error::Code::InvalidTextRepresentation,
        format!("{INVALID_JSON}: \"{text}\""),
    )
    .into_datafusion()
}

/// The start of the message of [`bad_input`], which maps to 22P02.
pub(crate) const INVALID_JSON: &str = "invalid input syntax for type json";

// --- functions -----------------------------------------------------------

/// What a function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Returns {
    Jsonb,
    Text,
    Bool,
    Int,
}

/// A jsonb function: row by row over text arguments.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonbFunction {
    name: &'static str,
    signature: Signature,
    returns: Returns,
    op: Op,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    In,
    Extract,
    ExtractText,
    Contains,
    Exists,
    TypeOf,
    ArrayLength,
}

/// One row's result, `None` for NULL.
enum Out {
    Text(Option<String>),
    Bool(Option<bool>),
    Int(Option<i32>),
}

impl JsonbFunction {
    /// One row: `args` are the arguments' texts (`None` for NULL).
    fn apply(&self, args: &[Option<String>]) -> DfResult<Out> {
        let doc = |i: usize| -> DfResult<Option<Json>> {
            match args.get(i).cloned().flatten() {
                None => Ok(None),
                Some(text) => parse(&text).map(Some).ok_or_else(|| bad_input(&text)),
            }
        };
        Ok(match self.op {
            Op::In => Out::Text(doc(0)?.map(|v| canonical(&v))),
            Op::Extract | Op::ExtractText => {
                let mut value = doc(0)?;
                for key in &args[1..] {
                    value = match (value, key) {
                        (Some(v), Some(k)) => step(&v, k).cloned(),
                        _ => None,
                    };
                }
                Out::Text(match self.op {
                    Op::Extract => value.map(|v| canonical(&v)),
                    _ => value.as_ref().and_then(as_text),
                })
            }
            Op::Contains => Out::Bool(match (doc(0)?, doc(1)?) {
                (Some(a), Some(b)) => Some(contains(&a, &b)),
                _ => None,
            }),
            Op::Exists => Out::Bool(match (doc(0)?, args.get(1).cloned().flatten()) {
                (Some(a), Some(k)) => Some(exists(&a, &k)),
                _ => None,
            }),
            Op::TypeOf => Out::Text(doc(0)?.map(|v| type_name(&v).to_string())),
            Op::ArrayLength => match doc(0)? {
                None => Out::Int(None),
                Some(Json::Array(items)) => Out::Int(Some(items.len() as i32)),
                Some(_) => {
                    return Err(DataFusionError::Execution(
                        "cannot get array length of a non-array".to_string(),
                    ));
                }
            },
        })
    }
}

impl ScalarUDFImpl for JsonbFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(match self.returns {
            Returns::Jsonb | Returns::Text => DataType::Utf8,
            Returns::Bool => DataType::Boolean,
            Returns::Int => DataType::Int32,
        })
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let data_type = self.return_type(&[])?;
        let field = match self.returns {
            Returns::Jsonb => field(self.name, true),
            _ => Field::new(self.name, data_type, true),
        };
        Ok(Arc::new(field))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args.args.iter().map(|a| a.to_array(rows)).collect::<DfResult<_>>()?;
        let texts: Vec<Vec<Option<String>>> =
            arrays.iter().map(|a| texts(a.as_ref())).collect::<DfResult<_>>()?;
        let mut text = StringBuilder::new();
        let mut boolean = BooleanBuilder::with_capacity(rows);
        let mut int = Int32Builder::with_capacity(rows);
        for row in 0..rows {
            let values: Vec<Option<String>> = texts.iter().map(|column| column[row].clone()).collect();
            match self.apply(&values)? {
                Out::Text(v) => text.append_option(v),
                Out::Bool(v) => boolean.append_option(v),
                Out::Int(v) => int.append_option(v),
            }
        }
        let array: ArrayRef = match self.returns {
            Returns::Jsonb | Returns::Text => Arc::new(text.finish()),
            Returns::Bool => Arc::new(boolean.finish()),
            Returns::Int => Arc::new(int.finish()),
        };
        Ok(ColumnarValue::Array(array))
    }
}

/// An argument column as text (numbers as their digits: array indexes).
fn texts(array: &dyn Array) -> DfResult<Vec<Option<String>>> {
    (0..array.len())
        .map(|i| {
            let value = ScalarValue::try_from_array(array, i)?;
            Ok(match value {
                v if v.is_null() => None,
                ScalarValue::Utf8(s) | ScalarValue::Utf8View(s) | ScalarValue::LargeUtf8(s) => s,
                v => Some(v.to_string()),
            })
        })
        .collect()
}

/// Registers the jsonb functions on `ctx`.
pub(crate) fn register_functions(ctx: &SessionContext) {
    let immutable = |n: usize| Signature::any(n, Volatility::Immutable);
    let functions = [
        ("jsonb_in", immutable(1), Returns::Jsonb, Op::In),
        ("jsonb_extract_path", Signature::variadic_any(Volatility::Immutable), Returns::Jsonb, Op::Extract),
        (
            "jsonb_extract_path_text",
            Signature::variadic_any(Volatility::Immutable),
            Returns::Text,
            Op::ExtractText,
        ),
        ("jsonb_contains", immutable(2), Returns::Bool, Op::Contains),
        ("jsonb_exists", immutable(2), Returns::Bool, Op::Exists),
        ("jsonb_typeof", immutable(1), Returns::Text, Op::TypeOf),
        ("jsonb_array_length", immutable(1), Returns::Int, Op::ArrayLength),
    ];
    for (name, signature, returns, op) in functions {
        ctx.register_udf(ScalarUDF::new_from_impl(JsonbFunction { name, signature, returns, op }));
    }
}

// --- rewrite ---------------------------------------------------------------

/// Rewrites jsonb operators and casts into the functions above.
pub(crate) fn rewrite(statement: &mut ast::Statement) {
    let _ = ast::visit_expressions_mut(statement, |expr: &mut Expr| {
        if let Some(replacement) = replacement(expr) {
            *expr = replacement;
        }
        ControlFlow::<()>::Continue(())
    });
}

fn replacement(expr: &Expr) -> Option<Expr> {
    match expr {
        Expr::BinaryOp { left, op, right } => {
            let (l, r) = (left.as_ref().clone(), right.as_ref().clone());
            let (name, args) = match op {
                BinaryOperator::Arrow => ("jsonb_extract_path", vec![l, r]),
                BinaryOperator::LongArrow => ("jsonb_extract_path_text", vec![l, r]),
                BinaryOperator::AtArrow => ("jsonb_contains", vec![l, r]),
                BinaryOperator::ArrowAt => ("jsonb_contains", vec![r, l]),
                BinaryOperator::Question => ("jsonb_exists", vec![l, r]),
                _ => return None,
            };
            Some(function(name, args))
        }
        Expr::Cast { expr: inner, data_type: ast::DataType::JSONB | ast::DataType::JSON, .. } => {
            Some(function("jsonb_in", vec![inner.as_ref().clone()]))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_text_orders_keys_as_postgresql_jsonb_does() {
        let doc = parse(r#"{"bb":1,"a":[1,{"z":null,"y":true}],"c":"x","a":2}"#).unwrap();
        assert_eq!(canonical(&doc), r#"{"a": 2, "c": "x", "bb": 1}"#);
        let doc = parse(r#"[1, {"z":null,"y":"\"q\""}]"#).unwrap();
        assert_eq!(canonical(&doc), r#"[1, {"y": "\"q\"", "z": null}]"#);
        assert!(parse("{bad").is_none());
    }

    #[test]
    fn operators_find_keys_elements_and_containment() {
        let doc = json!({"a": {"b": [10, 20, "x"]}, "s": "t", "n": null});
        assert_eq!(step(&doc, "a").and_then(|a| step(a, "b")).and_then(|b| step(b, "1")), Some(&json!(20)));
        assert_eq!(step(&doc, "a").and_then(|a| step(a, "b")).and_then(|b| step(b, "-1")), Some(&json!("x")));
        assert_eq!(step(&doc, "missing"), None);
        assert_eq!(as_text(&json!("t")), Some("t".into()));
        assert_eq!(as_text(&json!(null)), None);
        assert!(contains(&doc, &json!({"a": {"b": [20]}})));
        assert!(!contains(&doc, &json!({"a": {"b": [30]}})));
        assert!(contains(&json!([1, 2, 3]), &json!(2)));
        assert!(exists(&doc, "s") && !exists(&doc, "q") && exists(&json!(["q"]), "q"));
    }

    #[test]
    fn operators_and_casts_become_functions() {
        let mut statements = crate::sql::parse::parse(
            "SELECT d -> 'a', d ->> 'b', d @> '{}'::jsonb, d ? 'k', CAST('1' AS jsonb) FROM t",
        )
        .unwrap();
        rewrite(&mut statements[0]);
        let text = statements[0].to_string();
        assert_eq!(
            text,
            "SELECT jsonb_extract_path(d, 'a'), jsonb_extract_path_text(d, 'b'), \
             jsonb_contains(d, jsonb_in('{}')), jsonb_exists(d, 'k'), jsonb_in('1') FROM t"
        );
    }
}

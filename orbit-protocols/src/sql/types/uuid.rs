//! `uuid`: stored and scanned as its lowercase hyphenated text, which
//! sorts as PostgreSQL sorts uuids (bytewise). Input takes PostgreSQL's
//! forms: any case, optional braces, a hyphen after any group of four
//! digits or none. Sent as `uuid` in text and binary (16 bytes).
//!
//! In DataFusion a uuid is a `Utf8` whose field carries [`METADATA`];
//! `x::uuid` becomes `uuid_in(x)`, and `gen_random_uuid()` makes version 4
//! uuids. Quoted literals compared with a uuid column are read as uuids
//! (`crate::sql::plan::literals`).

use datafusion::arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use sqlparser::ast::{self, Expr};
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

/// The Arrow field metadata that marks a `Utf8` column as uuid (the key
/// jsonb's marker uses).
const METADATA: (&str, &str) = ("orbit.sql_type", "uuid");

/// The start of the message for text that is not a uuid (22P02).
const INVALID: &str = "invalid input syntax for type uuid";

/// A uuid field of `name`.
pub(crate) fn field(name: &str, nullable: bool) -> Field {
    let metadata = HashMap::from([(METADATA.0.to_string(), METADATA.1.to_string())]);
    Field::new(name, DataType::Utf8, nullable).with_metadata(metadata)
}

/// Whether an Arrow field holds uuids.
pub(crate) fn is_uuid(field: &Field) -> bool {
    field.metadata().get(METADATA.0).is_some_and(|v| v == METADATA.1)
}

/// Reads a uuid as PostgreSQL's `uuid_in` does: an optional `{`, 32 hex
/// digits (a hyphen allowed after each group of four but the last), and
/// the matching `}`. Nothing else, not even blanks.
pub(crate) fn parse(text: &str) -> Option<[u8; 16]> {
    let (body, braced) = match text.as_bytes() {
        [b'{', rest @ ..] => (rest, true),
        all => (all, false),
    };
    let digit = |i: usize| body.get(i).and_then(|c| char::from(*c).to_digit(16)).map(|d| d as u8);
    let mut bytes = [0u8; 16];
    let mut at = 0;
    for (n, byte) in bytes.iter_mut().enumerate() {
        *byte = (digit(at)? << 4) | digit(at + 1)?;
        at += 2;
        if n % 2 == 1 && n < 15 && body.get(at) == Some(&b'-') {
            at += 1;
        }
    }
    match (braced, &body[at..]) {
        (false, []) | (true, [b'}']) => Some(bytes),
        _ => None,
    }
}

/// PostgreSQL's output: lowercase, hyphenated 8-4-4-4-12.
pub(crate) fn format(bytes: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A uuid's stored text from any input form; `None` when it is not a uuid.
pub(crate) fn canonical(text: &str) -> Option<String> {
    parse(text).map(|b| format(&b))
}

/// PostgreSQL's message for text that is not a uuid.
pub(crate) fn bad_input_message(text: &str) -> String {
    format!("{INVALID}: \"{text}\"")
}

/// The same as a DataFusion error (22P02).
pub(crate) fn bad_input(text: &str) -> DataFusionError {
    crate::sql::error::error(crate::sql::error::Code::InvalidTextRepresentation, bad_input_message(text))
        .into_datafusion()
}

/// A new random (version 4) uuid's text.
pub(crate) fn random() -> String {
    format(::uuid::Uuid::new_v4().as_bytes())
}

// --- functions -----------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    /// `uuid_in(x)`: `x::uuid`.
    In,
    /// `gen_random_uuid()`.
    Random,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct UuidFunction {
    name: &'static str,
    signature: Signature,
    op: Op,
}

impl ScalarUDFImpl for UuidFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> DfResult<FieldRef> {
        Ok(Arc::new(field(self.name, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let mut out = StringBuilder::new();
        match self.op {
            Op::Random => (0..rows).for_each(|_| out.append_value(random())),
            Op::In => {
                let input = match args.args.first() {
                    Some(arg) => arg.to_array(rows)?,
                    None => return Err(DataFusionError::Plan("uuid_in takes one argument".into())),
                };
                let text = datafusion::arrow::compute::cast(&input, &DataType::Utf8)?;
                let text = text
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| DataFusionError::Internal("a cast to Utf8 is not a StringArray".into()))?;
                for i in 0..text.len() {
                    if text.is_null(i) {
                        out.append_null();
                    } else {
                        let value = text.value(i);
                        out.append_value(canonical(value).ok_or_else(|| bad_input(value))?);
                    }
                }
            }
        }
        let array: ArrayRef = Arc::new(out.finish());
        Ok(ColumnarValue::Array(array))
    }
}

/// Registers `uuid_in` and `gen_random_uuid` on `ctx`.
pub(crate) fn register_functions(ctx: &SessionContext) {
    let functions = [
        ("uuid_in", Signature::any(1, Volatility::Immutable), Op::In),
        ("gen_random_uuid", Signature::nullary(Volatility::Volatile), Op::Random),
    ];
    for (name, signature, op) in functions {
        ctx.register_udf(ScalarUDF::new_from_impl(UuidFunction { name, signature, op }));
    }
}

/// Rewrites `x::uuid` and `CAST(x AS uuid)` into `uuid_in(x)`.
pub(crate) fn rewrite(statement: &mut ast::Statement) {
    let _ = ast::visit_expressions_mut(statement, |expr: &mut Expr| {
        if let Expr::Cast { expr: inner, data_type: ast::DataType::Uuid, .. } = expr {
            *expr = crate::sql::plan::rewrite::function("uuid_in", vec![inner.as_ref().clone()]);
        }
        ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANONICAL: &str = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";

    #[test]
    fn input_takes_postgresql_forms_and_prints_lowercase_hyphenated() {
        for text in [
            CANONICAL,
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
            "{a0eebc999c0b4ef8bb6d6bb9bd380a11}",
            "a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11",
        ] {
            assert_eq!(canonical(text).as_deref(), Some(CANONICAL), "{text}");
        }
    }

    #[test]
    fn malformed_text_is_not_a_uuid() {
        for text in [
            "",
            " a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0eebc999c0b4ef8bb6d6bb9bd380a1",
            "a0eebc999c0b4ef8bb6d6bb9bd380a111",
            "{a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11}",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-",
            "a-0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11",
            "g0eebc999c0b4ef8bb6d6bb9bd380a11",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
        assert_eq!(bad_input_message("x"), "invalid input syntax for type uuid: \"x\"");
    }

    #[test]
    fn random_uuids_are_version_4_and_differ() {
        let (a, b) = (random(), random());
        assert_ne!(a, b);
        assert_eq!(canonical(&a).as_deref(), Some(a.as_str()));
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn casts_become_uuid_in() {
        let sql = "SELECT 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid, CAST(x AS UUID)";
        let mut statements = crate::sql::parse::parse(sql).unwrap();
        rewrite(&mut statements[0]);
        assert_eq!(
            statements[0].to_string(),
            "SELECT uuid_in('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'), uuid_in(x)"
        );
    }
}

//! `bytea`: stored as PostgreSQL's hex output (`\x0102`, lowercase, which
//! sorts as the bytes do), read from either input format: hex (`\x` then
//! pairs of hex digits, blanks allowed between pairs) or escape (`\\` for
//! a backslash, `\ooo` for an octal byte, any other character as its UTF-8
//! bytes). Scanned as Arrow `Binary`; sent as `bytea` in text (hex, as
//! PostgreSQL's default `bytea_output`) and in binary (the bytes).
//!
//! `x::bytea` becomes `bytea_in(x)` (DataFusion's cast would take text's
//! characters as the bytes); quoted literals compared with a bytea column
//! are read as bytea (`crate::sql::plan::literals`).

use crate::sql::error::Code;
use datafusion::arrow::array::{Array, ArrayRef, BinaryBuilder, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use sqlparser::ast::{self, Expr};
use std::ops::ControlFlow;
use std::sync::Arc;

/// Text that is not bytea input: its SQLSTATE and PostgreSQL's message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BadInput {
    pub code: crate::sql::error::Code,
    pub message: String,
}

/// The start of the messages of bad hex input (22023).
pub(crate) const INVALID_HEX: &str = "invalid hexadecimal";

/// Reads bytea input as PostgreSQL's `byteain` does.
pub(crate) fn parse(text: &str) -> Result<Vec<u8>, BadInput> {
    match text.strip_prefix("\\x") {
        Some(hex) => parse_hex(hex),
        None => parse_escape(text.as_bytes()),
    }
}

fn parse_hex(hex: &str) -> Result<Vec<u8>, BadInput> {
    let digit = |c: char| {
        c.to_digit(16).map(|d| d as u8).ok_or_else(|| BadInput {
            code: Code::InvalidParameterValue,
            message: format!("{INVALID_HEX} digit: \"{c}\""),
        })
    };
    let mut bytes = Vec::with_capacity(hex.len() / 2);
    let mut chars = hex.chars();
    while let Some(c) = chars.next() {
        if matches!(c, ' ' | '\n' | '\t' | '\r') {
            continue;
        }
        let high = digit(c)?;
        let low = match chars.next() {
            Some(c) => digit(c)?,
            None => {
                return Err(BadInput {
                    code: Code::InvalidParameterValue,
                    message: format!("{INVALID_HEX} data: odd number of digits"),
                });
            }
        };
        bytes.push((high << 4) | low);
    }
    Ok(bytes)
}

fn parse_escape(text: &[u8]) -> Result<Vec<u8>, BadInput> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(&first) = rest.first() {
        let taken = match rest {
            [b'\\', b'\\', ..] => {
                bytes.push(b'\\');
                2
            }
            [b'\\', a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', ..] => {
                bytes.push(((*a - b'0') << 6) | ((*b - b'0') << 3) | (*c - b'0'));
                4
            }
            [b'\\', ..] => {
                return Err(BadInput {
                    code: Code::InvalidTextRepresentation,
                    message: "invalid input syntax for type bytea".to_string(),
                });
            }
            _ => {
                bytes.push(first);
                1
            }
        };
        rest = &rest[taken..];
    }
    Ok(bytes)
}

/// PostgreSQL's hex output: `\x` and two lowercase digits a byte.
pub(crate) fn format(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 + bytes.len() * 2);
    out.push_str("\\x");
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A value's stored text from any input form.
pub(crate) fn canonical(text: &str) -> Result<String, BadInput> {
    parse(text).map(|bytes| format(&bytes))
}

/// Bad input as a DataFusion error, keeping its SQLSTATE.
pub(crate) fn bad_input(bad: BadInput) -> DataFusionError {
    crate::sql::error::error(bad.code, bad.message).into_datafusion()
}

// --- functions -----------------------------------------------------------

/// `bytea_in(x)`: `x::bytea`. Text is read as bytea input; bytes stay.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ByteaIn {
    signature: Signature,
}

impl ScalarUDFImpl for ByteaIn {
    fn name(&self) -> &str {
        "bytea_in"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Binary)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let input = match args.args.first() {
            Some(arg) => arg.to_array(rows)?,
            None => return Err(DataFusionError::Plan("bytea_in takes one argument".into())),
        };
        let binary = matches!(
            input.data_type(),
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_)
        );
        if binary {
            return Ok(ColumnarValue::Array(datafusion::arrow::compute::cast(&input, &DataType::Binary)?));
        }
        let text = datafusion::arrow::compute::cast(&input, &DataType::Utf8)?;
        let text = text
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| DataFusionError::Internal("a cast to Utf8 is not a StringArray".into()))?;
        let mut out = BinaryBuilder::new();
        for i in 0..text.len() {
            if text.is_null(i) {
                out.append_null();
            } else {
                out.append_value(parse(text.value(i)).map_err(bad_input)?);
            }
        }
        let array: ArrayRef = Arc::new(out.finish());
        Ok(ColumnarValue::Array(array))
    }
}

/// Registers `bytea_in` on `ctx`.
pub(crate) fn register_functions(ctx: &SessionContext) {
    let signature = Signature::any(1, Volatility::Immutable);
    ctx.register_udf(ScalarUDF::new_from_impl(ByteaIn { signature }));
}

/// Rewrites `x::bytea` and `CAST(x AS bytea)` into `bytea_in(x)`.
pub(crate) fn rewrite(statement: &mut ast::Statement) {
    let _ = ast::visit_expressions_mut(statement, |expr: &mut Expr| {
        if let Expr::Cast { expr: inner, data_type: ast::DataType::Bytea, .. } = expr {
            *expr = crate::sql::plan::rewrite::function("bytea_in", vec![inner.as_ref().clone()]);
        }
        ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<String, BadInput> {
        canonical(text)
    }

    #[test]
    fn hex_and_escape_input_print_as_hex() {
        assert_eq!(read("\\x0102ff").unwrap(), "\\x0102ff");
        assert_eq!(read("\\xDE AD be ef").unwrap(), "\\xdeadbeef");
        assert_eq!(read("\\x").unwrap(), "\\x");
        assert_eq!(read("").unwrap(), "\\x");
        assert_eq!(read("abc").unwrap(), "\\x616263");
        assert_eq!(read("a\\\\b\\001").unwrap(), "\\x615c6201");
        assert_eq!(read("é").unwrap(), "\\xc3a9");
        assert_eq!(parse("\\x00ff").unwrap(), [0u8, 255]);
    }

    #[test]
    fn malformed_input_fails_as_postgresql_does() {
        let bad = |text: &str| read(text).unwrap_err();
        assert_eq!(
            bad("\\x012"),
            BadInput {
                code: Code::InvalidParameterValue,
                message: "invalid hexadecimal data: odd number of digits".into()
            }
        );
        let digit = BadInput {
            code: Code::InvalidParameterValue,
            message: "invalid hexadecimal digit: \"g\"".into(),
        };
        assert_eq!(bad("\\x0g"), digit);
        assert_eq!(bad("\\x0 1").code, Code::InvalidParameterValue);
        for text in ["a\\b", "\\X01", "a\\400", "\\01"] {
            assert_eq!(
                bad(text),
                BadInput {
                    code: Code::InvalidTextRepresentation,
                    message: "invalid input syntax for type bytea".into()
                },
                "{text}"
            );
        }
    }

    #[test]
    fn hex_text_sorts_as_the_bytes_do() {
        let mut values = [vec![1u8, 0], vec![1], vec![0, 255], vec![], vec![255]];
        let mut texts: Vec<String> = values.iter().map(|v| format(v)).collect();
        values.sort();
        texts.sort();
        assert_eq!(texts, values.iter().map(|v| format(v)).collect::<Vec<_>>());
    }

    #[test]
    fn casts_become_bytea_in() {
        let mut statements = crate::sql::parse::parse("SELECT '\\x01'::bytea, CAST(x AS BYTEA)").unwrap();
        rewrite(&mut statements[0]);
        assert_eq!(statements[0].to_string(), "SELECT bytea_in('\\x01'), bytea_in(x)");
    }
}

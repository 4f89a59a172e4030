//! `numeric` (`decimal`): exact decimals of at most 38 digits, Arrow's
//! `Decimal128`, stored as their text.
//!
//! - `numeric(p, s)` (`numeric(p)` is scale 0; 1 <= p <= 38, 0 <= s <= p)
//!   rounds input to `s` digits after the point, half away from zero, and
//!   refuses more than `p - s` digits before it (22003 `numeric field
//!   overflow`), as PostgreSQL does; it prints with its `s` digits and
//!   scans as `Decimal128(p, s)`.
//! - `numeric` without a precision holds 28 digits before the point and
//!   10 after (more are rounded): it is DataFusion's default decimal,
//!   `Decimal128(38, 10)`, whose field carries [`METADATA`]. Its values
//!   are stored and printed without trailing zeros after the point (where
//!   PostgreSQL keeps the scale a value was written with), and so are
//!   query results computed from it ([`unconstrained_columns`]).
//!
//! Text input is PostgreSQL's (blanks around, a sign, digits with one
//! point, an exponent); NaN and infinities are refused. Binary is
//! PostgreSQL's base-10000 format. `x::numeric[(p, s)]` becomes
//! `numeric_in(x [, p, s])`, which reads values as input does.

use crate::sql::error::Code;
use crate::sql::types::{NumericTypmod, ValueError};
use datafusion::arrow::array::{Array, ArrayRef, Decimal128Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, Expr as DfExpr, LogicalPlan, Operator, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use serde_json::Value as Json;
use sqlparser::ast::{self, Expr};
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

/// The most digits a numeric holds (Arrow's `Decimal128`).
pub(crate) const MAX_PRECISION: u32 = 38;

/// The digits after the point of `numeric` without a typmod.
pub(crate) const UNCONSTRAINED_SCALE: u32 = 10;

/// The Arrow field metadata that marks a `Decimal128(38, 10)` column as
/// `numeric` without a typmod (printed without trailing zeros).
const METADATA: (&str, &str) = ("orbit.sql_type", "numeric");

/// PostgreSQL's message for a value too large for its column (22003).
pub(crate) const OVERFLOW: &str = "numeric field overflow";

/// A decimal: sign, the ASCII digits of its unscaled value (no leading
/// zeros; none for zero) and how many of them are after the point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    scale: u32,
}

impl Decimal {
    /// Reads PostgreSQL's numeric input; `None` when it is not a number.
    /// NaN and infinities are `None` too ([`canonical`] says why).
    pub fn parse(text: &str) -> Option<Decimal> {
        let text = text.trim();
        let (negative, text) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(at) => (&text[..at], Some(&text[at + 1..])),
            None => (text, None),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.len() + fraction.len() == 0 || !all_digits(whole) || !all_digits(fraction) {
            return None;
        }
        let exponent: i64 = match exponent {
            None => 0,
            Some(e) => {
                let unsigned = e.strip_prefix(['+', '-']).unwrap_or(e);
                if unsigned.is_empty() || !all_digits(unsigned) || unsigned.len() > 4 {
                    return None;
                }
                e.parse().ok().filter(|e: &i64| e.abs() <= 1000)?
            }
        };
        let mut digits: Vec<u8> = whole.bytes().chain(fraction.bytes()).collect();
        let mut scale = fraction.len() as i64 - exponent;
        if scale < 0 {
            digits.extend(std::iter::repeat_n(b'0', (-scale) as usize));
            scale = 0;
        }
        Some(Decimal { negative, digits, scale: scale as u32 }.normalized())
    }

    /// Without leading zeros; zero is never negative.
    fn normalized(mut self) -> Decimal {
        let zeros = self.digits.iter().take_while(|d| **d == b'0').count();
        self.digits.drain(..zeros);
        if self.digits.is_empty() {
            self.negative = false;
        }
        self
    }

    /// Rounded (or padded) to `scale` digits after the point, half away
    /// from zero.
    pub fn round(mut self, scale: u32) -> Decimal {
        if self.scale <= scale {
            if !self.digits.is_empty() {
                self.digits.extend(std::iter::repeat_n(b'0', (scale - self.scale) as usize));
            }
            self.scale = scale;
            return self;
        }
        let dropped = (self.scale - scale) as usize;
        let kept = self.digits.len().saturating_sub(dropped);
        let up = dropped <= self.digits.len() && self.digits[kept] >= b'5';
        self.digits.truncate(kept);
        self.scale = scale;
        if up {
            increment(&mut self.digits);
        }
        self.normalized()
    }

    /// Without trailing zeros after the point.
    pub fn trimmed(mut self) -> Decimal {
        while self.scale > 0 && self.digits.last().is_none_or(|d| *d == b'0') {
            self.digits.pop();
            self.scale -= 1;
        }
        self.normalized()
    }

    /// How many digits it has before the point.
    pub fn integer_digits(&self) -> usize {
        self.digits.len().saturating_sub(self.scale as usize)
    }

    /// PostgreSQL's output: every digit of the scale, `0` before a bare
    /// point.
    pub fn format(&self) -> String {
        let scale = self.scale as usize;
        let digits = std::str::from_utf8(&self.digits).unwrap_or_default();
        let (whole, fraction) = if digits.len() > scale {
            (digits[..digits.len() - scale].to_string(), digits[digits.len() - scale..].to_string())
        } else {
            ("0".to_string(), format!("{}{digits}", "0".repeat(scale - digits.len())))
        };
        let sign = if self.negative { "-" } else { "" };
        if scale == 0 { format!("{sign}{whole}") } else { format!("{sign}{whole}.{fraction}") }
    }

    /// The unscaled value at `scale` (rounded), if it fits an `i128`.
    pub fn to_i128(&self, scale: u32) -> Option<i128> {
        let rounded = self.clone().round(scale);
        let digits = std::str::from_utf8(&rounded.digits).ok()?;
        let magnitude: i128 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
        Some(if rounded.negative { -magnitude } else { magnitude })
    }

    /// An Arrow decimal value.
    pub fn from_i128(value: i128, scale: i8) -> Decimal {
        let mut digits = value.unsigned_abs().to_string().into_bytes();
        let scale = if scale >= 0 {
            scale as u32
        } else {
            digits.extend(std::iter::repeat_n(b'0', scale.unsigned_abs() as usize));
            0
        };
        Decimal { negative: value < 0, digits, scale }.normalized()
    }
}

/// Adds one to a run of ASCII digits.
fn increment(digits: &mut Vec<u8>) {
    for d in digits.iter_mut().rev() {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            return;
        }
    }
    digits.insert(0, b'1');
}

fn value_error(code: crate::sql::error::Code, message: String) -> ValueError {
    ValueError { code, message }
}

/// PostgreSQL's message for text that is not a numeric.
fn bad_input_message(text: &str) -> String {
    format!("invalid input syntax for type numeric: \"{text}\"")
}

/// A number's exact text (any scale): PostgreSQL's input in, its output
/// out. Bad text is 22P02; NaN and infinities are not supported.
pub(crate) fn canonical(text: &str) -> Result<String, ValueError> {
    let word = text.trim().trim_start_matches(['+', '-']).to_ascii_lowercase();
    if matches!(word.as_str(), "nan" | "infinity" | "inf") {
        return Err(value_error(
            Code::FeatureNotSupported,
            "numeric NaN and infinities are not supported by Orbit yet".into(),
        ));
    }
    Decimal::parse(text)
        .map(|d| d.format())
        .ok_or_else(|| value_error(Code::InvalidTextRepresentation, bad_input_message(text)))
}

/// A value (its exact text) as a column of `typmod` holds it: rounded to
/// the scale, its integer digits checked (22003), as PostgreSQL does; or,
/// without a typmod, rounded to [`UNCONSTRAINED_SCALE`] and without
/// trailing zeros.
pub(crate) fn fit(value: Json, typmod: Option<NumericTypmod>) -> Result<Json, ValueError> {
    let Json::String(text) = &value else { return Ok(value) };
    let decimal = Decimal::parse(text)
        .ok_or_else(|| value_error(Code::InvalidTextRepresentation, bad_input_message(text)))?;
    fit_decimal(decimal, typmod).map(|d| Json::String(d.format()))
}

fn fit_decimal(decimal: Decimal, typmod: Option<NumericTypmod>) -> Result<Decimal, ValueError> {
    let (fitted, integer_digits) = match typmod {
        Some(t) => (decimal.round(t.scale), t.precision - t.scale),
        None => (decimal.round(UNCONSTRAINED_SCALE).trimmed(), MAX_PRECISION - UNCONSTRAINED_SCALE),
    };
    if fitted.integer_digits() > integer_digits as usize {
        return Err(value_error(Code::NumericValueOutOfRange, OVERFLOW.to_string()));
    }
    Ok(fitted)
}

/// The `(precision, scale)` of `numeric(p [, s])`, checked against what
/// Orbit holds.
pub(crate) fn typmod(info: &ast::ExactNumberInfo) -> Result<Option<NumericTypmod>, ValueError> {
    let (precision, scale) = match *info {
        ast::ExactNumberInfo::None => return Ok(None),
        ast::ExactNumberInfo::Precision(p) => (p, 0),
        ast::ExactNumberInfo::PrecisionAndScale(p, s) => (p, s),
    };
    if !(1..=1000).contains(&precision) {
        return Err(value_error(
            Code::InvalidParameterValue,
            format!("NUMERIC precision {precision} must be between 1 and 1000"),
        ));
    }
    if !(-1000..=1000).contains(&scale) {
        return Err(value_error(
            Code::InvalidParameterValue,
            format!("NUMERIC scale {scale} must be between -1000 and 1000"),
        ));
    }
    if precision > u64::from(MAX_PRECISION) || scale < 0 || scale as u64 > precision {
        return Err(value_error(
            Code::FeatureNotSupported,
            format!(
                "numeric({precision},{scale}) is not supported by Orbit yet (precision at most \
                 {MAX_PRECISION}, scale from 0 to the precision)"
            ),
        ));
    }
    Ok(Some(NumericTypmod { precision: precision as u32, scale: scale as u32 }))
}

// --- Arrow -----------------------------------------------------------------

/// The Arrow type of a column of `typmod`.
pub(crate) fn arrow_type(typmod: Option<NumericTypmod>) -> DataType {
    let (precision, scale) = match typmod {
        Some(t) => (t.precision, t.scale),
        None => (MAX_PRECISION, UNCONSTRAINED_SCALE),
    };
    DataType::Decimal128(precision as u8, scale as i8)
}

/// A numeric field of `name`: marked when without a typmod.
pub(crate) fn field(name: &str, typmod: Option<NumericTypmod>, nullable: bool) -> Field {
    let field = Field::new(name, arrow_type(typmod), nullable);
    match typmod {
        Some(_) => field,
        None => mark_unconstrained(field),
    }
}

/// `field` marked as holding numerics without a typmod (or arrays of them).
pub(crate) fn mark_unconstrained(field: Field) -> Field {
    field.with_metadata(HashMap::from([(METADATA.0.to_string(), METADATA.1.to_string())]))
}

/// Whether an Arrow field holds numerics without a typmod.
pub(crate) fn is_unconstrained(field: &Field) -> bool {
    field.metadata().get(METADATA.0).is_some_and(|v| v == METADATA.1)
}

/// A stored value as the unscaled value of a `Decimal128` of `scale`.
pub(crate) fn to_i128(text: &str, scale: i8) -> Option<i128> {
    Decimal::parse(text)?.to_i128(u32::try_from(scale).ok()?)
}

/// A `Decimal128` value as PostgreSQL prints it: with every digit of
/// its scale, or without trailing zeros.
pub(crate) fn text_of_i128(value: i128, scale: i8, trimmed: bool) -> String {
    let decimal = Decimal::from_i128(value, scale);
    if trimmed { decimal.trimmed().format() } else { decimal.format() }
}

/// A quoted literal compared with a numeric column, read exactly (at its
/// own scale) where DataFusion would cast it to the column's scale.
pub(crate) fn literal(text: &str) -> DfResult<ScalarValue> {
    let Some(decimal) = Decimal::parse(text) else {
        let bad = canonical(text).err().map_or_else(
            || {
                crate::sql::error::error(
                    crate::sql::error::Code::InvalidTextRepresentation,
                    bad_input_message(text),
                )
            },
            crate::sql::error::SqlError::from,
        );
        return Err(bad.into_datafusion());
    };
    let scale = decimal.scale.min(MAX_PRECISION);
    let value =
        decimal.to_i128(scale).filter(|v| v.unsigned_abs() < 10u128.pow(MAX_PRECISION)).ok_or_else(|| {
            crate::sql::error::error(crate::sql::error::Code::NumericValueOutOfRange, OVERFLOW)
                .into_datafusion()
        })?;
    Ok(ScalarValue::Decimal128(Some(value), MAX_PRECISION as u8, scale as i8))
}

/// For each output column of `plan`, whether it holds numerics computed
/// from numerics without a typmod: the columns themselves, `numeric_in(x)`,
/// `sum`, `min`, `max`, `avg` of them and arithmetic on them. Their values
/// are printed without trailing zeros.
pub(crate) fn unconstrained_columns(plan: &LogicalPlan) -> Vec<bool> {
    let marked = || plan.schema().fields().iter().map(|f| is_unconstrained(f)).collect::<Vec<_>>();
    let flags = match plan {
        LogicalPlan::TableScan(_) => marked(),
        LogicalPlan::Projection(p) => derived(p.expr.iter(), &p.input),
        LogicalPlan::Aggregate(a) => derived(a.group_expr.iter().chain(&a.aggr_expr), &a.input),
        LogicalPlan::Window(w) => {
            let mut flags = unconstrained_columns(&w.input);
            flags.extend(derived(w.window_expr.iter(), &w.input));
            flags
        }
        LogicalPlan::Union(u) => {
            let mut flags = vec![false; plan.schema().fields().len()];
            for input in &u.inputs {
                for (flag, input_flag) in flags.iter_mut().zip(unconstrained_columns(input)) {
                    *flag |= input_flag;
                }
            }
            flags
        }
        // Filters, sorts, limits, aliases pass their input's columns on;
        // joins put their inputs' side by side.
        other => other.inputs().into_iter().flat_map(unconstrained_columns).collect(),
    };
    if flags.len() == plan.schema().fields().len() { flags } else { marked() }
}

fn derived<'a>(exprs: impl Iterator<Item = &'a DfExpr>, input: &LogicalPlan) -> Vec<bool> {
    let flags = unconstrained_columns(input);
    exprs.map(|e| derives(e, input.schema(), &flags)).collect()
}

fn derives(expr: &DfExpr, schema: &DFSchema, flags: &[bool]) -> bool {
    match expr {
        DfExpr::Column(c) => schema.index_of_column(c).is_ok_and(|i| flags.get(i).copied().unwrap_or(false)),
        DfExpr::Alias(alias) => derives(&alias.expr, schema, flags),
        DfExpr::Negative(inner) => derives(inner, schema, flags),
        DfExpr::BinaryExpr(b) => {
            let arithmetic = matches!(
                b.op,
                Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide | Operator::Modulo
            );
            arithmetic && (derives(&b.left, schema, flags) || derives(&b.right, schema, flags))
        }
        DfExpr::AggregateFunction(f) => {
            matches!(f.func.name(), "sum" | "min" | "max" | "avg")
                && f.params.args.first().is_some_and(|a| derives(a, schema, flags))
        }
        // An element, a slice or an extension of an array of them.
        DfExpr::ScalarFunction(f)
            if matches!(
                f.name(),
                "array_element" | "array_slice" | "array_append" | "array_prepend" | "array_concat"
            ) =>
        {
            f.args.iter().any(|a| derives(a, schema, flags))
        }
        DfExpr::ScalarFunction(f) => f.name() == "numeric_in" && f.args.len() == 1,
        _ => false,
    }
}

// --- binary ------------------------------------------------------------------

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;

/// PostgreSQL's binary numeric: digit count, weight (of the first
/// base-10000 digit), sign, display scale, then the base-10000 digits
/// without leading or trailing zero ones.
pub(crate) fn to_binary(text: &str) -> Option<Vec<u8>> {
    let decimal = Decimal::parse(text)?;
    let digits = std::str::from_utf8(&decimal.digits).ok()?;
    let scale = decimal.scale as usize;
    let (whole, fraction) = if digits.len() > scale {
        (&digits[..digits.len() - scale], digits[digits.len() - scale..].to_string())
    } else {
        ("", format!("{}{digits}", "0".repeat(scale - digits.len())))
    };
    let whole = format!("{}{whole}", "0".repeat((4 - whole.len() % 4) % 4));
    let fraction = format!("{fraction}{}", "0".repeat((4 - fraction.len() % 4) % 4));
    let mut groups: Vec<i16> = Vec::new();
    for chunk in whole.as_bytes().chunks(4).chain(fraction.as_bytes().chunks(4)) {
        groups.push(std::str::from_utf8(chunk).ok()?.parse().ok()?);
    }
    let mut weight = (whole.len() / 4) as i32 - 1;
    let leading = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..leading);
    weight -= leading as i32;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let mut out = Vec::with_capacity(8 + 2 * groups.len());
    out.extend_from_slice(&i16::try_from(groups.len()).ok()?.to_be_bytes());
    out.extend_from_slice(&i16::try_from(weight).ok()?.to_be_bytes());
    out.extend_from_slice(&(if decimal.negative { NEGATIVE } else { POSITIVE }).to_be_bytes());
    out.extend_from_slice(&u16::try_from(scale).ok()?.to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Some(out)
}

/// Reads PostgreSQL's binary numeric as its exact text; `None` when the
/// bytes are not one (NaN and infinities included).
pub(crate) fn from_binary(bytes: &[u8]) -> Option<String> {
    let word = |i: usize| bytes.get(2 * i..2 * i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let count = usize::from(word(0)?);
    let weight = i32::from(word(1)? as i16);
    let sign = word(2)?;
    let scale = usize::from(word(3)?);
    if bytes.len() != 8 + 2 * count || !matches!(sign, POSITIVE | NEGATIVE) {
        return None;
    }
    let groups: Vec<u16> = (0..count).map(|i| word(4 + i)).collect::<Option<_>>()?;
    if groups.iter().any(|g| *g > 9999) {
        return None;
    }
    // The digit at power `p` of 10000 is group `weight - p`.
    let group =
        |power: i32| usize::try_from(weight - power).ok().and_then(|i| groups.get(i).copied()).unwrap_or(0);
    let whole: String = (0..=weight.max(0)).rev().map(|p| format!("{:04}", group(p))).collect();
    let mut fraction: String = (1..=scale.div_ceil(4) as i32).map(|k| format!("{:04}", group(-k))).collect();
    fraction.truncate(scale);
    let sign = if sign == NEGATIVE { "-" } else { "" };
    let text = if scale == 0 { format!("{sign}{whole}") } else { format!("{sign}{whole}.{fraction}") };
    Decimal::parse(&text).map(|d| d.format())
}

// --- functions -------------------------------------------------------------

/// `numeric_in(x [, p, s])`: `x::numeric[(p, s)]`, reading values as a
/// column of that type does.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NumericIn {
    signature: Signature,
}

/// The typmod `numeric_in`'s constant arguments give.
fn call_typmod(args: &[Option<&ScalarValue>]) -> DfResult<Option<NumericTypmod>> {
    let int = |i: usize| match args.get(i).copied().flatten() {
        Some(ScalarValue::Int64(Some(n))) => Ok(*n),
        _ => Err(DataFusionError::Plan("numeric_in takes a constant precision and scale".into())),
    };
    if args.len() < 3 {
        return Ok(None);
    }
    let info = ast::ExactNumberInfo::PrecisionAndScale(u64::try_from(int(1)?).unwrap_or(0), int(2)?);
    typmod(&info).map_err(|e| crate::sql::error::SqlError::from(e).into_datafusion())
}

impl ScalarUDFImpl for NumericIn {
    fn name(&self) -> &str {
        "numeric_in"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(arrow_type(None))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        Ok(Arc::new(field(self.name(), call_typmod(args.scalar_arguments)?, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let DataType::Decimal128(precision, scale) = *args.return_field.data_type() else {
            return Err(DataFusionError::Internal("numeric_in returns a Decimal128".into()));
        };
        let typmod = (!is_unconstrained(&args.return_field))
            .then_some(NumericTypmod { precision: u32::from(precision), scale: scale.max(0) as u32 });
        let input = match args.args.first() {
            Some(arg) => arg.to_array(rows)?,
            None => return Err(DataFusionError::Plan("numeric_in takes a value".into())),
        };
        let text = datafusion::arrow::compute::cast(&input, &DataType::Utf8)?;
        let text = text
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| DataFusionError::Internal("a cast to Utf8 is not a StringArray".into()))?;
        let mut values: Vec<Option<i128>> = Vec::with_capacity(rows);
        for i in 0..text.len() {
            if text.is_null(i) {
                values.push(None);
                continue;
            }
            let fitted = canonical(text.value(i))
                .and_then(|exact| fit(Json::String(exact), typmod))
                .map_err(|e| crate::sql::error::SqlError::from(e).into_datafusion())?;
            values.push(fitted.as_str().and_then(|t| to_i128(t, scale)));
        }
        let array = Decimal128Array::from(values).with_precision_and_scale(precision, scale)?;
        let array: ArrayRef = Arc::new(array);
        Ok(ColumnarValue::Array(array))
    }
}

/// Registers `numeric_in` on `ctx`.
pub(crate) fn register_functions(ctx: &SessionContext) {
    let signature = Signature::variadic_any(Volatility::Immutable);
    ctx.register_udf(ScalarUDF::new_from_impl(NumericIn { signature }));
}

/// Rewrites `x::numeric[(p[, s])]` (and `decimal`, `dec`) into
/// `numeric_in(x [, p, s])`.
pub(crate) fn rewrite(statement: &mut ast::Statement) {
    let _ = ast::visit_expressions_mut(statement, |expr: &mut Expr| {
        if let Expr::Cast {
            expr: inner,
            data_type: ast::DataType::Numeric(info) | ast::DataType::Decimal(info) | ast::DataType::Dec(info),
            ..
        } = expr
        {
            let mut args = vec![inner.as_ref().clone()];
            let number = |n: String| Expr::value(ast::Value::Number(n, false));
            match *info {
                ast::ExactNumberInfo::None => {}
                ast::ExactNumberInfo::Precision(p) => {
                    args.extend([number(p.to_string()), number("0".into())])
                }
                ast::ExactNumberInfo::PrecisionAndScale(p, s) => {
                    args.extend([number(p.to_string()), number(s.to_string())])
                }
            }
            *expr = crate::sql::plan::rewrite::function("numeric_in", args);
        }
        ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(text: &str) -> String {
        canonical(text).unwrap()
    }

    fn typed(text: &str, precision: u32, scale: u32) -> Result<String, ValueError> {
        let typmod = Some(NumericTypmod { precision, scale });
        fit(Json::String(exact(text)), typmod).map(|v| v.as_str().unwrap_or_default().to_string())
    }

    #[test]
    fn input_reads_postgresql_forms() {
        assert_eq!(exact("1.50"), "1.50");
        assert_eq!(exact("001.50"), "1.50");
        assert_eq!(exact(".5"), "0.5");
        assert_eq!(exact("-0"), "0");
        assert_eq!(exact("-0.00"), "0.00");
        assert_eq!(exact("1e3"), "1000");
        assert_eq!(exact("1.50e1"), "15.0");
        assert_eq!(exact("1.5e-2"), "0.015");
        assert_eq!(exact(" 12 "), "12");
        assert_eq!(exact("+3."), "3");
        assert_eq!(exact("-12345.678"), "-12345.678");
        for bad in ["abc", "1e", ".", "-", "1.2.3", "1,5", "", "1e+", "e5", "1 2"] {
            assert_eq!(canonical(bad).unwrap_err().code, Code::InvalidTextRepresentation, "{bad}");
        }
        assert_eq!(canonical("abc").unwrap_err().message, "invalid input syntax for type numeric: \"abc\"");
        assert_eq!(canonical("NaN").unwrap_err().code, Code::FeatureNotSupported);
        assert_eq!(canonical("-Infinity").unwrap_err().code, Code::FeatureNotSupported);
    }

    #[test]
    fn a_typmod_rounds_half_away_from_zero_and_checks_integer_digits() {
        assert_eq!(typed("1.005", 10, 2).unwrap(), "1.01");
        assert_eq!(typed("1.015", 10, 2).unwrap(), "1.02");
        assert_eq!(typed("-1.005", 10, 2).unwrap(), "-1.01");
        assert_eq!(typed("2.5", 3, 0).unwrap(), "3");
        assert_eq!(typed("-2.5", 3, 0).unwrap(), "-3");
        assert_eq!(typed("0.004", 5, 2).unwrap(), "0.00");
        assert_eq!(typed("-0.004", 5, 2).unwrap(), "0.00");
        assert_eq!(typed("1.5", 10, 2).unwrap(), "1.50");
        assert_eq!(typed("99.995", 5, 2).unwrap(), "100.00");
        let overflow = typed("999.995", 5, 2).unwrap_err();
        assert_eq!(
            (overflow.code, overflow.message.as_str()),
            (Code::NumericValueOutOfRange, "numeric field overflow")
        );
        assert_eq!(typed("12345", 4, 0).unwrap_err().code, Code::NumericValueOutOfRange);
        assert_eq!(typed("1e1000", 5, 2).unwrap_err().code, Code::NumericValueOutOfRange);
    }

    #[test]
    fn without_a_typmod_values_keep_ten_digits_and_lose_trailing_zeros() {
        let plain =
            |text: &str| fit(Json::String(exact(text)), None).map(|v| v.as_str().unwrap().to_string());
        assert_eq!(plain("1.50").unwrap(), "1.5");
        assert_eq!(plain("20.00").unwrap(), "20");
        assert_eq!(plain("0.123456789012345").unwrap(), "0.123456789");
        assert_eq!(plain("0.00000000005").unwrap(), "0.0000000001");
        assert_eq!(plain(&"9".repeat(28)).unwrap(), "9".repeat(28));
        assert_eq!(plain(&"9".repeat(29)).unwrap_err().code, Code::NumericValueOutOfRange);
    }

    #[test]
    fn typmods_are_checked() {
        let info = |p, s| typmod(&ast::ExactNumberInfo::PrecisionAndScale(p, s));
        assert_eq!(info(10, 2).unwrap(), Some(NumericTypmod { precision: 10, scale: 2 }));
        let five = typmod(&ast::ExactNumberInfo::Precision(5)).unwrap();
        assert_eq!(five, Some(NumericTypmod { precision: 5, scale: 0 }));
        assert_eq!(typmod(&ast::ExactNumberInfo::None).unwrap(), None);
        assert_eq!(info(0, 0).unwrap_err().code, Code::InvalidParameterValue);
        assert_eq!(info(1001, 0).unwrap_err().code, Code::InvalidParameterValue);
        assert_eq!(info(39, 2).unwrap_err().code, Code::FeatureNotSupported);
        assert_eq!(info(5, 6).unwrap_err().code, Code::FeatureNotSupported);
        assert_eq!(info(5, -1).unwrap_err().code, Code::FeatureNotSupported);
    }

    #[test]
    fn literals_compared_with_numeric_columns_keep_their_scale() {
        assert_eq!(literal(" 1.505 ").unwrap(), ScalarValue::Decimal128(Some(1505), 38, 3));
        assert_eq!(literal("-2").unwrap(), ScalarValue::Decimal128(Some(-2), 38, 0));
        assert!(literal("x").unwrap_err().to_string().contains("invalid input syntax for type numeric"));
        assert!(literal(&"9".repeat(39)).unwrap_err().to_string().contains("numeric field overflow"));
    }

    #[test]
    fn arrow_values_convert_both_ways() {
        assert_eq!(to_i128("1.5", 2), Some(150));
        assert_eq!(to_i128("-0.005", 2), Some(-1));
        assert_eq!(to_i128("0", 10), Some(0));
        assert_eq!(text_of_i128(150, 2, false), "1.50");
        assert_eq!(text_of_i128(150, 2, true), "1.5");
        assert_eq!(text_of_i128(-5, 3, false), "-0.005");
        assert_eq!(text_of_i128(0, 2, false), "0.00");
        assert_eq!(text_of_i128(0, 10, true), "0");
        assert_eq!(text_of_i128(12, -2, false), "1200");
        let max = "9".repeat(38);
        assert_eq!(to_i128(&max, 0).map(|v| text_of_i128(v, 0, false)), Some(max));
    }

    /// `numeric_send` of PostgreSQL 15 for the same values.
    #[test]
    fn binary_is_postgresql_base_10000_format() {
        let cases: [(&str, &str); 7] = [
            ("1.50", "000200000000000200011388"),
            ("0", "0000000000000000"),
            ("0.00", "0000000000000002"),
            ("-12345.678", "0003000140000003000109291a7c"),
            ("0.00001", "0001fffe0000000503e8"),
            ("10000", "00010001000000000001"),
            (
                "123456789012345678901234567890.12345678",
                "000a000700000008000c0d801ed204d2162e23340d801ed204d2162e",
            ),
        ];
        for (text, hex) in cases {
            let bytes = to_binary(text).unwrap();
            let printed: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(printed, hex, "{text}");
            assert_eq!(from_binary(&bytes).as_deref(), Some(text), "{hex}");
        }
        assert_eq!(from_binary(&[0, 0, 0, 0, 0xc0, 0, 0, 0]), None, "NaN");
        assert_eq!(from_binary(&[0, 1, 0, 0, 0, 0, 0, 0]), None, "a digit short");
    }

    async fn trimmed(ctx: &SessionContext, sql: &str) -> Vec<bool> {
        unconstrained_columns(&ctx.state().create_logical_plan(sql).await.unwrap())
    }

    #[tokio::test]
    async fn results_computed_from_unconstrained_numerics_are_trimmed() {
        use datafusion::arrow::datatypes::Schema;
        use datafusion::arrow::record_batch::RecordBatch;
        let ctx = SessionContext::new();
        register_functions(&ctx);
        let typed = Some(NumericTypmod { precision: 10, scale: 2 });
        let schema = Arc::new(Schema::new(vec![field("n", None, true), field("m", typed, true)]));
        ctx.register_batch("t", RecordBatch::new_empty(schema)).unwrap();
        let plain = trimmed(&ctx, "SELECT n, m, n * 2, m * 2, -n FROM t").await;
        assert_eq!(plain, [true, false, true, false, true]);
        assert_eq!(
            trimmed(&ctx, "SELECT sum(n), sum(m), max(n) + 1, count(n) FROM t").await,
            [true, false, true, false]
        );
        assert_eq!(trimmed(&ctx, "SELECT x.n FROM (SELECT n FROM t WHERE m > 0) x").await, [true]);
        assert_eq!(trimmed(&ctx, "SELECT numeric_in('1.5'), numeric_in('1.5', 10, 2)").await, [true, false]);
    }

    #[test]
    fn casts_become_numeric_in() {
        let sql = "SELECT '1.5'::numeric, CAST(x AS DECIMAL(10, 2)), x::numeric(5)";
        let mut statements = crate::sql::parse::parse(sql).unwrap();
        rewrite(&mut statements[0]);
        assert_eq!(
            statements[0].to_string(),
            "SELECT numeric_in('1.5'), numeric_in(x, 10, 2), numeric_in(x, 5, 0)"
        );
    }
}

//! `pg_sleep(seconds double precision)`: PostgreSQL's way to make a
//! statement wait. It waits on the runtime's timer (an async DataFusion
//! function), so it holds no thread and a cancelled statement stops waiting
//! at once. Fractions of a second count; zero, a negative number, NaN and
//! NULL return at once; `'infinity'` waits until the statement is cancelled.
//! Called for each row of a query, it waits once per row.
//!
//! PostgreSQL's result type is `void`, which Orbit does not have: the result
//! is a NULL `text` (psql prints both as an empty value).

use datafusion::arrow::array::new_null_array;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::async_udf::{AsyncScalarUDF, AsyncScalarUDFImpl};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};
use datafusion::prelude::SessionContext;
use std::sync::Arc;
use std::time::Duration;

/// The message start of an argument that is no number (SQLSTATE 22P02).
const INVALID_SECONDS: &str = "invalid input syntax for type double precision";

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgSleep {
    signature: Signature,
}

impl ScalarUDFImpl for PgSleep {
    fn name(&self) -> &str {
        "pg_sleep"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Err(DataFusionError::Internal("pg_sleep runs asynchronously".into()))
    }
}

#[async_trait::async_trait]
impl AsyncScalarUDFImpl for PgSleep {
    async fn invoke_async_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let [seconds] = args.args.as_slice() else {
            return Err(DataFusionError::Plan(
                "No function matches pg_sleep with these arguments: it takes (seconds double precision)"
                    .into(),
            ));
        };
        let seconds = seconds.to_array(rows)?;
        for row in 0..rows {
            let value = ScalarValue::try_from_array(&seconds, row)?;
            tokio::time::sleep(wait(&value)?).await;
        }
        Ok(ColumnarValue::Array(new_null_array(&DataType::Utf8, rows)))
    }
}

/// How long `pg_sleep(value)` waits. A wait longer than a [`Duration`]
/// holds lasts as long as the timer waits (about 30 years).
fn wait(value: &ScalarValue) -> DfResult<Duration> {
    if value.is_null() {
        return Ok(Duration::ZERO);
    }
    let seconds = match value {
        ScalarValue::Float64(Some(f)) => *f,
        ScalarValue::Float32(Some(f)) => f64::from(*f),
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => {
            number(s)?
        }
        other => number(&other.to_string())?,
    };
    if seconds.is_nan() || seconds <= 0.0 {
        return Ok(Duration::ZERO);
    }
    Ok(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
}

/// A number as PostgreSQL's float8 input reads it (`infinity` and `NaN`
/// included).
fn number(text: &str) -> DfResult<f64> {
    text.trim().parse().map_err(|_| {
        crate::sql::error::error(
            crate::sql::error::Code::InvalidTextRepresentation,
            format!("{INVALID_SECONDS}: \"{text}\""),
        )
        .into_datafusion()
    })
}

/// Registers `pg_sleep` on `ctx`.
pub(crate) fn register_function(ctx: &SessionContext) {
    let sleep = PgSleep { signature: Signature::any(1, Volatility::Volatile) };
    ctx.register_udf(AsyncScalarUDF::new(Arc::new(sleep)).into_scalar_udf());
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Array;

    fn wait_of(value: ScalarValue) -> Duration {
        wait(&value).unwrap()
    }

    #[test]
    fn seconds_may_be_fractional_integer_or_text() {
        assert_eq!(wait_of(ScalarValue::Float64(Some(0.25))), Duration::from_millis(250));
        assert_eq!(wait_of(ScalarValue::Int64(Some(2))), Duration::from_secs(2));
        assert_eq!(wait_of(ScalarValue::Utf8(Some(" 1.5 ".into()))), Duration::from_millis(1500));
    }

    #[test]
    fn null_negative_and_nan_return_at_once_and_infinity_waits_until_cancelled() {
        assert_eq!(wait_of(ScalarValue::Float64(None)), Duration::ZERO);
        assert_eq!(wait_of(ScalarValue::Null), Duration::ZERO);
        assert_eq!(wait_of(ScalarValue::Float64(Some(-1.0))), Duration::ZERO);
        assert_eq!(wait_of(ScalarValue::Float64(Some(f64::NAN))), Duration::ZERO);
        assert_eq!(wait_of(ScalarValue::Utf8(Some("Infinity".into()))), Duration::MAX);
    }

    #[test]
    fn text_that_is_no_number_is_22p02() {
        let error = wait(&ScalarValue::Utf8(Some("soon".into()))).unwrap_err();
        let error = crate::sql::error::SqlError::from(error);
        assert_eq!(error.code, crate::sql::Code::InvalidTextRepresentation);
        assert_eq!(error.message, "invalid input syntax for type double precision: \"soon\"");
    }

    #[tokio::test(start_paused = true)]
    async fn pg_sleep_waits_on_the_runtime_timer_and_returns_null() {
        let ctx = SessionContext::new();
        register_function(&ctx);
        let start = tokio::time::Instant::now();
        let batches = ctx.sql("SELECT pg_sleep(10)").await.unwrap().collect().await.unwrap();
        // The paused clock moved 10 s because pg_sleep waited on it, not on a thread.
        assert!(start.elapsed() >= Duration::from_secs(10), "{:?}", start.elapsed());
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        assert!(batches[0].column(0).is_null(0));

        // Once per row.
        let start = tokio::time::Instant::now();
        let sql = "SELECT pg_sleep(x) FROM (VALUES (1.0), (2.0)) AS v(x)";
        ctx.sql(sql).await.unwrap().collect().await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(3), "{:?}", start.elapsed());
    }
}

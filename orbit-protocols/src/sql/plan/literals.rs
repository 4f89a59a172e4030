//! Quoted literals compared with a column are read through the column
//! type's input, as PostgreSQL reads an untyped literal, where DataFusion
//! would compare or cast the text as written:
//!
//! - `id = 'A0EE...'` on a uuid column compares the stored lowercase
//!   text; a literal that is no uuid is a 22P02;
//! - `b = '\x0102'` on a bytea column compares two bytes (not the six
//!   characters);
//! - `n = '1.505'` on a numeric column compares every digit (not the
//!   literal cast to the column's scale).
//!
//! Done on the logical plan, before type coercion, for the comparisons
//! (`=`, `<>`, `<`, `IS DISTINCT FROM`...) and `IN` lists of a column with
//! literals.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchemaRef, ScalarValue};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::{BinaryExpr, Expr, LogicalPlan, Operator};
use std::sync::Arc;

/// The column types whose literals are read here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Uuid,
    Bytea,
    Numeric,
}

/// Reads the literals compared with typed columns anywhere in `plan`.
pub(crate) fn rewrite(plan: LogicalPlan) -> DfResult<LogicalPlan> {
    let rewritten = plan.transform_up_with_subqueries(|node| {
        let inputs: Vec<DFSchemaRef> = node.inputs().iter().map(|input| Arc::clone(input.schema())).collect();
        node.map_expressions(|expr| expr.transform_up(|e| read_literals(e, &inputs)))
    })?;
    Ok(rewritten.data)
}

fn read_literals(expr: Expr, inputs: &[DFSchemaRef]) -> DfResult<Transformed<Expr>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_comparison(op) => {
            let (left, right) = match (kind(&left, inputs), kind(&right, inputs)) {
                (Some(kind), None) => (left, Box::new(read(*right, kind)?)),
                (None, Some(kind)) => (Box::new(read(*left, kind)?), right),
                _ => (left, right),
            };
            Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr { left, op, right })))
        }
        Expr::InList(InList { expr, list, negated }) => match kind(&expr, inputs) {
            Some(kind) => {
                let list = list.into_iter().map(|item| read(item, kind)).collect::<DfResult<Vec<_>>>()?;
                Ok(Transformed::yes(Expr::InList(InList { expr, list, negated })))
            }
            None => Ok(Transformed::no(Expr::InList(InList { expr, list, negated }))),
        },
        other => Ok(Transformed::no(other)),
    }
}

fn is_comparison(op: Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    )
}

/// The kind of a column reference, found in the node's inputs.
fn kind(expr: &Expr, inputs: &[DFSchemaRef]) -> Option<Kind> {
    let Expr::Column(column) = expr else { return None };
    let field = inputs.iter().find_map(|schema| schema.qualified_field_from_column(column).ok())?.1;
    match field.data_type() {
        _ if crate::sql::types::uuid::is_uuid(field) => Some(Kind::Uuid),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Some(Kind::Bytea),
        DataType::Decimal128(..) => Some(Kind::Numeric),
        _ => None,
    }
}

/// A literal as a value of `kind`; other expressions are left alone.
fn read(expr: Expr, kind: Kind) -> DfResult<Expr> {
    let (text, metadata) = match expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(text))
            | ScalarValue::LargeUtf8(Some(text))
            | ScalarValue::Utf8View(Some(text)),
            metadata,
        ) => (text, metadata),
        other => return Ok(other),
    };
    let value = match kind {
        Kind::Uuid => ScalarValue::Utf8(Some(
            crate::sql::types::uuid::canonical(&text)
                .ok_or_else(|| crate::sql::types::uuid::bad_input(&text))?,
        )),
        Kind::Bytea => ScalarValue::Binary(Some(
            crate::sql::types::bytea::parse(&text).map_err(crate::sql::types::bytea::bad_input)?,
        )),
        Kind::Numeric => crate::sql::types::numeric::literal(&text)?,
    };
    Ok(Expr::Literal(value, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::DFSchema;
    use datafusion::logical_expr::{col, lit};

    fn schema() -> DFSchemaRef {
        let fields = vec![
            crate::sql::types::uuid::field("id", false),
            Field::new("s", DataType::Utf8, true),
            Field::new("b", DataType::Binary, true),
            Field::new("n", DataType::Decimal128(10, 2), true),
        ];
        Arc::new(DFSchema::try_from(Schema::new(fields)).unwrap())
    }

    fn run(expr: Expr) -> DfResult<Expr> {
        expr.transform_up(|e| read_literals(e, &[schema()])).map(|t| t.data)
    }

    #[test]
    fn uuid_literals_read_as_uuids() {
        let upper = "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11";
        let lower = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        assert_eq!(run(col("id").eq(lit(upper))).unwrap(), col("id").eq(lit(lower)));
        assert_eq!(run(lit(upper).lt(col("id"))).unwrap(), lit(lower).lt(col("id")));
        assert_eq!(
            run(col("id").in_list(vec![lit(upper)], false)).unwrap(),
            col("id").in_list(vec![lit(lower)], false)
        );
        // Text columns compare their text.
        assert_eq!(run(col("s").eq(lit(upper))).unwrap(), col("s").eq(lit(upper)));
        let bad = run(col("id").eq(lit("nope"))).unwrap_err();
        assert!(bad.to_string().contains("invalid input syntax for type uuid: \"nope\""), "{bad}");
    }

    #[test]
    fn numeric_literals_keep_every_digit() {
        let exact = Expr::Literal(ScalarValue::Decimal128(Some(1505), 38, 3), None);
        assert_eq!(run(col("n").eq(lit("1.505"))).unwrap(), col("n").eq(exact));
        assert_eq!(run(col("n").eq(lit(1.5))).unwrap(), col("n").eq(lit(1.5)), "numbers are left alone");
        assert!(run(col("n").lt(lit("one"))).is_err());
    }

    #[test]
    fn bytea_literals_read_as_bytes() {
        let bytes = |b: &[u8]| Expr::Literal(ScalarValue::Binary(Some(b.to_vec())), None);
        assert_eq!(run(col("b").eq(lit("\\x0102"))).unwrap(), col("b").eq(bytes(&[1, 2])));
        assert_eq!(run(lit("ab").gt_eq(col("b"))).unwrap(), bytes(b"ab").gt_eq(col("b")));
        assert_eq!(run(col("b").not_eq(lit("\\x"))).unwrap(), col("b").not_eq(bytes(&[])));
        let bad = run(col("b").eq(lit("\\x1"))).unwrap_err();
        assert!(bad.to_string().contains("invalid hexadecimal data: odd number of digits"), "{bad}");
    }
}

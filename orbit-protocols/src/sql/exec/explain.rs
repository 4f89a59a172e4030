//! EXPLAIN of a query: one text column, `QUERY PLAN`, as PostgreSQL
//! names it. A point query's plan is its one row actor read; any other
//! query's is the logical plan DataFusion makes of it (VERBOSE adds each
//! step's output schema), then a line per table scanned saying how Orbit
//! finds its rows (by primary key, by an index, or a full scan). Orbit
//! does not run the query (no ANALYZE).

use super::{Engine, Outcome};
use crate::sql::catalog::Table;
use crate::sql::error::Code;
use crate::sql::error::{Result, error, unsupported};
use crate::sql::exec::txn::Txn;
use crate::sql::parse::ident;
use crate::sql::plan::Rows;
use crate::sql::types::SqlType;
use orbit_shared::ActorGateway;
use serde_json::Value as Json;
use sqlparser::ast::{self, DescribeAlias, Expr, Statement};

impl<G: ActorGateway> Engine<G> {
    /// Runs an EXPLAIN statement, seeing `txn`'s writes.
    pub(crate) async fn explain(&self, explain: Statement, txn: &Txn) -> Result<Outcome> {
        let (query, verbose) = request(explain)?;
        let lines = match self.point_query_seeing(&query, &txn.writes).await? {
            Some(point) => vec![point_read(&point.table, &point.key)],
            None => {
                let planned = self.plan(Statement::Query(Box::new(query)), txn).await?;
                let text = if verbose {
                    planned.plan.display_indent_schema().to_string()
                } else {
                    planned.plan.display_indent().to_string()
                };
                let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                lines.extend(self.planner.access_paths(&planned)?);
                lines
            }
        };
        let rows = lines.into_iter().map(|line| vec![Json::String(line)]).collect();
        let columns = vec![("QUERY PLAN".to_string(), SqlType::Text)];
        Ok(Outcome::Rows(Rows { columns, rows }, "EXPLAIN".into()))
    }
}

/// A point query's plan: `Point Read on row:<table> (<key> = <value>)`.
fn point_read(table: &Table, value: &Expr) -> String {
    let key = table.pk().map_or("", |pk| pk.name.as_str());
    format!("Point Read on {} ({key} = {value})", table.row_kind())
}

/// What an EXPLAIN asks for: its query, and whether VERBOSE. What Orbit
/// does not explain (ANALYZE, formats other than text, other statements)
/// is a 0A000 naming it.
fn request(explain: Statement) -> Result<(ast::Query, bool)> {
    let Statement::Explain {
        describe_alias,
        analyze,
        mut verbose,
        query_plan,
        estimate,
        statement,
        format,
        options,
    } = explain
    else {
        return Err(error(Code::Internal, "EXPLAIN expected"));
    };
    if !matches!(describe_alias, DescribeAlias::Explain) || query_plan || estimate {
        return Err(unsupported(format_args!("{describe_alias} other than EXPLAIN <query>")));
    }
    if analyze {
        return Err(unsupported("EXPLAIN ANALYZE"));
    }
    if let Some(format) = format {
        return Err(unsupported(format_args!("EXPLAIN {format}")));
    }
    for option in options.unwrap_or_default() {
        let name = ident(&option.name);
        let value = option.arg.as_ref();
        match (name.as_str(), flag(value)) {
            ("verbose", Some(on)) => verbose = on,
            ("analyze", Some(true)) => return Err(unsupported("EXPLAIN ANALYZE")),
            // Orbit's plans carry no costs.
            ("analyze", Some(false)) | ("costs", Some(false)) => {}
            ("format", _) if value.is_some_and(|v| v.to_string().eq_ignore_ascii_case("text")) => {}
            ("verbose" | "analyze" | "costs", None) => {
                return Err(error(Code::SyntaxError, format!("{name} requires a Boolean value")));
            }
            _ => return Err(unsupported(format_args!("the EXPLAIN option {option}"))),
        }
    }
    match *statement {
        Statement::Query(query) => Ok((*query, verbose)),
        other => {
            let command = other.to_string().split_whitespace().next().unwrap_or_default().to_uppercase();
            Err(unsupported(format_args!("EXPLAIN {command}")))
        }
    }
}

/// An EXPLAIN option's Boolean: none (on), TRUE/FALSE, ON/OFF or 1/0.
fn flag(value: Option<&Expr>) -> Option<bool> {
    let Some(value) = value else { return Some(true) };
    match value.to_string().to_ascii_lowercase().trim_matches('\'') {
        "true" | "on" | "1" => Some(true),
        "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explain(sql: &str) -> Result<(String, bool)> {
        let statement = crate::sql::parse::parse(sql).unwrap().pop().unwrap();
        request(statement).map(|(query, verbose)| (query.to_string(), verbose))
    }

    #[test]
    fn explain_takes_queries_and_their_verbosity() {
        assert_eq!(explain("EXPLAIN SELECT 1").unwrap(), ("SELECT 1".to_string(), false));
        assert!(explain("EXPLAIN VERBOSE SELECT 1").unwrap().1);
        assert!(explain("EXPLAIN (VERBOSE, COSTS OFF) SELECT 1").unwrap().1);
        assert!(!explain("EXPLAIN (VERBOSE false) SELECT 1").unwrap().1);
    }

    #[test]
    fn what_orbit_does_not_explain_says_so() {
        let refused = |sql: &str| explain(sql).unwrap_err();
        let analyze = refused("EXPLAIN ANALYZE SELECT 1");
        assert_eq!(analyze.message, "EXPLAIN ANALYZE is not supported by Orbit yet");
        assert_eq!(refused("EXPLAIN (ANALYZE) SELECT 1").code, Code::FeatureNotSupported);
        assert_eq!(refused("EXPLAIN (BUFFERS) SELECT 1").code, Code::FeatureNotSupported);
        let insert = refused("EXPLAIN INSERT INTO t VALUES (1)");
        assert_eq!(insert.message, "EXPLAIN INSERT is not supported by Orbit yet");
        assert_eq!(refused("EXPLAIN DELETE FROM t").code, Code::FeatureNotSupported);
    }
}

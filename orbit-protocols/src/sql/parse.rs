//! Statements from SQL text (with the PostgreSQL spellings sqlparser does
//! not read), and reading names, constants and placeholders out of them.

use crate::sql::catalog::Table;
use crate::sql::error::{Code, Result, error, unsupported};
use crate::sql::exec::expr;
use crate::sql::types::{self, Literal, SqlType};
use serde_json::{Map, Value as Json};
use sqlparser::ast::{self, Expr, ObjectName, Statement, Value};

/// An identifier as PostgreSQL reads it: unquoted ones fold to lower case.
pub(crate) fn ident(id: &ast::Ident) -> String {
    if id.quote_style.is_some() { id.value.clone() } else { id.value.to_lowercase() }
}

/// A one-part name (`public.` accepted as the only schema).
pub(crate) fn object_name(name: &ObjectName) -> Result<String> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.as_ident().map(ident).ok_or_else(|| unsupported(format_args!("the name {name}"))))
        .collect::<Result<_>>()?;
    match parts.as_slice() {
        [table] => Ok(table.clone()),
        [schema, table] if schema == "public" => Ok(table.clone()),
        _ => Err(error(
            Code::InvalidSchemaName,
            format!("schema of \"{name}\" does not exist (only public exists)"),
        )),
    }
}

/// A constant: a number (with its sign), a string, a boolean or NULL.
pub(crate) fn literal(expr: &Expr) -> Result<Literal> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => Ok(Literal::Number(n.clone())),
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Ok(Literal::String(s.clone())),
            Value::Boolean(b) => Ok(Literal::Bool(*b)),
            Value::Null => Ok(Literal::Null),
            Value::Placeholder(p) => {
                Err(error(Code::ProtocolViolation, format!("no value bound for parameter {p}")))
            }
            other => Err(unsupported(format_args!("the value {other}"))),
        },
        Expr::UnaryOp { op: ast::UnaryOperator::Minus, expr } => match literal(expr)? {
            Literal::Number(n) => Ok(Literal::Number(match n.strip_prefix('-') {
                Some(abs) => abs.to_string(),
                None => format!("-{n}"),
            })),
            _ => Err(error(Code::UndefinedFunction, format!("operator does not exist: - {expr}"))),
        },
        Expr::UnaryOp { op: ast::UnaryOperator::Plus, expr } => literal(expr),
        Expr::Nested(inner) => literal(inner),
        Expr::Cast { expr, .. } => literal(expr),
        other => Err(unsupported(format_args!("the expression \"{other}\" here (only constants)"))),
    }
}

/// A constant, or an expression of constants Orbit evaluates (including
/// the current time: `now()`, `CURRENT_TIMESTAMP`, `CURRENT_DATE`, and a
/// new uuid: `gen_random_uuid()`).
pub(crate) fn constant(expr: &Expr) -> Result<Literal> {
    // ARRAY[...] of constants: its text form, which the column parses.
    if let Expr::Array(array) = expr {
        let mut items = Vec::with_capacity(array.elem.len());
        for item in &array.elem {
            if matches!(item, Expr::Array(_)) {
                return Err(unsupported("multidimensional arrays"));
            }
            items.push(match constant(item)? {
                Literal::Null => Json::Null,
                Literal::Bool(b) => Json::Bool(b),
                Literal::Number(text) | Literal::String(text) => Json::String(text),
            });
        }
        return Ok(Literal::String(crate::sql::types::array::format(SqlType::Text, &items)));
    }
    if let Expr::Function(function) = expr
        && matches!(function.args, ast::FunctionArguments::None)
            | matches!(&function.args, ast::FunctionArguments::List(l) if l.args.is_empty())
    {
        let name = function.name.to_string().to_lowercase();
        match name.trim_start_matches("pg_catalog.") {
            "now"
            | "current_timestamp"
            | "localtimestamp"
            | "transaction_timestamp"
            | "statement_timestamp"
            | "clock_timestamp" => return Ok(Literal::String(types::time::now())),
            "current_date" => return Ok(Literal::String(types::time::now()[..10].to_string())),
            "gen_random_uuid" => return Ok(Literal::String(crate::sql::types::uuid::random())),
            _ => {}
        }
    }
    match literal(expr) {
        Ok(l) => Ok(l),
        Err(e) => {
            let empty = Table::named("");
            match expr::eval(expr, &empty, &Map::new()) {
                Some(v) => Ok(v?.literal()),
                None => Err(e),
            }
        }
    }
}

/// Statements from SQL text. PostgreSQL's `VACUUM [FULL] [FREEZE]
/// [VERBOSE] [ANALYZE] [(options)] [table]` is read here (sqlparser reads
/// Redshift's form).
pub(crate) fn parse(sql: &str) -> Result<Vec<Statement>> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let trimmed = sql.trim().trim_end_matches(';').trim();
    let mut words = trimmed.split_whitespace();
    if words.next().is_some_and(|w| w.eq_ignore_ascii_case("vacuum")) && !trimmed.contains(';') {
        let mut rest = trimmed["vacuum".len()..].trim_start();
        if let Some(options) = rest.strip_prefix('(') {
            rest = options.split_once(')').map_or("", |(_, r)| r).trim_start();
        }
        loop {
            let word = rest.split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
            if !matches!(word.as_str(), "full" | "freeze" | "verbose" | "analyze" | "analyse") {
                break;
            }
            rest = rest[word.len()..].trim_start();
        }
        if rest.contains(',') {
            return Err(unsupported("VACUUM of several tables in one statement"));
        }
        let table_name = if rest.is_empty() {
            None
        } else {
            let mut parser = sqlparser::parser::Parser::new(&dialect)
                .try_with_sql(rest)
                .map_err(|e| error(Code::SyntaxError, format!("syntax error: {e}")))?;
            Some(
                parser
                    .parse_object_name(false)
                    .map_err(|e| error(Code::SyntaxError, format!("syntax error: {e}")))?,
            )
        };
        return Ok(vec![Statement::Vacuum(ast::VacuumStatement {
            full: false,
            sort_only: false,
            delete_only: false,
            reindex: false,
            recluster: false,
            table_name,
            threshold: None,
            boost: false,
        })]);
    }
    let copy_options;
    let sql = match copy_boolean_options(trimmed) {
        Some(rewritten) => {
            copy_options = rewritten;
            copy_options.as_str()
        }
        None => sql,
    };
    sqlparser::parser::Parser::parse_sql(&dialect, sql)
        .map_err(|e| error(Code::SyntaxError, format!("syntax error: {e}")))
}

/// COPY's boolean options written `on`/`off` (`WITH (freeze on)`, as
/// pgbench sends), which PostgreSQL accepts and sqlparser does not, as
/// `true`/`false`.
pub(crate) fn copy_boolean_options(sql: &str) -> Option<String> {
    let lower = sql.to_ascii_lowercase();
    if !lower.starts_with("copy") || sql.contains(';') {
        return None;
    }
    let open = lower.rfind("with")? + lower[lower.rfind("with")?..].find('(')?;
    let close = open + sql[open..].rfind(')')?;
    // The options, split at commas outside quotes.
    let mut parts = vec![String::new()];
    let mut quoted = false;
    for c in sql[open + 1..close].chars() {
        match c {
            '\'' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        parts.last_mut()?.push(c);
    }
    let options: Vec<String> = parts
        .iter()
        .map(|option| {
            let words: Vec<&str> = option.split_whitespace().collect();
            match words.as_slice() {
                [name, value] if value.eq_ignore_ascii_case("on") => format!("{name} true"),
                [name, value] if value.eq_ignore_ascii_case("off") => format!("{name} false"),
                _ => option.trim().to_string(),
            }
        })
        .collect();
    Some(format!("{}({}){}", &sql[..open], options.join(", "), &sql[close + 1..]))
}

/// An expression from its SQL text (a stored default).
pub(crate) fn parse_expr(sql: &str) -> Result<Expr> {
    sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| error(Code::Internal, format!("a stored default does not parse: {e}")))
}

/// The number of a `$n` placeholder.
pub(crate) fn placeholder(expr: &Expr) -> Option<usize> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(p) => p.strip_prefix('$')?.parse().ok().filter(|&n| n >= 1),
            _ => None,
        },
        _ => None,
    }
}

/// The first words of a statement, for messages.
pub(crate) fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The literal's expression (in place of a placeholder, or of a value read
/// back from a row).
pub(crate) fn literal_expr(literal: Literal) -> Expr {
    use sqlparser::ast::Value;
    match literal {
        Literal::Null => Expr::value(Value::Null),
        Literal::Bool(b) => Expr::value(Value::Boolean(b)),
        Literal::Number(n) => match n.strip_prefix('-') {
            Some(abs) => Expr::UnaryOp {
                op: ast::UnaryOperator::Minus,
                expr: Box::new(Expr::value(Value::Number(abs.to_string(), false))),
            },
            None => Expr::value(Value::Number(n, false)),
        },
        Literal::String(s) => Expr::value(Value::SingleQuotedString(s)),
    }
}

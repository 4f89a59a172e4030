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
    if let Some(statement) = sequence_statement(trimmed)? {
        return Ok(vec![statement]);
    }
    // Several statements, one a sequence's: each is read on its own.
    if trimmed.contains(';') && trimmed.to_ascii_lowercase().contains("sequence") {
        let parts = split_statements(trimmed);
        if parts.len() > 1 {
            let mut statements = Vec::with_capacity(parts.len());
            for part in parts {
                statements.extend(parse(part)?);
            }
            return Ok(statements);
        }
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

/// `sql` cut at each semicolon that ends a statement (not one in a quoted
/// string, identifier or comment); empty statements are left out. Text
/// the tokenizer cannot read is one part, for the parser to refuse.
fn split_statements(sql: &str) -> Vec<&str> {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize_with_location() else { return vec![sql] };
    // Byte offsets of each line's start, to turn (line, column) into one.
    let mut lines = vec![0];
    lines.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
    let offset = |line: u64, column: u64| -> Option<usize> {
        let start = *lines.get(usize::try_from(line).ok()?.checked_sub(1)?)?;
        let skip = usize::try_from(column).ok()?.checked_sub(1)?;
        Some(start + sql[start..].char_indices().nth(skip).map_or(sql.len() - start, |(i, _)| i))
    };
    let mut parts = Vec::new();
    let mut from = 0;
    for token in tokens.iter().filter(|t| t.token == Token::SemiColon) {
        let Some(at) = offset(token.span.start.line, token.span.start.column) else { return vec![sql] };
        parts.push(&sql[from..at]);
        from = at + 1;
    }
    parts.push(&sql[from..]);
    parts.retain(|p| !p.trim().is_empty());
    parts
}

/// The mark of an `ALTER SEQUENCE` statement: sqlparser has none, so one
/// is read here as an `ALTER TABLE` of the sequence whose `ON CLUSTER`
/// (a ClickHouse clause PostgreSQL never parses) is this mark, with its
/// options as `SET TBLPROPERTIES` (`increment`, `minvalue`, `maxvalue`,
/// `start`, `restart`, `cache`, `cycle`, `as`, `owned_by`; NULL for `NO
/// MINVALUE`, `NO MAXVALUE`, `OWNED BY NONE` and a bare `RESTART`) or
/// `RENAME TO`. [`sequence_alteration`] reads it back.
pub(crate) const ALTER_SEQUENCE: &str = "\0alter sequence";

/// `CREATE [TEMP] SEQUENCE` and `ALTER SEQUENCE` alone in `sql`, read with
/// their options in any order (sqlparser takes CREATE's in one order only,
/// and pg_dump writes START before INCREMENT); `None` for other text.
fn sequence_statement(sql: &str) -> Result<Option<Statement>> {
    use sqlparser::keywords::Keyword;
    use sqlparser::tokenizer::Token;
    let words: Vec<String> = sql.split_whitespace().take(3).map(str::to_ascii_lowercase).collect();
    let create = match words.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["create", "sequence", ..] | ["create", "temp" | "temporary", "sequence"] => true,
        ["alter", "sequence", ..] => false,
        _ => return Ok(None),
    };
    if sql.contains(';') {
        return Ok(None);
    }
    let syntax = |e: sqlparser::parser::ParserError| error(Code::SyntaxError, format!("syntax error: {e}"));
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let mut p = sqlparser::parser::Parser::new(&dialect).try_with_sql(sql).map_err(syntax)?;
    let (temporary, if_exists) = if create {
        p.expect_keyword(Keyword::CREATE).map_err(syntax)?;
        let temporary = p.parse_one_of_keywords(&[Keyword::TEMP, Keyword::TEMPORARY]).is_some();
        p.expect_keyword(Keyword::SEQUENCE).map_err(syntax)?;
        (temporary, p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]))
    } else {
        p.expect_keywords(&[Keyword::ALTER, Keyword::SEQUENCE]).map_err(syntax)?;
        (false, p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]))
    };
    let name = p.parse_object_name(false).map_err(syntax)?;
    let mut options: Vec<(&'static str, Expr)> = Vec::new();
    let null = || Expr::value(Value::Null);
    let mut data_type = None;
    let mut owned_by = None;
    let mut rename = None;
    loop {
        let seen = options.len();
        if p.consume_token(&Token::EOF) {
            break;
        } else if p.parse_keyword(Keyword::AS) {
            let parsed = p.parse_data_type().map_err(syntax)?;
            options.push(("as", Expr::value(Value::SingleQuotedString(parsed.to_string()))));
            data_type = Some(parsed);
        } else if p.parse_keyword(Keyword::INCREMENT) {
            let _ = p.parse_keyword(Keyword::BY);
            options.push(("increment", p.parse_number().map_err(syntax)?));
        } else if p.parse_keyword(Keyword::MINVALUE) {
            options.push(("minvalue", p.parse_number().map_err(syntax)?));
        } else if p.parse_keyword(Keyword::MAXVALUE) {
            options.push(("maxvalue", p.parse_number().map_err(syntax)?));
        } else if p.parse_keywords(&[Keyword::NO, Keyword::MINVALUE]) {
            options.push(("minvalue", null()));
        } else if p.parse_keywords(&[Keyword::NO, Keyword::MAXVALUE]) {
            options.push(("maxvalue", null()));
        } else if p.parse_keywords(&[Keyword::NO, Keyword::CYCLE]) {
            options.push(("cycle", Expr::value(Value::Boolean(false))));
        } else if p.parse_keyword(Keyword::CYCLE) {
            options.push(("cycle", Expr::value(Value::Boolean(true))));
        } else if p.parse_keyword(Keyword::START) {
            let _ = p.parse_keyword(Keyword::WITH);
            options.push(("start", p.parse_number().map_err(syntax)?));
        } else if !create && p.parse_keyword(Keyword::RESTART) {
            let with = p.parse_keyword(Keyword::WITH);
            let value = if with || !matches!(p.peek_token().token, Token::EOF | Token::Word(_)) {
                p.parse_number().map_err(syntax)?
            } else {
                null()
            };
            options.push(("restart", value));
        } else if p.parse_keyword(Keyword::CACHE) {
            options.push(("cache", p.parse_number().map_err(syntax)?));
        } else if p.parse_keywords(&[Keyword::OWNED, Keyword::BY]) {
            let target = if p.parse_keyword(Keyword::NONE) {
                null()
            } else {
                let target = p.parse_object_name(false).map_err(syntax)?;
                Expr::CompoundIdentifier(
                    target.0.iter().filter_map(|part| part.as_ident().cloned()).collect(),
                )
            };
            owned_by = Some(target.clone());
            options.push(("owned_by", target));
        } else if !create
            && seen == 0
            && rename.is_none()
            && p.parse_keywords(&[Keyword::RENAME, Keyword::TO])
        {
            rename = Some(p.parse_object_name(false).map_err(syntax)?);
            p.expect_token(&Token::EOF).map_err(syntax)?;
            break;
        } else {
            let found = p.peek_token();
            return Err(error(Code::SyntaxError, format!("syntax error at or near \"{found}\"")));
        }
    }
    if create {
        let sequence_options = options
            .iter()
            .filter_map(|(key, value)| {
                Some(match *key {
                    "increment" => ast::SequenceOptions::IncrementBy(value.clone(), true),
                    "minvalue" => {
                        ast::SequenceOptions::MinValue(Some(value.clone()).filter(|v| *v != null()))
                    }
                    "maxvalue" => {
                        ast::SequenceOptions::MaxValue(Some(value.clone()).filter(|v| *v != null()))
                    }
                    "start" => ast::SequenceOptions::StartWith(value.clone(), true),
                    "cache" => ast::SequenceOptions::Cache(value.clone()),
                    "cycle" => ast::SequenceOptions::Cycle(*value == Expr::value(Value::Boolean(false))),
                    _ => return None,
                })
            })
            .collect();
        let owned_by = owned_by.map(|target| match target {
            Expr::CompoundIdentifier(parts) => ObjectName::from(parts),
            _ => ObjectName::from(vec![ast::Ident::new("NONE")]),
        });
        return Ok(Some(Statement::CreateSequence {
            temporary,
            if_not_exists: if_exists,
            name,
            data_type,
            sequence_options,
            owned_by,
        }));
    }
    let operation = match rename {
        Some(to) => ast::AlterTableOperation::RenameTable { table_name: ast::RenameTableNameKind::To(to) },
        None => ast::AlterTableOperation::SetTblProperties {
            table_properties: options
                .into_iter()
                .map(|(key, value)| ast::SqlOption::KeyValue { key: ast::Ident::new(key), value })
                .collect(),
        },
    };
    Ok(Some(Statement::AlterTable(ast::AlterTable {
        name,
        if_exists,
        only: false,
        operations: vec![operation],
        location: None,
        on_cluster: Some(ast::Ident::new(ALTER_SEQUENCE)),
        table_type: None,
        end_token: ast::helpers::attached_token::AttachedToken::empty(),
    })))
}

/// The options of an `ALTER SEQUENCE` read by [`sequence_statement`]
/// (`None` for any other statement): its `SET TBLPROPERTIES` pairs, or
/// the new name of `RENAME TO`.
pub(crate) fn sequence_alteration(alter: &ast::AlterTable) -> Option<SequenceAlteration<'_>> {
    if alter.on_cluster.as_ref().is_none_or(|mark| mark.value != ALTER_SEQUENCE) {
        return None;
    }
    match alter.operations.as_slice() {
        [ast::AlterTableOperation::RenameTable { table_name: ast::RenameTableNameKind::To(to) }] => {
            Some(SequenceAlteration::Rename(to))
        }
        [ast::AlterTableOperation::SetTblProperties { table_properties }] => {
            Some(SequenceAlteration::Options(
                table_properties
                    .iter()
                    .filter_map(|o| match o {
                        ast::SqlOption::KeyValue { key, value } => Some((key.value.as_str(), value)),
                        _ => None,
                    })
                    .collect(),
            ))
        }
        _ => None,
    }
}

/// What an `ALTER SEQUENCE` does.
pub(crate) enum SequenceAlteration<'a> {
    Rename(&'a ObjectName),
    Options(Vec<(&'a str, &'a Expr)>),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_statements_read_alone_and_among_others() {
        let statements = parse(
            "CREATE TABLE t (a text DEFAULT 'x;y'); CREATE SEQUENCE s START 5 INCREMENT 2;\n\
             ALTER SEQUENCE s RESTART WITH 7; -- a comment; with a semicolon\nSELECT ';'",
        )
        .unwrap();
        assert_eq!(statements.len(), 4);
        let Statement::CreateSequence { sequence_options, .. } = &statements[1] else { panic!() };
        assert_eq!(sequence_options.len(), 2);
        let Statement::AlterTable(alter) = &statements[2] else { panic!() };
        assert!(sequence_alteration(alter).is_some());
        assert!(parse("ALTER SEQUENCE s RESTART WITH").is_err());
        assert!(parse("CREATE SEQUENCE s RESTART 1").is_err());
        assert!(parse("ALTER SEQUENCE s RENAME TO t INCREMENT 2").is_err());
    }
}

//! PostgreSQL spellings DataFusion does not plan, rewritten in the AST
//! into ones it does (decision 0007): operator and qualifier spellings,
//! casts to `regclass` and friends, array literals, `ARRAY(SELECT ...)`,
//! FROM-less lateral subqueries, a one-column table function's column
//! named after its alias, correlated scalar subqueries over the
//! catalogs, and subquery expressions over always-empty catalogs. Each is
//! an equivalence, or relies on a catalog key (never on user tables).

use crate::sql::system::pg_catalog::{is_empty_table, is_pg_table, reads_catalog};
use sqlparser::ast::{self, BinaryOperator, DataType as SqlDataType, Expr, ObjectName, Statement};
use std::ops::ControlFlow;

/// PostgreSQL spellings DataFusion does not read, in forms it does:
/// `OPERATOR(pg_catalog.~)` as `~`, `COLLATE` dropped (one collation),
/// `pg_catalog.f(...)` as `f(...)`, casts to `regclass`/`regtype`/
/// `regnamespace` as lookups, `oid`/`name`/`"char"` casts as their Orbit
/// types.
pub(crate) fn rewrite(statement: &mut Statement) {
    let _ = ast::VisitMut::visit(statement, &mut Laterals);
    let _ = ast::visit_expressions_mut(statement, |expr: &mut Expr| {
        rewrite_expr(expr);
        ControlFlow::<()>::Continue(())
    });
    // Table functions (`pg_catalog.generate_series`).
    let _ = ast::visit_relations_mut(statement, |name: &mut ObjectName| {
        if name.0.len() == 2 && name.0[0].to_string().eq_ignore_ascii_case("pg_catalog") {
            let last = name.0[1].to_string().to_lowercase();
            if !is_pg_table(&last) {
                name.0.remove(0);
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Inlines `CROSS JOIN LATERAL (SELECT e1, e2) AS o(a, b)` (a subquery
/// without FROM: one row of expressions over the outer row, as pgbench's
/// search-path lookup has) by putting `e1` where the query says `o.a`.
struct Laterals;

impl ast::VisitorMut for Laterals {
    type Break = ();

    /// `FROM generate_series(1, 3) g`: PostgreSQL names a one-column
    /// function's column after the alias (`g`), DataFusion `value`.
    fn pre_visit_table_factor(&mut self, factor: &mut ast::TableFactor) -> ControlFlow<()> {
        if let ast::TableFactor::Table { name, args: Some(_), alias: Some(alias), .. } = factor
            && alias.columns.is_empty()
            && name.0.last().is_some_and(|f| {
                let f = f.to_string().to_lowercase();
                f == "generate_series" || f == "unnest"
            })
        {
            alias.columns.push(ast::TableAliasColumnDef { name: alias.name.clone(), data_type: None });
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut ast::Query) -> ControlFlow<()> {
        let mut bodies = vec![query.body.as_mut()];
        while let Some(body) = bodies.pop() {
            match body {
                ast::SetExpr::Select(select) => empty_selects(select),
                ast::SetExpr::SetOperation { left, right, .. } => {
                    bodies.extend([left.as_mut(), right.as_mut()])
                }
                _ => {}
            }
        }
        let ast::SetExpr::Select(select) = query.body.as_mut() else { return ControlFlow::Continue(()) };
        let mut inlined: Vec<(String, String, Expr)> = Vec::new();
        for from in &mut select.from {
            from.joins.retain(|join| {
                let ast::TableFactor::Derived { lateral: true, subquery, alias: Some(alias), .. } =
                    &join.relation
                else {
                    return true;
                };
                if !matches!(join.join_operator, ast::JoinOperator::CrossJoin(_)) {
                    return true;
                }
                let ast::SetExpr::Select(inner) = subquery.body.as_ref() else { return true };
                if !inner.from.is_empty() || inner.selection.is_some() {
                    return true;
                }
                let mut columns = Vec::new();
                for (i, item) in inner.projection.iter().enumerate() {
                    let (expr, name) = match item {
                        ast::SelectItem::UnnamedExpr(e) => (e, None),
                        ast::SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
                        _ => return true,
                    };
                    let Some(name) = alias.columns.get(i).map(|c| c.name.value.clone()).or(name) else {
                        return true;
                    };
                    columns.push((alias.name.value.to_lowercase(), name.to_lowercase(), expr.clone()));
                }
                inlined.extend(columns);
                false
            });
        }
        if inlined.is_empty() {
            return ControlFlow::Continue(());
        }
        let replace = |expr: &mut Expr| {
            if let Expr::CompoundIdentifier(parts) = expr
                && let [table, column] = parts.as_slice()
                && let Some((_, _, value)) = inlined
                    .iter()
                    .find(|(t, c, _)| *t == table.value.to_lowercase() && *c == column.value.to_lowercase())
            {
                *expr = Expr::Nested(Box::new(value.clone()));
            }
            ControlFlow::<()>::Continue(())
        };
        let _ = ast::visit_expressions_mut(select.as_mut(), replace);
        if let Some(order_by) = &mut query.order_by {
            let _ = ast::visit_expressions_mut(order_by, replace);
        }
        ControlFlow::Continue(())
    }
}

/// A SELECT that inner-joins an always-empty catalog has no rows, so its
/// result expressions are never computed: those with subqueries (psql's
/// publication query has a correlated `generate_series` DataFusion cannot
/// plan) become NULL.
fn empty_selects(select: &mut ast::Select) {
    let empty = select.from.iter().any(|from| {
        let relations = std::iter::once(&from.relation).chain(from.joins.iter().filter_map(|j| {
            matches!(
                j.join_operator,
                ast::JoinOperator::Join(_) | ast::JoinOperator::Inner(_) | ast::JoinOperator::CrossJoin(_)
            )
            .then_some(&j.relation)
        }));
        relations.into_iter().any(|r| {
            matches!(r, ast::TableFactor::Table { name, .. }
                if name.0.last().is_some_and(|p| is_empty_table(&p.to_string().to_lowercase())))
        })
    });
    if !empty {
        return;
    }
    for item in &mut select.projection {
        let expr = match item {
            ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => continue,
        };
        let mut has_subquery = false;
        let _ = ast::visit_expressions(expr, |e: &Expr| {
            if matches!(e, Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. })
                || matches!(e, Expr::Function(f) if matches!(f.args, ast::FunctionArguments::Subquery(_)))
            {
                has_subquery = true;
            }
            ControlFlow::<()>::Continue(())
        });
        if has_subquery {
            *expr = Expr::value(ast::Value::Null);
        }
    }
}

/// A call of the function `name`.
pub(crate) fn function(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(ast::Function {
        name: ObjectName::from(vec![ast::Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: ast::FunctionArguments::None,
        args: ast::FunctionArguments::List(ast::FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// `'{1,2}'`: an array literal, as `make_array(1, 2)` (elements that read
/// as numbers are numbers).
fn array_literal(expr: &Expr) -> Option<Expr> {
    let Expr::Value(v) = expr else { return None };
    let ast::Value::SingleQuotedString(text) = &v.value else { return None };
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let elements = crate::sql::types::array::parse(text)
        .ok()?
        .into_iter()
        .map(|e| match e {
            None => Expr::value(ast::Value::Null),
            Some(e) if e.parse::<f64>().is_ok() => Expr::value(ast::Value::Number(e, false)),
            Some(e) => Expr::value(ast::Value::SingleQuotedString(e)),
        })
        .collect();
    Some(function("make_array", elements))
}

fn rewrite_expr(expr: &mut Expr) {
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::Eq | BinaryOperator::NotEq, right }
            if array_literal(left).is_some() || array_literal(right).is_some() =>
        {
            for side in [left, right] {
                if let Some(array) = array_literal(side) {
                    **side = array;
                }
            }
        }
        Expr::BinaryOp { op: op @ BinaryOperator::PGCustomBinaryOperator(_), .. } => {
            if let BinaryOperator::PGCustomBinaryOperator(parts) = op {
                let symbol = parts.last().map(String::as_str).unwrap_or_default();
                let plain = match symbol {
                    "~" => Some(BinaryOperator::PGRegexMatch),
                    "~*" => Some(BinaryOperator::PGRegexIMatch),
                    "!~" => Some(BinaryOperator::PGRegexNotMatch),
                    "!~*" => Some(BinaryOperator::PGRegexNotIMatch),
                    "=" => Some(BinaryOperator::Eq),
                    "<>" | "!=" => Some(BinaryOperator::NotEq),
                    "<" => Some(BinaryOperator::Lt),
                    "<=" => Some(BinaryOperator::LtEq),
                    ">" => Some(BinaryOperator::Gt),
                    ">=" => Some(BinaryOperator::GtEq),
                    "~~" => Some(BinaryOperator::PGLikeMatch),
                    _ => None,
                };
                if let Some(plain) = plain {
                    *op = plain;
                }
            }
        }
        Expr::Collate { expr: inner, .. } => {
            let inner = std::mem::replace(inner.as_mut(), Expr::value(ast::Value::Null));
            *expr = inner;
            rewrite_expr(expr);
        }
        Expr::Function(f) => {
            if f.name.0.len() == 2 && f.name.0[0].to_string().eq_ignore_ascii_case("pg_catalog") {
                f.name.0.remove(0);
            }
            // generate_subscripts(a, 1) as the positions 1..n of a, unnested
            // (beside `unnest(a)` in one select list, they pair up).
            if f.name.to_string().eq_ignore_ascii_case("generate_subscripts")
                && let ast::FunctionArguments::List(list) = &f.args
                && let [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(array)), _] =
                    list.args.as_slice()
            {
                let length = function(
                    "array_length",
                    vec![array.clone(), Expr::value(ast::Value::Number("1".into(), false))],
                );
                let end = Expr::BinaryOp {
                    left: Box::new(length),
                    op: BinaryOperator::Plus,
                    right: Box::new(Expr::value(ast::Value::Number("1".into(), false))),
                };
                let positions =
                    function("range", vec![Expr::value(ast::Value::Number("1".into(), false)), end]);
                *expr = function("unnest", vec![positions]);
                return;
            }
            // ARRAY(SELECT x ...) as (SELECT array_agg(x) ...).
            if f.name.to_string().eq_ignore_ascii_case("array")
                && let ast::FunctionArguments::Subquery(query) = &mut f.args
                && let ast::SetExpr::Select(select) = query.body.as_mut()
                && let [
                    ast::SelectItem::UnnamedExpr(item) | ast::SelectItem::ExprWithAlias { expr: item, .. },
                ] = select.projection.as_mut_slice()
            {
                let value = std::mem::replace(item, Expr::value(ast::Value::Null));
                *item = function("array_agg", vec![value]);
                query.order_by = None;
                *expr = Expr::Subquery(query.clone());
            }
        }
        Expr::Subquery(query) if reads_catalog(query.as_ref()) => {
            if let Some(lifted) = outer_valued_subquery(query).or_else(|| keyed_subquery(query)) {
                *expr = lifted;
            }
        }
        Expr::Cast { expr: inner, data_type, .. } => {
            let type_name = match data_type {
                SqlDataType::Custom(name, _) => {
                    name.0.last().map(|p| p.to_string().to_lowercase().trim_matches('"').to_string())
                }
                SqlDataType::Text => Some("text".to_string()),
                SqlDataType::Regclass => Some("regclass".to_string()),
                _ => None,
            };
            // A name: quoted, or a parameter (drivers bind names as text).
            let literal = matches!(inner.as_ref(), Expr::Value(v) if matches!(v.value, ast::Value::SingleQuotedString(_) | ast::Value::Placeholder(_)));
            let value = std::mem::replace(inner.as_mut(), Expr::value(ast::Value::Null));
            let replacement = match type_name.as_deref() {
                Some("regclass") if literal => function("to_regclass", vec![value]),
                Some("regclass") => function("pg_relation_name", vec![value]),
                Some("regtype") if literal => function("to_regtype", vec![value]),
                Some("regtype") => function("format_type", vec![value, Expr::value(ast::Value::Null)]),
                Some("regnamespace") => function("pg_namespace_name", vec![value]),
                Some("regproc" | "regprocedure") => function("pg_proc_name", vec![value]),
                Some("oid" | "regrole") => {
                    **inner = value;
                    *data_type = SqlDataType::BigInt(None);
                    return;
                }
                Some("name" | "char" | "text" | "bpchar") => {
                    **inner = value;
                    *data_type = SqlDataType::Text;
                    return;
                }
                Some(_) | None => {
                    **inner = value;
                    plain_type(data_type);
                    return;
                }
            };
            *expr = replacement;
        }
        _ => {}
    }
}

/// A keyed subquery (see [`keyed_subquery`]) whose value also reads the
/// outer row (`SELECT f(outer.a, inner.b) FROM inner WHERE ...`), which
/// DataFusion cannot decorrelate: each inner column becomes a keyed
/// subquery of its own, the value is computed outside them, and it is
/// NULL when no inner row matches (a keyed subquery of the constant 1).
/// `None` when the value reads no outer column, or names a column
/// without its table.
fn outer_valued_subquery(query: &ast::Query) -> Option<Expr> {
    let ast::SetExpr::Select(select) = query.body.as_ref() else { return None };
    let [ast::SelectItem::UnnamedExpr(item) | ast::SelectItem::ExprWithAlias { expr: item, .. }] =
        select.projection.as_slice()
    else {
        return None;
    };
    if is_aggregate(item) {
        return None;
    }
    let mut tables = Vec::new();
    for from in &select.from {
        for relation in std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation)) {
            let ast::TableFactor::Table { name, alias, .. } = relation else { return None };
            tables.push(match alias {
                Some(a) => a.name.value.to_lowercase(),
                None => name.0.last()?.to_string().to_lowercase(),
            });
        }
    }
    let mut inner_columns: Vec<Expr> = Vec::new();
    let mut reads_outer = false;
    let mut bare = false;
    let _ = ast::visit_expressions(item, |e: &Expr| {
        match e {
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                if tables.contains(&parts[parts.len() - 2].value.to_lowercase()) {
                    if !inner_columns.contains(e) {
                        inner_columns.push(e.clone());
                    }
                } else {
                    reads_outer = true;
                }
            }
            Expr::Identifier(_) => bare = true,
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    if !reads_outer || bare {
        return None;
    }
    // The query with another value, as a keyed subquery.
    let with_value = |value: Expr| -> Option<Expr> {
        let mut sub = query.clone();
        let ast::SetExpr::Select(select) = sub.body.as_mut() else { return None };
        select.projection = vec![ast::SelectItem::UnnamedExpr(value)];
        keyed_subquery(&mut sub)
    };
    let mut value = item.clone();
    for column in inner_columns {
        let lifted = with_value(column.clone())?;
        let _ = ast::visit_expressions_mut(&mut value, |e: &mut Expr| {
            if *e == column {
                *e = lifted.clone();
            }
            ControlFlow::<()>::Continue(())
        });
    }
    let exists = with_value(Expr::value(ast::Value::Number("1".into(), false)))?;
    Some(Expr::Case {
        case_token: ast::helpers::attached_token::AttachedToken::empty(),
        end_token: ast::helpers::attached_token::AttachedToken::empty(),
        operand: None,
        conditions: vec![ast::CaseWhen { condition: Expr::IsNotNull(Box::new(exists)), result: value }],
        else_result: None,
    })
}

/// A correlated scalar subquery over the catalogs, whose keys make it one
/// row at most, in the form DataFusion decorrelates: its value aggregated
/// (`max`), and its conditions that are not `inner = outer` equalities
/// lifted out into `CASE WHEN condition THEN (subquery) END`, where an
/// inner column they compare is read by a subquery of its own table
/// (psql's `\d` asks `a.atthasdef` and `a.attcollation <> t.typcollation`
/// inside its subqueries). `None` when the subquery is not of that shape.
fn keyed_subquery(query: &mut ast::Query) -> Option<Expr> {
    let template = query.clone();
    let ast::SetExpr::Select(template_select) = template.body.as_ref() else { return None };
    let ast::SetExpr::Select(select) = query.body.as_mut() else { return None };
    if !matches!(&select.group_by, ast::GroupByExpr::Expressions(e, _) if e.is_empty()) {
        return None;
    }
    let [ast::SelectItem::UnnamedExpr(item) | ast::SelectItem::ExprWithAlias { expr: item, .. }] =
        select.projection.as_mut_slice()
    else {
        return None;
    };
    if is_aggregate(item) {
        return None;
    }
    // The inner tables, by the name their columns are qualified with.
    let mut tables: Vec<(String, ast::TableFactor)> = Vec::new();
    for from in &select.from {
        for relation in std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation)) {
            let ast::TableFactor::Table { name, alias, .. } = relation else { return None };
            let qualifier = match alias {
                Some(a) => a.name.value.to_lowercase(),
                None => name.0.last()?.to_string().to_lowercase(),
            };
            tables.push((qualifier, relation.clone()));
        }
    }
    let inner = |e: &Expr| -> Vec<String> {
        qualifiers(e).into_iter().filter(|q| tables.iter().any(|(t, _)| t == q)).collect()
    };
    let outer_only = |e: &Expr| inner(e).is_empty() && !qualifiers(e).is_empty();
    let mut kept = Vec::new();
    let mut lifted = Vec::new();
    let conjuncts = select.selection.take().map(split_and).unwrap_or_default();
    for c in &conjuncts {
        let refs = inner(c);
        if refs.is_empty() && !qualifiers(c).is_empty() {
            lifted.push(c.clone());
            continue;
        }
        let Expr::BinaryOp { left, op, right } = c else {
            kept.push(c.clone());
            continue;
        };
        if refs.len() == qualifiers(c).len() || *op == BinaryOperator::Eq {
            kept.push(c.clone());
            continue;
        }
        // outer OP inner (or inner OP outer), the inner side of one table.
        let (inner_side, outer_left) = if outer_only(left) { (right, true) } else { (left, false) };
        let alias = inner(inner_side);
        let ([alias], true) = (alias.as_slice(), outer_only(if outer_left { left } else { right })) else {
            kept.push(c.clone());
            continue;
        };
        let (_, relation) = tables.iter().find(|(t, _)| t == alias)?;
        let own: Vec<Expr> = conjuncts
            .iter()
            .filter(|k| {
                let r = inner(k);
                r.len() == 1
                    && &r[0] == alias
                    && (matches!(k, Expr::BinaryOp { op: BinaryOperator::Eq, .. })
                        || r.len() == qualifiers(k).len())
            })
            .cloned()
            .collect();
        let sub = ast::Query {
            body: Box::new(ast::SetExpr::Select(Box::new(ast::Select {
                projection: vec![ast::SelectItem::UnnamedExpr(function("max", vec![(**inner_side).clone()]))],
                from: vec![ast::TableWithJoins { relation: relation.clone(), joins: Vec::new() }],
                selection: join_and(own),
                ..(**template_select).clone()
            }))),
            ..template.clone()
        };
        let value = Expr::Subquery(Box::new(sub));
        let (l, r) = if outer_left { ((**left).clone(), value) } else { (value, (**right).clone()) };
        lifted.push(Expr::BinaryOp { left: Box::new(l), op: op.clone(), right: Box::new(r) });
    }
    let ast::SetExpr::Select(select) = query.body.as_mut() else { return None };
    select.selection = join_and(kept);
    if let [ast::SelectItem::UnnamedExpr(item) | ast::SelectItem::ExprWithAlias { expr: item, .. }] =
        select.projection.as_mut_slice()
    {
        let value = std::mem::replace(item, Expr::value(ast::Value::Null));
        *item = function("max", vec![value]);
    }
    let subquery = Expr::Subquery(Box::new(query.clone()));
    Some(match join_and(lifted) {
        None => subquery,
        Some(condition) => Expr::Case {
            case_token: ast::helpers::attached_token::AttachedToken::empty(),
            end_token: ast::helpers::attached_token::AttachedToken::empty(),
            operand: None,
            conditions: vec![ast::CaseWhen { condition, result: subquery }],
            else_result: None,
        },
    })
}

/// The table qualifiers an expression's columns name (`a` of `a.attnum`).
fn qualifiers(expr: &Expr) -> Vec<String> {
    let mut found = Vec::new();
    let _ = ast::visit_expressions(expr, |e: &Expr| {
        // `t.column`, or `schema.t.column`: the table.
        if let Expr::CompoundIdentifier(parts) = e
            && parts.len() >= 2
        {
            let q = parts[parts.len() - 2].value.to_lowercase();
            if !found.contains(&q) {
                found.push(q);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

fn split_and(expr: Expr) -> Vec<Expr> {
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            let mut all = split_and(*left);
            all.extend(split_and(*right));
            all
        }
        Expr::Nested(inner) if matches!(inner.as_ref(), Expr::BinaryOp { op: BinaryOperator::And, .. }) => {
            split_and(*inner)
        }
        other => vec![other],
    }
}

fn join_and(conjuncts: Vec<Expr>) -> Option<Expr> {
    conjuncts.into_iter().reduce(|l, r| Expr::BinaryOp {
        left: Box::new(l),
        op: BinaryOperator::And,
        right: Box::new(r),
    })
}

fn is_aggregate(expr: &Expr) -> bool {
    let Expr::Function(f) = expr else { return false };
    let name = f.name.to_string().to_lowercase();
    matches!(
        name.as_str(),
        "count"
            | "sum"
            | "min"
            | "max"
            | "avg"
            | "array_agg"
            | "string_agg"
            | "bool_and"
            | "bool_or"
            | "every"
    )
}

/// `pg_catalog.int2` (also as an array's element) as the plain type.
fn plain_type(data_type: &mut SqlDataType) {
    match data_type {
        SqlDataType::Custom(name, modifiers)
            if modifiers.is_empty()
                && name.0.len() == 2
                && name.0[0].to_string().eq_ignore_ascii_case("pg_catalog") =>
        {
            let last = name.0[1].to_string();
            if let Ok(t) = sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
                .try_with_sql(&last)
                .and_then(|mut p| p.parse_data_type())
            {
                *data_type = t;
            }
        }
        SqlDataType::Array(
            ast::ArrayElemTypeDef::SquareBracket(inner, _)
            | ast::ArrayElemTypeDef::AngleBracket(inner)
            | ast::ArrayElemTypeDef::Parenthesis(inner),
        ) => plain_type(inner),
        _ => {}
    }
}

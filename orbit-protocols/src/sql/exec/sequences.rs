//! Sequences: hidden row numbers of tables without a primary key,
//! SERIAL/identity values, and `CREATE`/`ALTER`/`DROP SEQUENCE`. Values
//! are drawn from `counter` actors (`crate::sql::plan::sequences`); a
//! sequence's rules are a catalog entry ([`Table::sequence`]), staged in
//! the transaction like any DDL.

use super::*;
use crate::sql::catalog::Sequence;
use crate::sql::parse::{SequenceAlteration, sequence_alteration};
use crate::sql::plan::sequences as seq;

impl<G: ActorGateway> Engine<G> {
    /// `count` new row numbers for a table without a primary key.
    pub(super) async fn next_rowids(
        &self,
        table: &Table,
        count: usize,
    ) -> Result<std::ops::RangeInclusive<i64>> {
        let last = self.draw(table.rowid_sequence(), count).await?;
        Ok(last - count as i64 + 1..=last)
    }

    /// The next value of a SERIAL or identity column's sequence. As in
    /// PostgreSQL, a value drawn is not made durable on its own: the row
    /// that uses it commits in a later write, and storage is durable in
    /// write order, so that row's commit makes the draw durable too. A
    /// crash before then may hand out the value again, to a row that
    /// never committed. (Waiting for the draw's own fsync put one inside
    /// every INSERT, under the row locks its transaction held.)
    pub(super) async fn next_serial(&self, table: &Table, column: &Column) -> Result<Json> {
        let sequence = seq::serial(table, column);
        let value = seq::next_value(self.gateway.as_ref(), &sequence, false).await?;
        self.planner.drawn().lock().unwrap_or_else(|e| e.into_inner()).record(&sequence, value);
        column.coerce(&Literal::Number(value.to_string())).map_err(Into::into)
    }

    /// Advances counter `key` by `count`; returns its new value (durable
    /// as [`Engine::next_serial`]'s draws are).
    pub(super) async fn draw(&self, key: String, count: usize) -> Result<i64> {
        let id = ActorId::new("counter", Bytes::from(key));
        let args = json_bytes(&serde_json::json!({ "by": count }))?;
        let (reply, _durable) = self.gateway.invoke_visible(id, Invocation::new("increment", args)).await?;
        serde_json::from_slice(&reply.value).map_err(|e| error(Code::Internal, e.to_string()))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn create_sequence(
        &self,
        temporary: bool,
        if_not_exists: bool,
        name: &ObjectName,
        data_type: Option<&ast::DataType>,
        options: &[ast::SequenceOptions],
        owned_by: Option<&ObjectName>,
        txn: &mut Txn,
    ) -> Result<Outcome> {
        if temporary {
            return Err(unsupported("temporary sequences"));
        }
        let name = object_name(name)?;
        self.close_gate(txn, &name).await?;
        if self.schema(&txn.writes, &name).await?.is_some()
            || self.relation_names(&txn.writes).await?.contains(&name)
        {
            if if_not_exists {
                return Ok(Outcome::Done("CREATE SEQUENCE".into()));
            }
            return Err(error(Code::DuplicateTable, format!("relation \"{name}\" already exists")));
        }
        let sql_type = match data_type {
            None => SqlType::Int8,
            Some(data_type) => sequence_type(data_type)?,
        };
        let mut changes: Vec<Change> = options.iter().map(change_of_option).collect::<Result<_>>()?;
        if let Some(target) = owned_by {
            changes.push(Change::OwnedBy(owner_of(target)?));
        }
        let (mut rules, _) = rules(sql_type, None, &changes)?;
        rules.owned_by = self.owner(txn, &changes).await?;
        let oid = self.next_oid().await?;
        txn.stage_table(Table { oid, sequence: Some(rules), ..Table::named(&name) });
        Ok(Outcome::Done("CREATE SEQUENCE".into()))
    }

    /// `ALTER SEQUENCE` as [`crate::sql::parse`] reads it; `None` for an
    /// `ALTER TABLE`.
    pub(super) async fn alter_sequence(
        &self,
        alter: &ast::AlterTable,
        txn: &mut Txn,
    ) -> Result<Option<Outcome>> {
        let Some(alteration) = sequence_alteration(alter) else { return Ok(None) };
        let done = || Ok(Some(Outcome::Done("ALTER SEQUENCE".into())));
        let name = object_name(&alter.name)?;
        self.close_gate(txn, &name).await?;
        let Some(table) = self.schema(&txn.writes, &name).await? else {
            if alter.if_exists {
                return done();
            }
            return Err(error(Code::UndefinedTable, format!("relation \"{name}\" does not exist")));
        };
        let sequence = seq::of_relation(&table)?;
        match alteration {
            SequenceAlteration::Rename(to) => {
                let to = object_name(to)?;
                self.close_gate(txn, &to).await?;
                if self.relation_names(&txn.writes).await?.contains(&to) {
                    return Err(error(Code::DuplicateTable, format!("relation \"{to}\" already exists")));
                }
                txn.writes.tables.insert(name.clone(), None);
                txn.stage_table(Table { name: to, ..Table::clone(&table) });
            }
            SequenceAlteration::Options(options) => {
                let changes: Vec<Change> = options
                    .into_iter()
                    .map(|(key, value)| change_of_pair(key, value))
                    .collect::<Result<_>>()?;
                let sql_type = changes
                    .iter()
                    .find_map(|c| match c {
                        Change::Type(t) => Some(*t),
                        _ => None,
                    })
                    .unwrap_or(sequence.rules.sql_type);
                let (mut rules, restart) = rules(sql_type, Some(&sequence.rules), &changes)?;
                rules.owned_by = match changes.iter().any(|c| matches!(c, Change::OwnedBy(_))) {
                    true => self.owner(txn, &changes).await?,
                    false => sequence.rules.owned_by.clone(),
                };
                // A restart is a fresh counter, named in the rules staged
                // here: it commits or rolls back with them, as in
                // PostgreSQL.
                if let Some(value) = restart {
                    rules.generation = self.next_oid().await?;
                    rules.restarted_at = Some(value);
                }
                txn.stage_table(Table { sequence: Some(rules), ..Table::clone(&table) });
            }
        }
        done()
    }

    pub(super) async fn drop_sequences(
        &self,
        names: &[ObjectName],
        if_exists: bool,
        cascade: bool,
        txn: &mut Txn,
    ) -> Result<Outcome> {
        let mut dropped = Vec::new();
        for name in names {
            let name = object_name(name)?;
            self.close_gate(txn, &name).await?;
            match self.schema(&txn.writes, &name).await? {
                Some(table) if table.sequence.is_some() => dropped.push(name),
                Some(_) => return Err(error(Code::WrongObjectType, format!("\"{name}\" is not a sequence"))),
                None if if_exists => {}
                None => {
                    return Err(error(Code::UndefinedTable, format!("sequence \"{name}\" does not exist")));
                }
            }
        }
        // Column defaults drawing from them: refused, or dropped with CASCADE.
        for table in self.tables_seen(&txn.writes).await? {
            let users: Vec<usize> = (table.columns.iter().enumerate())
                .filter(|(_, c)| {
                    c.default_expr.as_deref().is_some_and(|e| dropped.iter().any(|s| draws_from(e, s)))
                })
                .map(|(i, _)| i)
                .collect();
            let Some(&first) = users.first() else { continue };
            if !cascade {
                let sequence = dropped.iter().find(|s| {
                    draws_from(table.columns[first].default_expr.as_deref().unwrap_or_default(), s)
                });
                return Err(error(
                    Code::DependentObjectsStillExist,
                    format!(
                        "cannot drop sequence {} because other objects depend on it (default value for column {} of table {} depends on sequence {0})",
                        sequence.map_or("", String::as_str),
                        table.columns[first].name,
                        table.name
                    ),
                ));
            }
            self.close_gate(txn, &table.name).await?;
            let mut table = table;
            for i in users {
                table.columns[i].default_expr = None;
            }
            txn.stage_table(table);
        }
        // The views reading them: refused, or dropped with CASCADE.
        for name in self.with_dependent_views(txn, dropped, cascade, "sequence").await? {
            txn.writes.tables.insert(name, None);
        }
        Ok(Outcome::Done("DROP SEQUENCE".into()))
    }

    /// Drops the sequences owned by `table` (by its `column` only, when
    /// given), with the table or column that owns them.
    pub(super) async fn drop_owned_sequences(
        &self,
        txn: &mut Txn,
        table: &str,
        column: Option<&str>,
    ) -> Result<()> {
        for relation in self.tables_seen(&txn.writes).await? {
            let owned = relation
                .sequence
                .as_ref()
                .and_then(|s| s.owned_by.as_ref())
                .is_some_and(|(t, c)| t == table && column.is_none_or(|column| column == c));
            if owned {
                self.close_gate(txn, &relation.name).await?;
                txn.writes.tables.insert(relation.name, None);
            }
        }
        Ok(())
    }

    /// The `OWNED BY` the changes end with: the column must exist in a
    /// table (42P01, 42703, 42809).
    async fn owner(&self, txn: &Txn, changes: &[Change]) -> Result<Option<(String, String)>> {
        let Some(Change::OwnedBy(owner)) = changes.iter().rev().find(|c| matches!(c, Change::OwnedBy(_)))
        else {
            return Ok(None);
        };
        let Some((table, column)) = owner else { return Ok(None) };
        let schema = self.table(&txn.writes, table).await?;
        if !schema.has_rows() {
            return Err(error(
                Code::WrongObjectType,
                format!("sequence cannot be owned by relation \"{table}\" (a {})", schema.kind_name()),
            ));
        }
        if schema.column(column).is_none() {
            return Err(error(
                Code::UndefinedColumn,
                format!("column \"{column}\" of relation \"{table}\" does not exist"),
            ));
        }
        Ok(Some((table.clone(), column.clone())))
    }
}

/// Whether a default expression's text draws from sequence `name`.
fn draws_from(expr: &str, name: &str) -> bool {
    let (expr, name) = (expr.to_lowercase(), name.to_lowercase());
    [format!("nextval('{name}'"), format!("nextval('public.{name}'")]
        .iter()
        .any(|call| expr.contains(call.as_str()))
}

/// One clause of `CREATE` or `ALTER SEQUENCE`.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    Type(SqlType),
    Increment(i64),
    /// `MINVALUE n`; `None` for `NO MINVALUE`.
    Min(Option<i64>),
    Max(Option<i64>),
    Start(i64),
    /// `RESTART [WITH n]`; `None` restarts at the start.
    Restart(Option<i64>),
    Cache(i64),
    Cycle(bool),
    /// `OWNED BY table.column`, or `OWNED BY NONE`.
    OwnedBy(Option<(String, String)>),
}

fn change_of_option(option: &ast::SequenceOptions) -> Result<Change> {
    Ok(match option {
        ast::SequenceOptions::IncrementBy(n, _) => Change::Increment(number(n)?),
        ast::SequenceOptions::MinValue(n) => Change::Min(n.as_ref().map(number).transpose()?),
        ast::SequenceOptions::MaxValue(n) => Change::Max(n.as_ref().map(number).transpose()?),
        ast::SequenceOptions::StartWith(n, _) => Change::Start(number(n)?),
        ast::SequenceOptions::Cache(n) => Change::Cache(number(n)?),
        ast::SequenceOptions::Cycle(no) => Change::Cycle(!no),
    })
}

/// An `ALTER SEQUENCE` clause as `crate::sql::parse` stores it.
fn change_of_pair(key: &str, value: &Expr) -> Result<Change> {
    let is_null = matches!(value, Expr::Value(v) if v.value == ast::Value::Null);
    let optional = |value: &Expr| if is_null { Ok(None) } else { number(value).map(Some) };
    Ok(match key {
        "as" => {
            let Ok(Literal::String(name)) = literal(value) else {
                return Err(error(Code::SyntaxError, "ALTER SEQUENCE ... AS needs a type"));
            };
            let data_type = sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
                .try_with_sql(&name)
                .and_then(|mut p| p.parse_data_type())
                .map_err(|e| error(Code::SyntaxError, format!("syntax error: {e}")))?;
            Change::Type(sequence_type(&data_type)?)
        }
        "increment" => Change::Increment(number(value)?),
        "minvalue" => Change::Min(optional(value)?),
        "maxvalue" => Change::Max(optional(value)?),
        "start" => Change::Start(number(value)?),
        "restart" => Change::Restart(optional(value)?),
        "cache" => Change::Cache(number(value)?),
        "cycle" => Change::Cycle(matches!(literal(value)?, Literal::Bool(true))),
        "owned_by" => Change::OwnedBy(match value {
            Expr::CompoundIdentifier(parts) => owner_of(&ObjectName::from(parts.clone()))?,
            _ => None,
        }),
        other => return Err(error(Code::SyntaxError, format!("syntax error at or near \"{other}\""))),
    })
}

/// `OWNED BY [public.]table.column` (or `NONE`).
fn owner_of(target: &ObjectName) -> Result<Option<(String, String)>> {
    let parts: Vec<String> = target.0.iter().filter_map(|p| p.as_ident().map(ident)).collect();
    match parts.as_slice() {
        [none] if none == "none" => Ok(None),
        [table, column] | [_, table, column] => Ok(Some((table.clone(), column.clone()))),
        _ => Err(error(
            Code::SyntaxError,
            "invalid OWNED BY option (specify OWNED BY table.column or OWNED BY NONE)",
        )),
    }
}

/// A sequence's type: smallint, integer or bigint (22023).
fn sequence_type(data_type: &ast::DataType) -> Result<SqlType> {
    use ast::DataType;
    match data_type {
        DataType::SmallInt(_) | DataType::Int2(_) => Ok(SqlType::Int2),
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => Ok(SqlType::Int4),
        DataType::BigInt(_) | DataType::Int8(_) => Ok(SqlType::Int8),
        _ => Err(error(Code::InvalidParameterValue, "sequence type must be smallint, integer, or bigint")),
    }
}

/// A bigint constant of a sequence clause.
fn number(expr: &Expr) -> Result<i64> {
    match literal(expr)? {
        Literal::Number(text) => text.parse().map_err(|_| {
            if text.contains(['.', 'e', 'E']) {
                error(
                    Code::InvalidTextRepresentation,
                    format!("invalid input syntax for type bigint: \"{text}\""),
                )
            } else {
                error(
                    Code::NumericValueOutOfRange,
                    format!("value \"{text}\" is out of range for type bigint"),
                )
            }
        }),
        other => Err(error(Code::SyntaxError, format!("syntax error at or near \"{other:?}\""))),
    }
}

/// A sequence's rules after `changes` (over `old`'s, for ALTER), checked
/// as PostgreSQL checks them (22023), and the value a RESTART sets.
fn rules(sql_type: SqlType, old: Option<&Sequence>, changes: &[Change]) -> Result<(Sequence, Option<i64>)> {
    let invalid = |message: String| error(Code::InvalidParameterValue, message);
    let (type_min, type_max) = Sequence::type_range(sql_type);
    let mut increment = old.map_or(1, |o| o.increment);
    let (mut min, mut max, mut start, mut cache, mut cycle) = (None, None, None, None, None);
    let (mut min_given, mut max_given) = (false, false);
    let mut restart = None;
    for change in changes {
        match change {
            Change::Increment(n) => increment = *n,
            Change::Min(n) => (min, min_given) = (*n, true),
            Change::Max(n) => (max, max_given) = (*n, true),
            Change::Start(n) => start = Some(*n),
            Change::Restart(n) => restart = Some(*n),
            Change::Cache(n) => cache = Some(*n),
            Change::Cycle(c) => cycle = Some(*c),
            Change::Type(_) | Change::OwnedBy(_) => {}
        }
    }
    if increment == 0 {
        return Err(invalid("INCREMENT must not be zero".into()));
    }
    let type_name = sql_type.name();
    let max = match (max, max_given, old) {
        (Some(n), _, _) => n,
        (None, false, Some(old))
            if old.sql_type == sql_type || old.max != Sequence::type_range(old.sql_type).1 =>
        {
            old.max
        }
        _ if increment > 0 => type_max,
        _ => -1,
    };
    let min = match (min, min_given, old) {
        (Some(n), _, _) => n,
        (None, false, Some(old))
            if old.sql_type == sql_type || old.min != Sequence::type_range(old.sql_type).0 =>
        {
            old.min
        }
        _ if increment > 0 => 1,
        _ => type_min,
    };
    if !(type_min..=type_max).contains(&max) {
        return Err(invalid(format!("MAXVALUE ({max}) is out of range for sequence data type {type_name}")));
    }
    if !(type_min..=type_max).contains(&min) {
        return Err(invalid(format!("MINVALUE ({min}) is out of range for sequence data type {type_name}")));
    }
    if min >= max {
        return Err(invalid(format!("MINVALUE ({min}) must be less than MAXVALUE ({max})")));
    }
    let start = start.or(old.map(|o| o.start)).unwrap_or(if increment > 0 { min } else { max });
    if start < min {
        return Err(invalid(format!("START value ({start}) cannot be less than MINVALUE ({min})")));
    }
    if start > max {
        return Err(invalid(format!("START value ({start}) cannot be greater than MAXVALUE ({max})")));
    }
    let restart = restart.map(|n| n.unwrap_or(start));
    if let Some(restart) = restart {
        if restart < min {
            return Err(invalid(format!("RESTART value ({restart}) cannot be less than MINVALUE ({min})")));
        }
        if restart > max {
            return Err(invalid(format!(
                "RESTART value ({restart}) cannot be greater than MAXVALUE ({max})"
            )));
        }
    }
    let cache = cache.or(old.map(|o| o.cache)).unwrap_or(1);
    if cache <= 0 {
        return Err(invalid(format!("CACHE ({cache}) must be greater than zero")));
    }
    let cycle = cycle.or(old.map(|o| o.cycle)).unwrap_or(false);
    let owned_by = old.and_then(|o| o.owned_by.clone());
    let (generation, restarted_at) = old.map_or((0, None), |o| (o.generation, o.restarted_at));
    Ok((
        Sequence { sql_type, start, increment, min, max, cache, cycle, owned_by, generation, restarted_at },
        restart,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(changes: &[Change]) -> Result<Sequence> {
        rules(SqlType::Int8, None, changes).map(|(s, _)| s)
    }

    #[test]
    fn defaults_follow_the_increments_sign_and_the_type() {
        let up = created(&[]).unwrap();
        assert_eq!((up.start, up.min, up.max, up.increment), (1, 1, i64::MAX, 1));
        let down = created(&[Change::Increment(-2)]).unwrap();
        assert_eq!((down.start, down.min, down.max), (-1, i64::MIN, -1));
        let small = rules(SqlType::Int2, None, &[]).unwrap().0;
        assert_eq!(small.max, 32767);
    }

    #[test]
    fn bounds_are_checked_as_postgres_checks_them() {
        let message = |changes: &[Change]| created(changes).unwrap_err().message;
        assert_eq!(message(&[Change::Increment(0)]), "INCREMENT must not be zero");
        assert_eq!(
            message(&[Change::Min(Some(5)), Change::Max(Some(3))]),
            "MINVALUE (5) must be less than MAXVALUE (3)"
        );
        assert_eq!(message(&[Change::Start(0)]), "START value (0) cannot be less than MINVALUE (1)");
        assert_eq!(message(&[Change::Cache(0)]), "CACHE (0) must be greater than zero");
        let small = rules(SqlType::Int2, None, &[Change::Max(Some(40000))]).unwrap_err();
        assert_eq!(small.message, "MAXVALUE (40000) is out of range for sequence data type smallint");
    }

    #[test]
    fn alter_keeps_what_it_does_not_change_and_restarts_at_the_start() {
        let old = created(&[Change::Start(10), Change::Increment(5), Change::Max(Some(100))]).unwrap();
        let (new, restart) = rules(SqlType::Int8, Some(&old), &[Change::Restart(None)]).unwrap();
        assert_eq!(new, old);
        assert_eq!(restart, Some(10));
        let (new, restart) =
            rules(SqlType::Int8, Some(&old), &[Change::Max(None), Change::Restart(Some(50))]).unwrap();
        assert_eq!((new.max, restart), (i64::MAX, Some(50)));
        assert!(rules(SqlType::Int8, Some(&old), &[Change::Restart(Some(101))]).is_err());
    }
}

//! Session parameters: SET, SHOW and RESET of the settings PostgreSQL
//! clients read and write at startup, stored per connection.

use crate::sql::error::Code;
use crate::sql::error::{Result, error, unsupported};
use crate::sql::exec::Outcome;
use crate::sql::parse::first_words;
use crate::sql::plan::Rows;
use crate::sql::types::SqlType;
use serde_json::Value as Json;
use sqlparser::ast::{self, Expr, Statement, Value};
use std::collections::BTreeMap;

/// Session parameters: (name, default, settable).
const PARAMETERS: &[(&str, &str, bool)] = &[
    ("application_name", "", true),
    ("client_encoding", "UTF8", true),
    ("client_min_messages", "notice", true),
    ("datestyle", "ISO, MDY", true),
    ("default_table_access_method", "heap", true),
    ("default_transaction_isolation", "read committed", true),
    ("extra_float_digits", "1", true),
    ("integer_datetimes", "on", false),
    ("intervalstyle", "postgres", true),
    ("lock_timeout", "0", true),
    ("max_identifier_length", "63", false),
    ("search_path", "\"$user\", public", true),
    ("server_encoding", "UTF8", false),
    ("server_version", "16.6", false),
    ("server_version_num", "160006", false),
    ("standard_conforming_strings", "on", true),
    ("statement_timeout", "0", true),
    ("timezone", "UTC", true),
    ("transaction_isolation", "read committed", false),
    ("transaction_read_only", "off", false),
];

/// One connection's settings that differ from their defaults.
#[derive(Debug, Default)]
pub(crate) struct Parameters {
    values: BTreeMap<String, String>,
}

impl Parameters {
    /// Setting `name`'s value now (`current_setting`); `None` for a name
    /// PostgreSQL would not know.
    pub fn current(&self, name: &str) -> Option<String> {
        let name = name.to_lowercase();
        let &(name, default, _) = PARAMETERS.iter().find(|(n, _, _)| *n == name)?;
        Some(self.values.get(name).cloned().unwrap_or_else(|| default.to_string()))
    }
}

impl Parameters {
    /// Runs SET, SHOW or RESET.
    pub fn apply(&mut self, statement: Statement) -> Result<Outcome> {
        let params = &mut self.values;
        let lookup = |name: &str| PARAMETERS.iter().find(|(n, _, _)| *n == name);
        match statement {
            Statement::Set(set) => match set {
                ast::Set::SingleAssignment { variable, values, .. } => {
                    let name = variable.to_string().to_lowercase();
                    let name = if name == "time zone" { "timezone".to_string() } else { name };
                    let Some(&(name, _, settable)) = lookup(&name) else {
                        return Err(error(
                            Code::UndefinedObject,
                            format!("unrecognized configuration parameter \"{name}\""),
                        ));
                    };
                    if !settable {
                        return Err(error(
                            Code::CantChangeRuntimeParam,
                            format!("parameter \"{name}\" cannot be changed"),
                        ));
                    }
                    let value = values
                        .iter()
                        .map(|v| match v {
                            Expr::Value(v) => match &v.value {
                                Value::SingleQuotedString(s) => s.clone(),
                                other => other.to_string(),
                            },
                            Expr::Identifier(id) => id.value.clone(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    if value.eq_ignore_ascii_case("default") {
                        params.remove(name);
                    } else {
                        params.insert(name.to_string(), value);
                    }
                    Ok(Outcome::Done("SET".into()))
                }
                ast::Set::SetTimeZone { value, .. } => {
                    let value = match value {
                        Expr::Value(v) => match &v.value {
                            Value::SingleQuotedString(s) => s.clone(),
                            other => other.to_string(),
                        },
                        other => other.to_string(),
                    };
                    params.insert("timezone".into(), value);
                    Ok(Outcome::Done("SET".into()))
                }
                ast::Set::SetTransaction { modes, .. } => {
                    for mode in &modes {
                        match mode {
                            ast::TransactionMode::IsolationLevel(
                                ast::TransactionIsolationLevel::ReadCommitted,
                            )
                            | ast::TransactionMode::AccessMode(ast::TransactionAccessMode::ReadWrite) => {}
                            other => return Err(unsupported(format_args!("the transaction mode {other}"))),
                        }
                    }
                    Ok(Outcome::Done("SET".into()))
                }
                other => Err(unsupported(format_args!("\"{}\"", first_words(&other.to_string())))),
            },
            Statement::ShowVariable { variable } => {
                let name = variable.iter().map(|i| i.value.to_lowercase()).collect::<Vec<_>>().join(" ");
                if name == "all" {
                    let rows = PARAMETERS
                        .iter()
                        .map(|(n, d, _)| {
                            let value = params.get(*n).cloned().unwrap_or_else(|| d.to_string());
                            vec![Json::String(n.to_string()), Json::String(value)]
                        })
                        .collect();
                    let columns = vec![("name".into(), SqlType::Text), ("setting".into(), SqlType::Text)];
                    return Ok(Outcome::Rows(Rows { columns, rows }, "SHOW".into()));
                }
                let name = match name.as_str() {
                    "time zone" => "timezone".to_string(),
                    "transaction isolation level" => "transaction_isolation".to_string(),
                    _ => name,
                };
                let Some(&(name, default, _)) = lookup(&name) else {
                    return Err(error(
                        Code::UndefinedObject,
                        format!("unrecognized configuration parameter \"{name}\""),
                    ));
                };
                let value = params.get(name).cloned().unwrap_or_else(|| default.to_string());
                let columns = vec![(name.to_string(), SqlType::Text)];
                Ok(Outcome::Rows(Rows { columns, rows: vec![vec![Json::String(value)]] }, "SHOW".into()))
            }
            Statement::Reset(reset) => {
                match reset.reset {
                    ast::Reset::ALL => params.clear(),
                    ast::Reset::ConfigurationParameter(name) => {
                        let name = name.to_string().to_lowercase();
                        if lookup(&name).is_none() {
                            return Err(error(
                                Code::UndefinedObject,
                                format!("unrecognized configuration parameter \"{name}\""),
                            ));
                        }
                        params.remove(&name);
                    }
                }
                Ok(Outcome::Done("RESET".into()))
            }
            other => Err(unsupported(format_args!("\"{}\"", first_words(&other.to_string())))),
        }
    }
}

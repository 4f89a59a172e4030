//! COPY's data formats: PostgreSQL's text format (tab-separated, `\N` for
//! NULL, backslash escapes) and CSV, in both directions.

use crate::sql::error::Code;
use crate::sql::error::{Result, error, unsupported};
use sqlparser::ast::{CopyLegacyCsvOption, CopyLegacyOption, CopyOption};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CopyFormat {
    pub csv: bool,
    pub delimiter: char,
    pub null: String,
    pub header: bool,
    pub quote: char,
    pub escape: char,
}

impl CopyFormat {
    pub fn from_options(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<Self> {
        let mut csv = false;
        let (mut delimiter, mut null, mut header, mut quote, mut escape) = (None, None, false, '"', None);
        for option in options {
            match option {
                CopyOption::Format(name) => match name.value.to_lowercase().as_str() {
                    "text" => csv = false,
                    "csv" => csv = true,
                    "binary" => return Err(unsupported("COPY in binary format")),
                    other => {
                        return Err(error(
                            Code::InvalidParameterValue,
                            format!("COPY format \"{other}\" not recognized"),
                        ));
                    }
                },
                CopyOption::Freeze(_) => {}
                CopyOption::Delimiter(c) => delimiter = Some(*c),
                CopyOption::Null(s) => null = Some(s.clone()),
                CopyOption::Header(h) => header = *h,
                CopyOption::Quote(c) => quote = *c,
                CopyOption::Escape(c) => escape = Some(*c),
                other => return Err(unsupported(format_args!("the COPY option {other}"))),
            }
        }
        for option in legacy {
            match option {
                CopyLegacyOption::Csv(csv_options) => {
                    csv = true;
                    for o in csv_options {
                        match o {
                            CopyLegacyCsvOption::Header => header = true,
                            CopyLegacyCsvOption::Quote(c) => quote = *c,
                            CopyLegacyCsvOption::Escape(c) => escape = Some(*c),
                            other => return Err(unsupported(format_args!("the COPY option {other}"))),
                        }
                    }
                }
                CopyLegacyOption::Header => header = true,
                CopyLegacyOption::Delimiter(c) => delimiter = Some(*c),
                CopyLegacyOption::Null(s) => null = Some(s.clone()),
                CopyLegacyOption::Binary => return Err(unsupported("COPY in binary format")),
                other => return Err(unsupported(format_args!("the COPY option {other}"))),
            }
        }
        if header && !csv {
            return Err(error(Code::FeatureNotSupported, "COPY HEADER is available only in CSV mode"));
        }
        Ok(CopyFormat {
            csv,
            delimiter: delimiter.unwrap_or(if csv { ',' } else { '\t' }),
            null: null.unwrap_or_else(|| if csv { String::new() } else { "\\N".into() }),
            header,
            quote,
            escape: escape.unwrap_or(quote),
        })
    }

    /// Rows of fields (`None` for NULL) from COPY FROM data.
    pub fn parse(&self, data: &[u8]) -> Result<Vec<Vec<Option<String>>>> {
        let text = std::str::from_utf8(data).map_err(|_| {
            error(Code::CharacterNotInRepertoire, "invalid byte sequence for encoding \"UTF8\" in COPY data")
        })?;
        let mut rows = if self.csv { self.parse_csv(text)? } else { self.parse_text(text)? };
        if self.header && !rows.is_empty() {
            rows.remove(0);
        }
        Ok(rows)
    }

    fn parse_text(&self, text: &str) -> Result<Vec<Vec<Option<String>>>> {
        let mut rows = Vec::new();
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line == "\\." {
                break;
            }
            if line.is_empty() {
                continue;
            }
            let mut fields = Vec::new();
            for raw in line.split(self.delimiter) {
                if raw == self.null {
                    fields.push(None);
                    continue;
                }
                let mut field = String::with_capacity(raw.len());
                let mut chars = raw.chars();
                while let Some(c) = chars.next() {
                    if c != '\\' {
                        field.push(c);
                        continue;
                    }
                    match chars.next() {
                        Some('t') => field.push('\t'),
                        Some('n') => field.push('\n'),
                        Some('r') => field.push('\r'),
                        Some('b') => field.push('\u{8}'),
                        Some('f') => field.push('\u{c}'),
                        Some('v') => field.push('\u{b}'),
                        Some(other) => field.push(other),
                        None => {
                            return Err(error(
                                Code::BadCopyFileFormat,
                                "unterminated backslash escape in COPY data",
                            ));
                        }
                    }
                }
                fields.push(Some(field));
            }
            rows.push(fields);
        }
        Ok(rows)
    }

    fn parse_csv(&self, text: &str) -> Result<Vec<Vec<Option<String>>>> {
        let mut rows = Vec::new();
        let mut fields: Vec<Option<String>> = Vec::new();
        let mut field = String::new();
        let (mut quoted, mut in_quotes, mut any) = (false, false, false);
        let mut chars = text.chars().peekable();
        let finish = |field: &mut String, quoted: &mut bool, fields: &mut Vec<Option<String>>| {
            let value = std::mem::take(field);
            fields.push(if !*quoted && value == self.null { None } else { Some(value) });
            *quoted = false;
        };
        while let Some(c) = chars.next() {
            any = true;
            if in_quotes {
                if c == self.escape && self.escape != self.quote && chars.peek() == Some(&self.quote) {
                    field.push(chars.next().unwrap_or(c));
                } else if c == self.quote {
                    if self.escape == self.quote && chars.peek() == Some(&self.quote) {
                        chars.next();
                        field.push(c);
                    } else {
                        in_quotes = false;
                    }
                } else {
                    field.push(c);
                }
            } else if c == self.quote {
                in_quotes = true;
                quoted = true;
            } else if c == self.delimiter {
                finish(&mut field, &mut quoted, &mut fields);
            } else if c == '\n' || c == '\r' {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                finish(&mut field, &mut quoted, &mut fields);
                let row = std::mem::take(&mut fields);
                if !(row.len() == 1 && row[0].as_deref() == Some("\\.")) {
                    rows.push(row);
                }
                any = false;
            } else {
                field.push(c);
            }
        }
        if in_quotes {
            return Err(error(Code::BadCopyFileFormat, "unterminated CSV quoted field"));
        }
        if any {
            finish(&mut field, &mut quoted, &mut fields);
            if !(fields.len() == 1 && fields[0].as_deref() == Some("\\.")) {
                rows.push(fields);
            }
        }
        Ok(rows)
    }

    /// One row of COPY TO data, with its line end.
    pub fn format(&self, fields: &[Option<String>]) -> String {
        let mut line = String::new();
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                line.push(self.delimiter);
            }
            match field {
                None => line.push_str(&self.null),
                Some(value) if self.csv => {
                    let needs_quotes = value.is_empty()
                        || value.contains(self.delimiter)
                        || value.contains(self.quote)
                        || value.contains('\n')
                        || value.contains('\r')
                        || *value == self.null;
                    if needs_quotes {
                        line.push(self.quote);
                        for c in value.chars() {
                            if c == self.quote || c == self.escape {
                                line.push(self.escape);
                            }
                            line.push(c);
                        }
                        line.push(self.quote);
                    } else {
                        line.push_str(value);
                    }
                }
                Some(value) => {
                    for c in value.chars() {
                        match c {
                            '\\' => line.push_str("\\\\"),
                            '\t' => line.push_str("\\t"),
                            '\n' => line.push_str("\\n"),
                            '\r' => line.push_str("\\r"),
                            c if c == self.delimiter => {
                                line.push('\\');
                                line.push(c);
                            }
                            c => line.push(c),
                        }
                    }
                }
            }
        }
        line.push('\n');
        line
    }
}

use super::conflict::OnConflict;
use super::dml::shadow_statement;
use super::{Engine, Outcome, PendingCopy, txn::Txn};
use crate::sql::parse::object_name;
use crate::sql::types::{self, Literal};
use serde_json::Value as Json;
use sqlparser::ast::{self, CopySource, Expr, Statement};

/// The columns COPY FROM fills, in order: those listed, or without a list
/// every column but the generated ones; a generated column listed is a
/// 42P10, as in PostgreSQL.
pub(super) fn copy_targets(
    table: &crate::sql::catalog::Table,
    names: &[ast::ObjectName],
) -> Result<Vec<usize>> {
    if names.is_empty() {
        return Ok((0..table.columns.len()).filter(|&i| table.columns[i].generated.is_none()).collect());
    }
    let targets = super::insert_targets(table, names)?;
    if let Some(&i) = targets.iter().find(|&&i| table.columns[i].generated.is_some()) {
        return Err(error(
            Code::InvalidColumnReference,
            format!("column \"{}\" is a generated column", table.columns[i].name),
        ));
    }
    Ok(targets)
}

impl<G: orbit_shared::ActorGateway> Engine<G> {
    /// COPY FROM STDIN's rows, inserted as INSERT inserts.
    pub(super) async fn copy_rows(
        &self,
        pending: PendingCopy,
        data: &[u8],
        txn: &mut Txn,
    ) -> Result<Outcome> {
        let table = self.target(txn, &pending.table).await?;
        let rows = pending.format.parse(data)?;
        let mut prepared = Vec::with_capacity(rows.len());
        for (line, fields) in rows.into_iter().enumerate() {
            if fields.len() != pending.targets.len() {
                return Err(error(
                    Code::BadCopyFileFormat,
                    format!(
                        "COPY {}, line {}: expected {} columns, got {}",
                        table.name,
                        line + 1,
                        pending.targets.len(),
                        fields.len()
                    ),
                ));
            }
            let mut values: Vec<Option<Json>> = vec![None; table.columns.len()];
            for (field, &index) in fields.into_iter().zip(&pending.targets) {
                let literal = field.map_or(Literal::Null, Literal::String);
                values[index] = Some(table.columns[index].coerce(&literal)?);
            }
            prepared.push(values);
        }
        let inserted = self.stage_inserts(&table, prepared, &OnConflict::Fail, txn).await?;
        Ok(Outcome::Done(format!("COPY {}", inserted.len())))
    }

    /// COPY table or (query) TO STDOUT.
    pub(super) async fn copy_out(
        &self,
        source: CopySource,
        format: CopyFormat,
        txn: &mut Txn,
    ) -> Result<Outcome> {
        let query = match source {
            CopySource::Query(query) => *query,
            CopySource::Table { table_name, columns } => {
                let table = self.table(&txn.writes, &object_name(&table_name)?).await?;
                let projection: Vec<Expr> = if columns.is_empty() {
                    // As in PostgreSQL, generated columns only when named.
                    table
                        .columns
                        .iter()
                        .filter(|c| c.generated.is_none())
                        .map(|c| Expr::Identifier(ast::Ident::with_quote('"', c.name.clone())))
                        .collect()
                } else {
                    columns.into_iter().map(Expr::Identifier).collect()
                };
                let Statement::Query(query) = shadow_statement(&table, projection, None) else {
                    return Err(error(Code::Internal, "COPY could not build its query"));
                };
                *query
            }
        };
        let Outcome::Rows(rows, _) = self.query(query, txn).await? else {
            return Err(error(Code::Internal, "COPY's query returned no rows"));
        };
        let mut lines = Vec::with_capacity(rows.rows.len());
        for row in &rows.rows {
            let fields: Vec<Option<String>> =
                rows.columns.iter().zip(row).map(|((_, t), v)| types::text_of(*t, v)).collect();
            lines.push(format.format(&fields));
        }
        if format.header {
            // In the first message, so the row count excludes it.
            let names: Vec<Option<String>> = rows.columns.iter().map(|(n, _)| Some(n.clone())).collect();
            let header = format.format(&names);
            match lines.first_mut() {
                Some(first) => first.insert_str(0, &header),
                None => lines.push(header),
            }
        }
        Ok(Outcome::CopyOut { lines, columns: rows.columns.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text() -> CopyFormat {
        CopyFormat::from_options(&[], &[]).unwrap()
    }

    fn csv() -> CopyFormat {
        CopyFormat::from_options(&[CopyOption::Format("csv".into())], &[]).unwrap()
    }

    fn some(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| Some(v.to_string())).collect()
    }

    #[test]
    fn text_format_round_trips_escapes_and_nulls() {
        let row = vec![Some("a\tb\\c\nd".to_string()), None, Some(String::new())];
        let line = text().format(&row);
        assert_eq!(line, "a\\tb\\\\c\\nd\t\\N\t\n");
        assert_eq!(text().parse(line.as_bytes()).unwrap(), vec![row]);
        assert_eq!(text().parse(b"1\tx\n2\ty\n\\.\n").unwrap(), vec![some(&["1", "x"]), some(&["2", "y"])]);
        assert_eq!(text().parse(b"bad\\").unwrap_err().code, Code::BadCopyFileFormat);
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let row = vec![Some("a,b".to_string()), Some("say \"hi\"".to_string()), None, Some(String::new())];
        let line = csv().format(&row);
        assert_eq!(line, "\"a,b\",\"say \"\"hi\"\"\",,\"\"\n");
        assert_eq!(csv().parse(line.as_bytes()).unwrap(), vec![row]);
        assert_eq!(
            csv().parse(b"1,\"multi\nline\"\r\n2,x").unwrap(),
            vec![some(&["1", "multi\nline"]), some(&["2", "x"])]
        );
        assert_eq!(csv().parse(b"1,\"open").unwrap_err().code, Code::BadCopyFileFormat);
        let header =
            CopyFormat::from_options(&[CopyOption::Format("csv".into()), CopyOption::Header(true)], &[])
                .unwrap();
        assert_eq!(header.parse(b"id,name\n1,a\n").unwrap(), vec![some(&["1", "a"])]);
    }
}

//! `COMMENT ON TABLE | VIEW | SEQUENCE | COLUMN ... IS 'text' | NULL`: the
//! text is kept in the catalog entry (staged in the transaction like any
//! DDL) and shown by `pg_description`, `obj_description` and
//! `col_description` (psql's `\d+` and `\dt+`).

use super::*;

impl<G: ActorGateway> Engine<G> {
    pub(super) async fn comment(
        &self,
        object_type: ast::CommentObject,
        name: &ObjectName,
        comment: Option<String>,
        txn: &mut Txn,
    ) -> Result<Outcome> {
        // An empty comment removes it, as NULL does.
        let comment = comment.filter(|c| !c.is_empty());
        let (relation, column) = match object_type {
            ast::CommentObject::Column => {
                let mut parts: Vec<ast::Ident> =
                    name.0.iter().filter_map(|p| p.as_ident().cloned()).collect();
                let Some(column) =
                    parts.pop().filter(|_| parts.len() == name.0.len() - 1 && !parts.is_empty())
                else {
                    return Err(error(Code::SyntaxError, format!("column name must be qualified: {name}")));
                };
                (object_name(&ObjectName::from(parts))?, Some(ident(&column)))
            }
            ast::CommentObject::Table | ast::CommentObject::View | ast::CommentObject::Sequence => {
                (object_name(name)?, None)
            }
            other => return Err(unsupported(format_args!("COMMENT ON {other}"))),
        };
        self.close_gate(txn, &relation).await?;
        let table = self.table(&txn.writes, &relation).await?;
        let wanted = match object_type {
            ast::CommentObject::View => "view",
            ast::CommentObject::Sequence => "sequence",
            ast::CommentObject::Table => "table",
            _ => table.kind_name(),
        };
        if table.kind_name() != wanted {
            return Err(error(Code::WrongObjectType, format!("\"{relation}\" is not a {wanted}")));
        }
        let mut table = Table::clone(&table);
        match column {
            Some(column) => {
                let Some(target) = table.columns.iter_mut().find(|c| c.name == column) else {
                    return Err(error(
                        Code::UndefinedColumn,
                        format!("column \"{column}\" of relation \"{relation}\" does not exist"),
                    ));
                };
                target.comment = comment;
            }
            None => table.comment = comment,
        }
        txn.stage_table(table);
        Ok(Outcome::Done("COMMENT".into()))
    }
}
